import { z } from 'zod';

/**
 * One line of SageMaker's data capture JSONL ("Capture data from real-time endpoint", SageMaker
 * Developer Guide: captureData.endpointInput/endpointOutput with observedContentType, mode, data and
 * encoding; eventMetadata with eventId, inferenceId and inferenceTime; eventVersion "0").
 * The local model server writes it; the monitor report reads it (and SageMaker's, for aws).
 */
const captureDataSchema = <Mode extends 'INPUT' | 'OUTPUT'>(mode: Mode) =>
  z.object({
    observedContentType: z.string(),
    mode: z.literal(mode),
    data: z.string(),
    encoding: z.enum(['BASE64', 'JSON', 'CSV']),
  });

export const captureRecordSchema = z.object({
  captureData: z.object({
    endpointInput: captureDataSchema('INPUT').optional(),
    endpointOutput: captureDataSchema('OUTPUT').optional(),
  }),
  eventMetadata: z.object({
    eventId: z.string(),
    inferenceId: z.string().optional(),
    inferenceTime: z.string(),
  }),
  eventVersion: z.string(),
});
export type CaptureRecord = z.infer<typeof captureRecordSchema>;

/**
 * What the report needs of a line, read leniently: SageMaker's own captures vary (inferenceId absent,
 * mode or content type missing in older containers), so only the fields used are required.
 */
export const capturedLineSchema = z.object({
  captureData: z.object({
    endpointInput: z
      .object({
        data: z.string().optional(),
        encoding: z.string().optional(),
        observedContentType: z.string().optional(),
      })
      .optional(),
    endpointOutput: z.object({ data: z.string(), encoding: z.string().optional() }),
  }),
  eventMetadata: z
    .object({
      eventId: z.unknown().optional(),
      inferenceId: z.unknown().optional(),
      inferenceTime: z.unknown().optional(),
    })
    .optional(),
});
export type CapturedLine = z.infer<typeof capturedLineSchema>;

/** Some containers wrap the probabilities: {"predictions": [...]} or [[...]]; both are unwrapped. */
function unwrapPredictions(value: unknown): unknown {
  let unwrapped = value;
  if (typeof unwrapped === 'object' && unwrapped !== null && !Array.isArray(unwrapped))
    unwrapped = 'predictions' in unwrapped ? unwrapped.predictions : undefined;
  if (Array.isArray(unwrapped) && unwrapped.length === 1 && Array.isArray(unwrapped[0])) return unwrapped[0];
  return unwrapped;
}

/** The decoded endpointOutput.data: the class probabilities. */
export const capturedProbabilitiesSchema = z.preprocess(
  unwrapPredictions,
  z.array(z.number().finite()).min(1),
);

/** Only a line's inference time: enough to tell whether a capture record belongs to a time window. */
export const captureTimeSchema = z.object({ eventMetadata: z.object({ inferenceTime: z.string() }) });
