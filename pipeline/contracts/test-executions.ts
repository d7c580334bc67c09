import { z } from 'zod';

/**
 * What the test-executions stage writes to `runs/<run-id>/test-executions.json` (the document) and to
 * the manifest (the record); the monitor report reads the document back to join captures to labels.
 */

export const outcomeSchema = z.enum(['SUCCEEDED', 'FILTERED', 'ERROR']);

/** One execution of the deployed workflow on one labelled test image. */
export const caseResultSchema = z.object({
  index: z.number().int(),
  name: z.string(),
  s3Key: z.string(),
  label: z.number().int(),
  outcome: outcomeSchema,
  predicted: z.number().int().exactOptional(),
  confidence: z.number().exactOptional(),
  error: z.string().exactOptional(),
  cause: z.string().exactOptional(),
  /**
   * The state of the definition the execution stopped in when it did not succeed (the filter's state for a
   * filtered one): the state the Step Functions console marks failed. Absent when it succeeded, when the
   * runner could not tell, and in documents written before it was recorded (the report leaves those unplaced).
   */
  failedState: z.string().min(1).exactOptional(),
  durationMs: z.number(),
});
export type CaseResult = z.infer<typeof caseResultSchema>;

export const executionsSummarySchema = z.object({
  total: z.number().int(),
  succeeded: z.number().int(),
  filtered: z.number().int(),
  errors: z.number().int(),
  /**
   * Passed cases whose prediction was wrong. Not an accuracy: the passed cases are the confident ones,
   * so their share correct flatters the model. The one accuracy over every execution with ground truth
   * (filtered included) is the monitor report's, from the endpoint's capture.
   */
  passedButWrong: z.number().int(),
  filteredShare: z.number(),
  durationMs: z.object({ p50: z.number(), max: z.number(), total: z.number() }),
});
export type ExecutionsSummary = z.infer<typeof executionsSummarySchema>;

/** The stage's manifest section. */
export const testExecutionsRecordSchema = z.object({
  resultsUri: z.string(),
  startedAt: z.string(),
  finishedAt: z.string(),
  summary: executionsSummarySchema,
});

/** The full document, every case included. */
export const testExecutionsDocumentSchema = z.object({
  runId: z.string(),
  startedAt: z.string(),
  finishedAt: z.string(),
  endpointName: z.string(),
  trainingId: z.string(),
  summary: executionsSummarySchema,
  results: z.array(caseResultSchema),
});
export type TestExecutionsDocument = z.infer<typeof testExecutionsDocumentSchema>;
