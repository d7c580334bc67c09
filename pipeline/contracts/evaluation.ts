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

const interval = z.object({ low: z.number(), high: z.number() });

/** One image as the model scored it: a line of the evaluation's predictions files (JSON lines). */
export const scoredImageSchema = z.object({
  /** The image's path in its split's list. */
  path: z.string(),
  label: z.number().int().nonnegative(),
  /** Class probabilities in label order. */
  probabilities: z.array(z.number().min(0).max(1)),
});
export type ScoredImage = z.infer<typeof scoredImageSchema>;

/** What a confidence threshold does on one labelled split: the share kept and their accuracy, with 95% Wilson intervals. */
export const automationFiguresSchema = z.object({
  split: z.enum(['validation', 'out-of-fold', 'test']),
  count: z.number().int(),
  kept: z.number().int(),
  /** Share of predictions at or above the threshold: the orders routed without a person. */
  automationRate: z.number(),
  automationRateInterval: interval,
  /** Accuracy of the kept predictions. */
  keptAccuracy: z.number(),
  keptAccuracyInterval: interval,
});
export type AutomationFigures = z.infer<typeof automationFiguresSchema>;

/** The threshold chosen on the validation (and any out-of-fold) predictions, and its held-out result on the test split. */
export const automationSchema = z.object({
  /** deploy.targetAccuracy the choice aimed at. */
  targetAccuracy: z.number(),
  /**
   * Chosen on the validation predictions and any out-of-fold ones of the training images, never on the
   * test split's (pipeline/util/automation.ts chooseThreshold).
   */
  chosenThreshold: z.number(),
  /**
   * wilson-lower-bound: certified by the one-sided 95% bound (the two-sided interval's lower end in
   * records made before 2026-12-04 17:45 UTC, commit 1d158b8); measured: reached as measured only;
   * unreachable: nothing reaches it.
   */
  basis: z.enum(['wilson-lower-bound', 'measured', 'unreachable']),
  validation: automationFiguresSchema,
  /** The out-of-fold predictions at the chosen threshold, when the trainer cross-fitted (local). */
  outOfFold: automationFiguresSchema.optional(),
  /** The threshold deployed: the chosen one (deploy.threshold auto) or the explicit override. */
  threshold: z.number(),
  thresholdSource: z.enum(['auto', 'explicit']),
  /** The promise: the test split at `threshold` (monitor-report compares the live rate with its lower bound). */
  heldOut: automationFiguresSchema,
  /** Coverage and accuracy of kept predictions at 0.50..0.99 on both splits. */
  curve: z.array(
    z.object({
      threshold: z.number(),
      validation: z.object({ automationRate: z.number(), keptAccuracy: z.number() }),
      test: z.object({ automationRate: z.number(), keptAccuracy: z.number() }),
    }),
  ),
});
export type Automation = z.infer<typeof automationSchema>;

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
  /** The validation split's predictions, scored by the same evaluator (JSON lines like the test's). */
  validationPredictionsUri: z.string().optional(),
  /** The training images' out-of-fold predictions, when the trainer made any (JSON lines like the test's). */
  outOfFoldPredictionsUri: z.string().optional(),
  /** Absent in records written before the threshold was chosen from data. */
  automation: automationSchema.optional(),
  durationSeconds: z.number(),
  jobName: z.string().optional(),
  billableSeconds: z.number().optional(),
});
export type EvaluationRecord = z.infer<typeof evaluationRecordSchema>;
