import type { z } from 'zod';
import {
  IMAGE_CONTENT_TYPES,
  type ImageContentType,
  sniffImageFormat,
} from '../../pipeline/contracts/image-format.js';
import { ConfigurationError, InvalidEventError } from './errors.js';

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

/** A required environment variable, or an error naming it. */
export function requiredEnv(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name];
  if (value === undefined || value === '')
    throw new ConfigurationError(`environment variable ${name} is required`);
  return value;
}

/** The Content-Type for InvokeEndpoint from the image's magic bytes; undefined when not PNG or JPEG. */
export function sniffContentType(bytes: Uint8Array): ImageContentType | undefined {
  const format = sniffImageFormat(bytes);
  return format === undefined ? undefined : IMAGE_CONTENT_TYPES[format];
}
