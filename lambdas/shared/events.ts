import { createHash } from 'node:crypto';
import { z } from 'zod';
import { ConfigurationError, InvalidEventError } from './errors.js';

/** SageMaker's limit on an InvokeEndpoint request body (6 MB). */
export const ENDPOINT_PAYLOAD_LIMIT = 6 * 1024 * 1024;
/** Largest image serialize accepts: base64 (4/3) plus the event must stay under Lambda's 6 MB response. */
export const SERIALIZE_IMAGE_LIMIT = Math.floor(((ENDPOINT_PAYLOAD_LIMIT - 64 * 1024) * 3) / 4);

export const locationSchema = z.object({
  s3_bucket: z.string().min(1),
  s3_key: z.string().min(1),
});

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

export const inferenceBodySchema = z.looseObject({
  inferences: z.preprocess(
    jsonArrayString,
    z.array(z.number().finite()).min(1, 'must hold at least one probability'),
  ),
});

/** What every handler returns: the reference workflow's envelope. */
export interface LambdaResult<T> {
  statusCode: 200;
  body: T;
}

/**
 * The event's payload, however the state machine passed it: bare, `{Payload: ...}` (a Lambda invoke
 * result without OutputPath), `{body: {...}}`, or `{body: "<json>"}` (reference state machines do all).
 */
export function unwrapEvent(event: unknown): Record<string, unknown> {
  let value = event;
  if (
    isRecord(value) &&
    isRecord(value.Payload) &&
    Object.keys(value).every((k) =>
      ['Payload', 'StatusCode', 'ExecutedVersion', 'SdkHttpMetadata', 'SdkResponseMetadata'].includes(k),
    )
  )
    value = value.Payload;
  if (isRecord(value) && 'body' in value) {
    const body = value.body;
    if (typeof body === 'string') {
      try {
        value = JSON.parse(body);
      } catch {
        throw new InvalidEventError(
          'event.body is a string but not JSON: pass an object or a JSON-encoded object',
        );
      }
    } else {
      value = body;
    }
  }
  if (!isRecord(value))
    throw new InvalidEventError(`the event must be an object, not ${value === null ? 'null' : typeof value}`);
  return value;
}

/** Validates with zod and reports the first problems by field name. */
export function parseEvent<T>(schema: z.ZodType<T>, event: unknown): T {
  const result = schema.safeParse(unwrapEvent(event));
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const field = issue.path.map(String).join('.') || 'event';
    return `${field}: ${issue.message}`;
  });
  throw new InvalidEventError(`invalid event: ${problems.join('; ')}`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * SageMaker's InferenceId (at most 64 printable characters) for an image: its key when that fits,
 * otherwise a digest of it. The monitor report computes the same id to join captures to test cases.
 */
export function inferenceIdFor(key: string): string {
  const printable = /^[\x21-\x7e][\x20-\x7e]*$/;
  if (key.length <= 64 && printable.test(key)) return key;
  return `sha256:${createHash('sha256').update(key).digest('hex').slice(0, 57)}`;
}

/** A required environment variable, or an error naming it. */
export function requiredEnv(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name];
  if (value === undefined || value === '')
    throw new ConfigurationError(`environment variable ${name} is required`);
  return value;
}

/** PNG or JPEG from magic bytes. */
export function sniffContentType(bytes: Uint8Array): 'image/png' | 'image/jpeg' | undefined {
  if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47)
    return 'image/png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'image/jpeg';
  return undefined;
}
