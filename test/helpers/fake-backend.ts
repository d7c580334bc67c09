import { ObjectStoreManifestStore } from '../../pipeline/backends/manifest-stores.js';
import type { Config } from '../../pipeline/config.js';
import type { Deployment } from '../../pipeline/contracts/deployment.js';
import { LAMBDA_ERROR_NAMES } from '../../pipeline/contracts/lambda.js';
import { SconesError } from '../../pipeline/errors.js';
import type { DatasetRecord, TrainRecord } from '../../pipeline/manifest.js';
import type {
  Backend,
  Deployer,
  DeployRequest,
  EvaluateRequest,
  Evaluator,
  ExecutionRequest,
  ExecutionResult,
  ObjectInfo,
  ObjectStore,
  ScoredImage,
  Trainer,
  TrainRequest,
  ValidationPredictions,
  WorkflowRunner,
} from '../../pipeline/ports.js';

/** The artifact bucket in memory: what a stage writes is what it reads back. */
export class MemoryObjectStore implements ObjectStore {
  readonly objects = new Map<string, { body: Uint8Array; lastModified: Date }>();
  private clock = 0;

  constructor(readonly bucket = 'fake-bucket') {}

  uri(key: string): string {
    return `s3://${this.bucket}/${key}`;
  }

  async put(key: string, body: Uint8Array | string): Promise<void> {
    // A strictly increasing time, so "newest" is well defined even within one millisecond.
    this.clock += 1;
    const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : new Uint8Array(body);
    this.objects.set(key, { body: bytes, lastModified: new Date(this.clock * 1000) });
  }

  async get(key: string): Promise<Uint8Array> {
    const object = this.objects.get(key);
    if (object === undefined) throw new SconesError(`${this.uri(key)} does not exist`);
    return object.body;
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const object = this.objects.get(key);
    return object === undefined
      ? undefined
      : { key, size: object.body.length, lastModified: object.lastModified };
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    for (const key of [...this.objects.keys()].sort())
      if (key.startsWith(prefix)) {
        const info = await this.head(key);
        if (info !== undefined) yield info;
      }
  }

  async delete(key: string): Promise<void> {
    this.objects.delete(key);
  }
}

/**
 * An evaluator that scores the test and validation splits with the predictions it is given (validation:
 * the test ones unless given), returns any out-of-fold ones it is given, and counts its calls.
 */
export class ScriptedEvaluator implements Evaluator {
  readonly kind = 'scripted';
  readonly requests: EvaluateRequest[] = [];

  constructor(
    private readonly predictions: ScoredImage[],
    private readonly validation: ScoredImage[] = predictions,
    private readonly outOfFold?: ScoredImage[],
  ) {}

  async evaluate(request: EvaluateRequest) {
    this.requests.push(request);
    return {
      predictions: this.predictions,
      validation: this.validation,
      ...(this.outOfFold === undefined ? {} : { outOfFold: this.outOfFold }),
    };
  }
}

/** A trainer that never trains: stage tests that reach it have gone wrong. */
const idleTrainer: Trainer = {
  kind: 'fake',
  version: '1',
  hyperparameters: (config) => ({ epochs: config.train.epochs }),
  find: async () => undefined,
  train: async () => {
    throw new Error('the fake backend does not train');
  },
  driftBaseline: async (model: TrainRecord): Promise<ValidationPredictions> => {
    throw new SconesError(`the fake trainer keeps no predictions for ${model.trainingId}`);
  },
};

export interface FakeBackendOptions {
  store?: MemoryObjectStore;
  evaluator?: Evaluator;
  trainer?: Trainer;
  deployer?: MemoryDeployer;
  /** The deployed workflow, given what is deployed. */
  workflow?: (deployment: Deployment) => WorkflowRunner;
  /** What is deployed now (the gate's champion). */
  deployment?: Deployment;
}

/** A deployment as both backends parse it, with the given fields. */
export function fakeDeployment(fields: Partial<Deployment> = {}): Deployment {
  return {
    stackName: 'scones-workflow',
    trainingId: 't-0',
    modelUri: 's3://fake-bucket/models/t-0/model.tar.gz',
    validationAccuracy: 0.9,
    threshold: 0.93,
    endpointName: 'scones-workflow-endpoint',
    stateMachineArn: 'arn:aws:states:us-east-1:000000000000:stateMachine:scones-workflow-workflow',
    captureUri: 's3://fake-bucket/data-capture',
    definitionKey: 'templates/state-machine.asl.json',
    ...fields,
  };
}

/** Every port backed by memory, for testing a stage's logic without the local or aws backend. */
export function fakeBackend(options: FakeBackendOptions = {}): Backend & { store: MemoryObjectStore } {
  const store = options.store ?? new MemoryObjectStore();
  return {
    name: 'local',
    store,
    manifests: new ObjectStoreManifestStore(store),
    trainer: options.trainer ?? idleTrainer,
    evaluator: options.evaluator ?? new ScriptedEvaluator([]),
    deployer: options.deployer ?? {
      deploy: async () => {
        throw new Error('the fake backend does not deploy');
      },
    },
    deployment: async () => options.deployer?.current ?? options.deployment,
    openWorkflow: async (deployment) => {
      if (options.workflow === undefined) throw new Error('the fake backend runs no workflow');
      return options.workflow(deployment);
    },
    bucketStore: (bucket) => (bucket === store.bucket ? store : new MemoryObjectStore(bucket)),
    close: async () => {},
  };
}

/**
 * A trainer in memory: "training" writes the model's object and its record to the store, as a trainer's
 * output would be, and `find` reads the record back, so a completed training is found by its id.
 */
export class MemoryTrainer implements Trainer {
  readonly kind = 'memory';
  readonly version = '1';
  readonly trained: string[] = [];

  constructor(
    private readonly store: ObjectStore,
    private readonly validationAccuracy = 0.9,
  ) {}

  hyperparameters(config: Config) {
    return { epochs: config.train.epochs, seed: config.train.seed };
  }

  async find(trainingId: string): Promise<TrainRecord | undefined> {
    const key = `models/${trainingId}/record.json`;
    if ((await this.store.head(key)) === undefined) return undefined;
    return JSON.parse(new TextDecoder().decode(await this.store.get(key))) as TrainRecord;
  }

  async train(request: TrainRequest): Promise<TrainRecord> {
    this.trained.push(request.trainingId);
    const prefix = `models/${request.trainingId}/`;
    await this.store.put(`${prefix}model.bin`, `weights of ${request.trainingId}`);
    const record: TrainRecord = {
      trainingId: request.trainingId,
      trainer: `${this.kind}/${this.version}`,
      modelUri: this.store.uri(`${prefix}model.bin`),
      validationAccuracy: this.validationAccuracy,
      epochs: [],
      durationSeconds: 0,
      datasetDigest: request.dataset.digest,
      hyperparameters: request.hyperparameters,
    };
    await this.store.put(`${prefix}record.json`, JSON.stringify(record));
    return record;
  }

  async driftBaseline(model: TrainRecord): Promise<ValidationPredictions> {
    throw new SconesError(`the memory trainer keeps no predictions for ${model.trainingId}`);
  }
}

/**
 * A deployer in memory, with the contract's semantics: the same request deploys nothing (reused), a
 * preview deploys nothing and describes the change, and a deploy replaces what `deployment()` reads.
 */
export class MemoryDeployer implements Deployer {
  current: Deployment | undefined;
  private currentDigest: string | undefined;

  constructor(private readonly store: ObjectStore) {}

  async deploy(request: DeployRequest) {
    const digest = JSON.stringify([request.model.modelUri, request.threshold, request.evaluation?.quality]);
    const evaluation = request.evaluation;
    const deployment = fakeDeployment({
      trainingId: request.model.trainingId,
      modelUri: request.model.modelUri,
      validationAccuracy: request.model.validationAccuracy,
      threshold: request.threshold,
      captureUri: this.store.uri('data-capture'),
      ...(evaluation === undefined
        ? {}
        : {
            evaluation: {
              accuracy: evaluation.quality.accuracy,
              testSplitDigest: evaluation.testSplitDigest,
              datasetDigest: evaluation.datasetDigest,
            },
          }),
    });
    const record = {
      preview: request.preview,
      stackName: deployment.stackName,
      trainingId: request.model.trainingId,
      deploymentDigest: digest,
    };
    if (digest === this.currentDigest)
      return { ...record, deployed: false, changes: [], deployment, reused: true };
    const changes = [{ action: 'Modify', logicalId: 'Endpoint', type: 'AWS::SageMaker::Endpoint' }];
    if (request.preview)
      return { ...record, deployed: false, changes, previewMarkdown: 'Modify Endpoint', reused: false };
    this.current = deployment;
    this.currentDigest = digest;
    return { ...record, deployed: true, changes, deployment, reused: false };
  }
}

/**
 * The deployed workflow in memory: the endpoint answers `probabilities(key)` for each image, and the filter
 * fails an execution whose top confidence is below the deployment's threshold with the filter's error name,
 * in the filter's state, as the real state machine does.
 */
export function scriptedWorkflow(
  deployment: Deployment,
  probabilities: (s3Key: string) => number[],
): WorkflowRunner & { executed: string[] } {
  const executed: string[] = [];
  return {
    executed,
    async execute(request: ExecutionRequest): Promise<ExecutionResult> {
      executed.push(request.name);
      const input = request.input as { s3_key: string };
      const inferences = probabilities(input.s3_key);
      if (Math.max(...inferences) < deployment.threshold)
        return {
          name: request.name,
          status: 'FAILED',
          error: LAMBDA_ERROR_NAMES.thresholdConfidenceNotMet,
          failedState: 'FilterInferences',
          durationMs: 1,
        };
      return { name: request.name, status: 'SUCCEEDED', output: { body: { inferences } }, durationMs: 1 };
    },
    close: async () => {},
  };
}

/** A staged two-class dataset of 16 training, 4 validation and 4 test images, as stage-data records it. */
export const fakeDataset: DatasetRecord = {
  digest: 'd-1',
  source: 'synthetic',
  uri: 's3://fake-bucket/datasets/d-1/',
  prefix: 'datasets/d-1/',
  classes: [
    { label: 0, name: 'bicycle' },
    { label: 1, name: 'motorcycle' },
  ],
  counts: {
    train: { bicycle: 8, motorcycle: 8 },
    validation: { bicycle: 2, motorcycle: 2 },
    test: { bicycle: 2, motorcycle: 2 },
  },
  totals: { train: 16, validation: 4, test: 4 },
  testSplitDigest: 'split-1',
  imageShape: [3, 16, 16],
};
