/**
 * The object layout: every key the pipeline writes below the artifact bucket, built here and nowhere
 * else. Keys are relative to the bucket; prefixes end with `/`.
 */

/** The top-level folders. */
export const KEYS = {
  datasets: 'datasets',
  models: 'models',
  evaluations: 'evaluations',
  runs: 'runs',
  lambdas: 'lambdas',
  templates: 'templates',
  capture: 'data-capture',
  captureReports: 'capture-reports',
  modelHistory: 'model-history',
} as const;

/** The record a staged dataset is complete with: written last. */
export const DATASET_FILE = 'dataset.json';

/** `datasets/<digest>/`: a dataset is named by the digest of its content. */
export function datasetPrefix(digest: string): string {
  return `${KEYS.datasets}/${digest}/`;
}

/** A staged dataset's splits: validation is carved from the source's training images. */
export type DatasetSplit = 'train' | 'validation' | 'test';
export const DATASET_SPLITS: readonly DatasetSplit[] = ['train', 'validation', 'test'];

/** A split's list file (`<prefix><split>.lst`) below a dataset prefix. */
export function datasetListKey(prefix: string, split: DatasetSplit): string {
  return `${prefix}${split}.lst`;
}

/** A split's images folder (`<prefix><split>/`) below a dataset prefix. */
export function datasetImagesPrefix(prefix: string, split: DatasetSplit): string {
  return `${prefix}${split}/`;
}

/** Object keys of a staged dataset. */
export function datasetKeys(prefix: string) {
  return {
    trainImages: datasetImagesPrefix(prefix, 'train'),
    validationImages: datasetImagesPrefix(prefix, 'validation'),
    testImages: datasetImagesPrefix(prefix, 'test'),
    trainLst: datasetListKey(prefix, 'train'),
    validationLst: datasetListKey(prefix, 'validation'),
    testLst: datasetListKey(prefix, 'test'),
    record: `${prefix}${DATASET_FILE}`,
  };
}

/** `runs/<run-id>/`: a run's manifest, test executions and report. */
export function runPrefix(runId: string): string {
  return `${KEYS.runs}/${runId}/`;
}

/** A run's manifest file name, below its run prefix (and its local run folder). */
export const MANIFEST_FILE = 'manifest.json';

export function manifestKey(runId: string): string {
  return `${runPrefix(runId)}${MANIFEST_FILE}`;
}

export function testExecutionsKey(runId: string): string {
  return `${runPrefix(runId)}test-executions.json`;
}

/** Where a run's monitor report goes: below the run, or (a report on outside capture) capture-reports/. */
export function reportPrefix(runId: string, outsideCapture: boolean): string {
  return outsideCapture ? `${KEYS.captureReports}/${runId}/` : `${runPrefix(runId)}report/`;
}

/** A Lambda bundle, named by its content digest. */
export function lambdaKey(zipName: string): string {
  return `${KEYS.lambdas}/${zipName}`;
}

/** The state machine definition, named by its digest. */
export function stateMachineDefinitionKey(definitionHash: string): string {
  return `${KEYS.templates}/state-machine-${definitionHash}.asl.json`;
}

/** `models/<training-id>/`: a trained model's artifacts (the trainer's output path). */
export function modelPrefix(trainingId: string): string {
  return `${KEYS.models}/${trainingId}/`;
}

/** `evaluations/<evaluation-id>/`: the record is written last, so one without it never completed. */
export function evaluationKeys(evaluationId: string) {
  const prefix = `${KEYS.evaluations}/${evaluationId}/`;
  return {
    record: `${prefix}evaluation.json`,
    predictions: `${prefix}predictions.jsonl`,
    validationPredictions: `${prefix}validation-predictions.jsonl`,
    outOfFoldPredictions: `${prefix}out-of-fold-predictions.jsonl`,
    /** Batch Transform's output folder (one `<image>.out` per test image). */
    transform: `${prefix}transform/`,
    /**
     * The validation split's Batch Transform output folder: inside `transform/`, where the SageMaker role may
     * write; split images are flat files (`<class>_<split>_<n>.png`), so no test output lands under it.
     */
    validationTransform: `${prefix}transform/validation/`,
  };
}

/**
 * The folder of a data capture file: `<capture prefix>/<endpoint>/<variant>/yyyy/mm/dd/hh/`, the hour of
 * the inference in UTC ("Capture data from real-time endpoint", SageMaker Developer Guide).
 */
export function captureHourPrefix(options: {
  capturePrefix: string;
  endpointName: string;
  variantName: string;
  /** ISO 8601, UTC: `2026-11-22T10:00:01Z`. */
  inferenceTime: string;
}): string {
  const hour = options.inferenceTime.slice(0, 13).replace(/[-T]/g, '/');
  return `${options.capturePrefix}/${options.endpointName}/${options.variantName}/${hour}/`;
}

/**
 * Whether a capture file's hour folder (`.../yyyy/mm/dd/hh/<file>`, see captureHourPrefix) overlaps the
 * window [from, to] (ms since the epoch); undefined when the key has no hour folder.
 */
export function captureHourOverlaps(key: string, window: { from: number; to: number }): boolean | undefined {
  const hour = /\/(\d{4})\/(\d{2})\/(\d{2})\/(\d{2})\/[^/]+$/.exec(key);
  if (hour === null) return undefined;
  const start = Date.UTC(Number(hour[1]), Number(hour[2]) - 1, Number(hour[3]), Number(hour[4]));
  return start <= window.to && start + 3_600_000 > window.from;
}

/** `model-history/`: one object per time a model went live (contracts/model-history.ts). */
export const MODEL_HISTORY_PREFIX = `${KEYS.modelHistory}/`;

/** A going-live record's key: its time first, so keys list in the order models went live. */
export function modelHistoryKey(liveAt: string, trainingId: string): string {
  return `${MODEL_HISTORY_PREFIX}${liveAt.replace(/[-:.]/g, '')}-${trainingId}.json`;
}
