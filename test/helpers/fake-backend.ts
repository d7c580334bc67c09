import { ObjectStoreManifestStore } from '../../pipeline/backends/manifest-stores.js';
import type { Deployment } from '../../pipeline/contracts/deployment.js';
import { SconesError } from '../../pipeline/errors.js';
import type { TrainRecord } from '../../pipeline/manifest.js';
import type {
  Backend,
  EvaluateRequest,
  Evaluator,
  ObjectInfo,
  ObjectStore,
  ScoredImage,
  Trainer,
  ValidationPredictions,
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
 * the test ones unless given), and counts its calls.
 */
export class ScriptedEvaluator implements Evaluator {
  readonly kind = 'scripted';
  readonly requests: EvaluateRequest[] = [];

  constructor(
    private readonly predictions: ScoredImage[],
    private readonly validation: ScoredImage[] = predictions,
  ) {}

  async evaluate(request: EvaluateRequest) {
    this.requests.push(request);
    return { predictions: this.predictions, validation: this.validation };
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
  evaluator?: Evaluator;
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
  const store = new MemoryObjectStore();
  return {
    name: 'local',
    store,
    manifests: new ObjectStoreManifestStore(store),
    trainer: idleTrainer,
    evaluator: options.evaluator ?? new ScriptedEvaluator([]),
    deployer: {
      deploy: async () => {
        throw new Error('the fake backend does not deploy');
      },
    },
    deployment: async () => options.deployment,
    openWorkflow: async () => {
      throw new Error('the fake backend runs no workflow');
    },
    bucketStore: (bucket) => (bucket === store.bucket ? store : new MemoryObjectStore(bucket)),
    close: async () => {},
  };
}
