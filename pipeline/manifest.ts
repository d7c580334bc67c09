import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { MANIFEST_SCHEMA_VERSION, STAGES, type StageName } from './constants.js';
import { deploymentSchema } from './contracts/deployment.js';
import { evaluationRecordSchema } from './contracts/evaluation.js';
import { testExecutionsRecordSchema } from './contracts/test-executions.js';
import { SconesError } from './errors.js';
import { parseJson } from './util/json.js';

const classInfo = z.object({
  label: z.number().int(),
  name: z.string(),
  cifarId: z.number().int().optional(),
});
const splitCounts = z.record(z.string(), z.number().int());

export const datasetRecordSchema = z.object({
  digest: z.string(),
  source: z.string(),
  uri: z.string(),
  prefix: z.string(),
  classes: z.array(classInfo),
  /** Validation is carved from the source's training images (records staged before it read as empty). */
  counts: z.object({ train: splitCounts, validation: splitCounts.default({}), test: splitCounts }),
  totals: z.object({
    train: z.number().int(),
    validation: z.number().int().default(0),
    test: z.number().int(),
  }),
  /** The fraction of each class's training images carved out for validation. */
  validationFraction: z.number().optional(),
  /** Digest of the test split alone (names, labels, bytes): the gate compares champions scored on the same one. */
  testSplitDigest: z.string().optional(),
  imageShape: z.tuple([z.number().int(), z.number().int(), z.number().int()]),
  /** Images that are exact copies of another (allowed within one split); absent in records staged before it was counted. */
  duplicates: z.number().int().optional(),
});
export type DatasetRecord = z.infer<typeof datasetRecordSchema>;

export const epochMetricsSchema = z.object({
  epoch: z.number().int(),
  loss: z.number(),
  accuracy: z.number(),
  validationLoss: z.number().optional(),
  validationAccuracy: z.number(),
  seconds: z.number(),
});
export type EpochMetrics = z.infer<typeof epochMetricsSchema>;

export const trainRecordSchema = z.object({
  trainingId: z.string(),
  trainer: z.string(),
  modelUri: z.string(),
  validationAccuracy: z.number(),
  bestEpoch: z.number().int().optional(),
  epochs: z.array(epochMetricsSchema),
  durationSeconds: z.number(),
  datasetDigest: z.string(),
  hyperparameters: z.record(z.string(), z.unknown()),
  jobName: z.string().optional(),
  billableSeconds: z.number().optional(),
});
export type TrainRecord = z.infer<typeof trainRecordSchema>;

export const gateRecordSchema = z.object({
  passed: z.boolean(),
  forced: z.boolean(),
  accuracy: z.number(),
  minAccuracy: z.number(),
  maxRegression: z.number(),
  champion: z
    .object({
      trainingId: z.string(),
      accuracy: z.number(),
      testSplitDigest: z.string().optional(),
      datasetDigest: z.string().optional(),
    })
    .optional(),
  reasons: z.array(z.string()),
  trainingId: z.string(),
  /** The test split the accuracy was measured on (absent in records made before the evaluate stage). */
  testSplitDigest: z.string().optional(),
});
export type GateRecord = z.infer<typeof gateRecordSchema>;

export const resourceChangeSchema = z.object({
  action: z.string(),
  logicalId: z.string(),
  type: z.string(),
  replacement: z.string().optional(),
});
export type ResourceChange = z.infer<typeof resourceChangeSchema>;

export const deployRecordSchema = z.object({
  /** False when nothing changed (empty change set, same local deployment) or for a preview. */
  deployed: z.boolean(),
  preview: z.boolean(),
  stackName: z.string(),
  /** The model deployed, or that a preview would deploy. */
  trainingId: z.string(),
  deploymentDigest: z.string(),
  changes: z.array(resourceChangeSchema),
  previewMarkdown: z.string().optional(),
  /** How a guarded update of the endpoint ended, in words (aws: DescribeEndpoint after the stack update). */
  rollout: z.string().optional(),
  /** What is deployed after the stage; a preview deploys nothing and has none. */
  deployment: deploymentSchema.optional(),
});
export type DeployRecord = z.infer<typeof deployRecordSchema>;

/** The monitor report keeps its own typed shape; the manifest stores it as an object. */
const looseOutputs = z.record(z.string(), z.unknown());

export const stageOutputSchemas = {
  'stage-data': datasetRecordSchema,
  train: trainRecordSchema,
  evaluate: evaluationRecordSchema,
  gate: gateRecordSchema,
  deploy: deployRecordSchema,
  'test-executions': testExecutionsRecordSchema,
  'monitor-report': looseOutputs,
} as const satisfies Record<StageName, z.ZodType>;

export type StageOutputs = { [S in StageName]: z.infer<(typeof stageOutputSchemas)[S]> };

const stageRecordSchema = z.object({
  inputsDigest: z.string(),
  startedAt: z.string(),
  finishedAt: z.string(),
  durationMs: z.number(),
  /** True when the stage found its result already made and did no work. */
  reused: z.boolean(),
  outputs: z.record(z.string(), z.unknown()),
});
export type StageRecord<S extends StageName = StageName> = Omit<
  z.infer<typeof stageRecordSchema>,
  'outputs'
> & {
  outputs: StageOutputs[S];
};

export const manifestSchema = z.object({
  schemaVersion: z.literal(MANIFEST_SCHEMA_VERSION),
  runId: z.string(),
  backend: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
  configDigest: z.string(),
  stages: z.partialRecord(z.enum(STAGES), stageRecordSchema),
});
export type Manifest = z.infer<typeof manifestSchema>;

/** Parses a stored manifest, naming where it came from when it does not match the schema. */
export function parseManifest(text: string, where: string): Manifest {
  const expected = `a run manifest of schema v${MANIFEST_SCHEMA_VERSION}`;
  return parseJson(text, manifestSchema, `manifest ${where}`, expected, 'remove it or restore it');
}

/** A stage's validated section of the manifest, or undefined if the stage has not completed in this run. */
export function stageSection<S extends StageName>(manifest: Manifest, stage: S): StageRecord<S> | undefined {
  const record = manifest.stages[stage];
  if (record === undefined) return undefined;
  const outputs = stageOutputSchemas[stage].safeParse(record.outputs);
  if (!outputs.success)
    throw new SconesError(
      `manifest of run ${manifest.runId}: the ${stage} section is malformed (${outputs.error.message}); re-run ${stage}`,
    );
  return { ...record, outputs: outputs.data as StageOutputs[S] };
}

export function newManifest(
  runId: string,
  backend: string,
  configDigest: string,
  now = new Date(),
): Manifest {
  const at = now.toISOString();
  return {
    schemaVersion: MANIFEST_SCHEMA_VERSION,
    runId,
    backend,
    createdAt: at,
    updatedAt: at,
    configDigest,
    stages: {},
  };
}

/** Returns a new manifest with the stage's section set; the input is not modified. */
export function withStage<S extends StageName>(
  manifest: Manifest,
  stage: S,
  record: StageRecord<S>,
): Manifest {
  return {
    ...manifest,
    updatedAt: record.finishedAt,
    stages: {
      ...manifest.stages,
      [stage]: { ...record, outputs: record.outputs as Record<string, unknown> },
    },
  };
}

/** Run ids sort by time: 20261123T102800Z-1a2b. */
export function newRunId(now = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${randomBytes(2).toString('hex')}`;
}

const RUN_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export function isValidRunId(runId: string): boolean {
  return RUN_ID_PATTERN.test(runId);
}
