import { z } from 'zod';

/**
 * The Lambda functions' events, results and error names: the reference workflow's shapes, shared by
 * the handlers (which parse events) and the pipeline (which parses execution outputs and matches errors).
 */

/**
 * The filter's metric, published in its log in CloudWatch's embedded metric format (no API call): one
 * datum per inference, 1 when filtered as low-confidence, 0 when passed, so its Average over a period is the
 * share filtered. The template's alarm and the local deploy guard read the same names.
 */
export const LOW_CONFIDENCE_METRIC = {
  namespace: 'Scones/Workflow',
  name: 'LowConfidence',
  dimension: 'FunctionName',
} as const;

/**
 * Each error's `name`, which Lambda reports as the errorType that a state machine's Retry/Catch (and the
 * test-executions stage) match.
 */
export const LAMBDA_ERROR_NAMES = {
  invalidEvent: 'InvalidEvent',
  imageNotFound: 'ImageNotFound',
  payloadTooLarge: 'PayloadTooLarge',
  statePayloadTooLarge: 'StatePayloadTooLarge',
  endpoint: 'EndpointError',
  configuration: 'ConfigurationError',
  /** Low confidence: the state machine fails visibly and does not retry. */
  thresholdConfidenceNotMet: 'ThresholdConfidenceNotMet',
} as const;

/** The serialize function's event: where the image is. */
export const locationSchema = z.object({
  s3_bucket: z.string().min(1),
  s3_key: z.string().min(1),
});

/** The classify function's event: the image, base64-encoded, with where it came from. */
export const imageBodySchema = z.object({
  s3_bucket: z.string().optional(),
  s3_key: z.string().optional(),
  image_data: z.string().min(1, 'must be a non-empty base64 string'),
  inferences: z.array(z.unknown()).optional(),
  inference_id: z.string().min(1).max(64).optional(),
});
export type ImageBody = z.infer<typeof imageBodySchema>;

/** Reference classifiers return inferences as a JSON-encoded string; both forms are accepted. */
const jsonArrayString = (value: unknown) => {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
};

export const probabilitiesSchema = z.array(z.number().finite()).min(1, 'must hold at least one probability');

/** The filter function's event (and the classifier's output body): at least the probabilities. */
export const inferenceBodySchema = z.looseObject({
  inferences: z.preprocess(jsonArrayString, probabilitiesSchema),
});

/** The serialize function's output body: the classifier's event, with no inferences yet. */
export const serializedImageSchema = z.object({
  image_data: z.string(),
  s3_bucket: z.string(),
  s3_key: z.string(),
  inferences: z.tuple([]),
});
export type SerializedImage = z.infer<typeof serializedImageSchema>;

/** The classify function's output body: its event with the endpoint's probabilities. */
export type ClassifiedImage = Omit<ImageBody, 'inferences'> & { inferences: number[] };

/** What every handler returns: the reference workflow's envelope. */
export interface LambdaResult<T> {
  statusCode: 200;
  body: T;
}

/**
 * A succeeded workflow's output: the filter function's result, the probabilities in its body. Only the
 * body is required: a state machine with a ResultSelector may drop the status code.
 */
export const workflowOutputSchema = z.looseObject({
  body: z.looseObject({ inferences: probabilitiesSchema }),
});
