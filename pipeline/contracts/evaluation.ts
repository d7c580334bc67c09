import { z } from 'zod';

/**
 * Classification quality of a model on one labelled split: what the evaluate stage records for the
 * held-out test split, and what the monitor report computes for the executions with ground truth.
 */
export const classMetricsSchema = z.object({
  name: z.string(),
  precision: z.number(),
  recall: z.number(),
  f1: z.number(),
  support: z.number().int(),
});
export type ClassMetrics = z.infer<typeof classMetricsSchema>;

export const qualitySchema = z.object({
  /** The split the figures were measured on: never the one the model was selected on. */
  split: z.enum(['test', 'validation', 'executions']),
  count: z.number().int(),
  accuracy: z.number(),
  /** Wilson score interval at 95%. */
  accuracyInterval: z.object({ low: z.number(), high: z.number() }),
  classes: z.array(classMetricsSchema),
  /** confusionMatrix[actual][predicted], in class-label order. */
  confusionMatrix: z.array(z.array(z.number().int())),
  /** Mean negative log-likelihood of the true class (probabilities floored at 1e-15). */
  logLoss: z.number(),
  /** Expected calibration error over equal-width confidence bins. */
  expectedCalibrationError: z.number(),
  calibrationBins: z.number().int(),
});
export type Quality = z.infer<typeof qualitySchema>;

/** The evaluate stage's manifest section: a trained model scored once on the test split. */
export const evaluationRecordSchema = z.object({
  trainingId: z.string(),
  datasetDigest: z.string(),
  /** Digest of the test split's list (keys and labels): the gate compares champions only on the same one. */
  testSplitDigest: z.string(),
  evaluator: z.string(),
  quality: qualitySchema,
  /** Where the per-image predictions were written (JSON lines: key, label, probabilities). */
  predictionsUri: z.string().optional(),
  durationSeconds: z.number(),
  jobName: z.string().optional(),
  billableSeconds: z.number().optional(),
  estimatedCostUsd: z.number().optional(),
});
export type EvaluationRecord = z.infer<typeof evaluationRecordSchema>;
