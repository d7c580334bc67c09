import type { Config } from './config.js';
import type { Reporter } from './console-reporter.js';
import type { BackendName } from './constants.js';
import type { Deployment } from './contracts/deployment.js';
import type { EvaluationRecord, ScoredImage } from './contracts/evaluation.js';
import type { DatasetSplit } from './contracts/layout.js';
import type { CaseResult } from './contracts/test-executions.js';
import type { ValidationPredictions } from './contracts/validation-predictions.js';
import type { DatasetRecord, DeployRecord, Manifest, TrainRecord } from './manifest.js';
import type { RunCost } from './util/run-cost.js';

export interface ObjectInfo {
  key: string;
  size: number;
  lastModified?: Date;
}

/** The artifact bucket. One implementation (S3 over SDK v3) serves both backends; local points it at 127.0.0.1. */
export interface ObjectStore {
  readonly bucket: string;
  /** `s3://bucket/key`. */
  uri(key: string): string;
  put(key: string, body: Uint8Array | string, options?: { contentType?: string }): Promise<void>;
  get(key: string): Promise<Uint8Array>;
  head(key: string): Promise<ObjectInfo | undefined>;
  /** Every object under the prefix, following continuation tokens. */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  delete(key: string): Promise<void>;
}

/** Where run manifests live: a local folder, or `runs/<id>/manifest.json` in the artifact bucket. */
export interface ManifestStore {
  load(runId: string): Promise<Manifest | undefined>;
  /** Whole-document, atomic write: readers see the old or the new manifest, never a mix. */
  save(manifest: Manifest): Promise<void>;
  /** The newest run id, or undefined when there is none. */
  latestRunId(): Promise<string | undefined>;
  location(runId: string): string;
}

/** A dataset read from its configured source, ready to stage: checked, at one image size, validation carved. */
export interface StagedDataset {
  source: string;
  classes: DatasetRecord['classes'];
  images: {
    split: DatasetSplit;
    label: number;
    name: string;
    png: Buffer;
    width: number;
    height: number;
    /** Where the image came from, for errors: `train/bicycle/a.png`, `train.lst line 3 (train/a.png)`. */
    origin?: string;
  }[];
}

/** Reads the configured data source (pipeline/data/sources.ts); the digest names the dataset. */
export type DatasetReader = (
  config: Config,
  reporter: Reporter,
) => Promise<{
  dataset: StagedDataset;
  digest: string;
  counts: DatasetRecord['counts'];
  duplicates: number;
}>;

/** The dataset as the trainer receives it: keys in the object store. */
export type TrainingDataset = Pick<DatasetRecord, 'digest' | 'prefix' | 'imageShape'> & {
  classes: string[];
  counts: DatasetRecord['totals'];
};

export interface TrainRequest {
  trainingId: string;
  dataset: TrainingDataset;
  hyperparameters: Record<string, string | number | boolean>;
  runId: string;
}

/** Validation predictions of a trained model: the monitor report's drift baseline of its predictions. */
export type { ValidationPredictions } from './contracts/validation-predictions.js';

/** Trains a model on a staged dataset. */
export interface Trainer {
  /** Part of the training id: a new trainer version retrains. */
  readonly kind: string;
  readonly version: string;
  /** This trainer's hyperparameters for a dataset (part of the training id). */
  hyperparameters(config: Config, dataset: DatasetRecord): Record<string, string | number | boolean>;
  /** The validation predictions saved with a model; throws, naming why, when the trainer keeps none. */
  driftBaseline(model: TrainRecord): Promise<ValidationPredictions>;
  /** The completed training with this id, if one exists. */
  find(trainingId: string): Promise<TrainRecord | undefined>;
  train(request: TrainRequest, reporter: Reporter): Promise<TrainRecord>;
}

export interface EvaluateRequest {
  runId: string;
  /** Names the job (on aws) and the predictions; with the test split's digest it identifies the evaluation. */
  evaluationId: string;
  model: TrainRecord;
  dataset: TrainingDataset;
}

export type { ScoredImage } from './contracts/evaluation.js';

/**
 * Scores a trained model once on the staged test and validation splits (locally in process; on aws Batch
 * Transform jobs): the test predictions measure it, the validation ones (and any out-of-fold ones) choose
 * its threshold.
 */
export interface Evaluator {
  readonly kind: string;
  evaluate(
    request: EvaluateRequest,
    reporter: Reporter,
  ): Promise<{
    predictions: ScoredImage[];
    validation: ScoredImage[];
    /**
     * Training images, each scored by a head cross-fitted without it (the local trainer's
     * out-of-fold predictions): chosen on with the validation ones. Absent on aws (docs/aws.md).
     */
    outOfFold?: ScoredImage[];
    jobName?: string;
    /** Instance-seconds billed (aws); absent where nothing is billed (local). */
    billableSeconds?: number;
  }>;
}

/** What a deployment needs of a model: a fresh training record or the model deployed now both have it. */
export type ModelToDeploy = Pick<TrainRecord, 'trainingId' | 'modelUri' | 'validationAccuracy'>;

export interface DeployRequest {
  runId: string;
  model: ModelToDeploy;
  /** The model's held-out evaluation, recorded with the deployment (the next gate's champion figure). */
  evaluation?: EvaluationRecord | undefined;
  /** Side of the model's square input (the dataset's image size); the local endpoint serves at this size. */
  imageSide: number | undefined;
  /** The filter Lambda's confidence threshold to deploy with. */
  threshold: number;
  /** Make the change set only, describe it, and delete it. */
  preview: boolean;
}

/** The commit this checkout is at, for the model history (pipeline/model-history.ts); undefined when unknown. */
export type CommitReader = () => string | undefined;

/** Deploys the workflow (Lambdas, state machine, endpoint) for a model. */
export interface Deployer {
  deploy(request: DeployRequest, reporter: Reporter): Promise<DeployRecord & { reused: boolean }>;
}

export interface ExecutionRequest {
  /** Unique per run and case, so a re-run does not start duplicates. */
  name: string;
  input: unknown;
}

/** How an execution ended: the test case's fields (failedState: where it stopped, when the runner could tell). */
export type ExecutionResult = Pick<CaseResult, 'name' | 'error' | 'cause' | 'failedState' | 'durationMs'> & {
  status: 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';
  output?: unknown;
};

/** Runs executions of the deployed state machine; close() stops whatever it started. */
export interface WorkflowRunner {
  execute(request: ExecutionRequest): Promise<ExecutionResult>;
  close(): Promise<void>;
}

/** What the monitor report says about the model and run beside the capture itself. */
export interface ReportHeader {
  trainingId?: string;
  trainer?: string;
  datasetDigest?: string;
  trainedAt?: string;
  endpoint?: string;
  /** Where the threshold came from: the deployment, or the configuration when the deployment has none. */
  thresholdSource: string;
  runId: string;
  source: string;
}

/** A monitor report to make: the stage gathers what it measures, the report reads the capture and renders. */
export interface MonitorReportRequest {
  title: string;
  classes: string[];
  threshold: number;
  /** Only capture inside [from, to] (ms since the epoch) counts; all of it when absent. */
  window?: { from: number; to: number } | undefined;
  minAccuracy: number;
  /** The held-out automation rate's lower bound at this threshold, when the evaluation measured it there. */
  promisedAutomationRate?: number | undefined;
  /** The model's validation predictions and its staged dataset: the drift baseline. */
  baseline?: { predictions: ValidationPredictions; datasetPrefix: string } | undefined;
  /** The capture files: objects of a store, or a local .jsonl file or folder of them (--capture). */
  capture: { store: ObjectStore; keys: string[] } | { path: string };
  header: ReportHeader;
  evaluation?: EvaluationRecord | undefined;
  /** The run's test executions: their labels measure accuracy, their outcomes are counted on the workflow. */
  executions?: CaseResult[] | undefined;
  /** The deployed state machine definition (its text and where it was read), drawn with the counts. */
  definition?: { text: string; where: string } | undefined;
  /** What the run cost on AWS (or would cost there), for a report on a pipeline run. */
  cost?: RunCost | undefined;
  /** Where the report goes: below the run, or (capture from outside a run) capture-reports/. */
  workDir: string;
  outsideRun: boolean;
}

/** Makes the monitor report (pipeline/report/monitor.ts): its files on this machine and in the store. */
export interface MonitorReporter {
  /** The configured classes' names (CIFAR-100 ids become their names). */
  classNames(classes: readonly (number | string)[]): string[];
  write(
    request: MonitorReportRequest,
    store: ObjectStore,
    reporter: Reporter,
  ): Promise<{
    outputs: { reportDir: string; records: number; malformed: number } & Record<string, unknown>;
    warnings: number;
    markdown: string;
  }>;
}

/** Services of a backend, built once per CLI invocation and closed at its end. */
export interface Backend {
  readonly name: BackendName;
  readonly store: ObjectStore;
  readonly manifests: ManifestStore;
  readonly trainer: Trainer;
  readonly evaluator: Evaluator;
  readonly deployer: Deployer;
  /** What is deployed now (the gate's champion, the model a preview keeps); undefined when nothing is. */
  deployment(): Promise<Deployment | undefined>;
  /** Connects to the deployed workflow (locally: starts the model server and the functions). */
  openWorkflow(deployment: Deployment, reporter: Reporter): Promise<WorkflowRunner>;
  /**
   * Waits (bounded, with progress) until a run's capture has reached the store and returns the keys of its
   * capture files; absent where capture is written synchronously (local).
   */
  awaitCapture?(request: CaptureRequest, reporter: Reporter): Promise<string[]>;
  /** Another bucket (an outside endpoint's capture) over the S3 data path and the standard credential chain. */
  bucketStore(bucket: string): ObjectStore;
  close(): Promise<void>;
  /** Rejects, saying what died, when a process the backend runs on stops under a command (local: the store). */
  readonly failed?: Promise<never>;
}

export interface BootstrapOptions {
  githubRepository?: string;
  existingOidcProviderArn?: string;
}

export interface TeardownOptions {
  /** Keep the newest N runs and remove the others (local); undefined keeps every run. */
  keepRuns?: number;
  /** aws: also delete the bootstrap stack (the bucket itself is retained by its DeletionPolicy). */
  includeBootstrap?: boolean;
  /** local: remove the deployment (the CLI asks for it without --keep-runs, or with --include-deployment). */
  deployment: boolean;
}

/** What `scones serve` announces: the local servers' addresses and this start's credentials. */
export interface ServeInfo {
  objectStore: string;
  bucket: string;
  endpoint: string;
  endpointName: string;
  region: string;
  /** The key pair both servers accept, made at random for this start (as Jupyter's token is). */
  accessKeyId: string;
  secretAccessKey: string;
}

/** Held while a command owns the work directory; released at its end. */
export interface WorkDirLock {
  update(runId: string): void;
  release(): void;
}

/**
 * One entry of the backend registry (`pipeline/backends/index.ts`): how to open the backend and the
 * commands that act on an account or work directory rather than on a run. A new backend is one folder
 * exporting this, plus one line in the registry.
 */
export interface BackendModule {
  open(config: Config): Promise<Backend>;
  /** Creates what the backend needs once (aws: the bootstrap stack); returns the variables to set. */
  bootstrap(config: Config, options: BootstrapOptions, reporter: Reporter): Promise<Record<string, string>>;
  /** What teardown would remove, for the confirmation prompt. */
  teardownPlan(config: Config, options: TeardownOptions): string[];
  teardown(config: Config, options: TeardownOptions, reporter: Reporter): Promise<void>;
  /** Local capability: one process at a time owns the work directory (its store and deployment). */
  lockWorkDir?(config: Config, command: string, runId: string): WorkDirLock;
  /** Local capability: runs the store and endpoint in the foreground until `stopped` resolves. */
  serve?(config: Config, announce: (info: ServeInfo) => void, stopped: Promise<void>): Promise<void>;
}

/** The capture a run's test executions should have produced. */
export interface CaptureRequest {
  /** Key prefix of the endpoint's capture (`<destination>/<endpoint>/`). */
  prefix: string;
  /** The executions' time window (ms since the epoch, inclusive). */
  window: { from: number; to: number };
  /** Records expected: one per execution that reached the endpoint. */
  expected: number;
}
