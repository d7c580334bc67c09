import type { z } from 'zod';
import { SconesError } from '../errors.js';

/**
 * Parses a stored JSON document against its schema. A failure names the document, what it should be and
 * what to do: `<where> is not valid JSON (<reason>; truncated?): <fix>`, `<where> is not <expected> (<issues>): <fix>`.
 */
export function parseJson<T>(
  text: string,
  schema: z.ZodType<T>,
  where: string,
  expected: string,
  fix: string,
): T {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new SconesError(`${where} is not valid JSON (${(error as Error).message}; truncated?): ${fix}`);
  }
  const parsed = schema.safeParse(json);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues
    .slice(0, 3)
    .map((i) => `${i.path.join('.') || 'document'}: ${i.message}`);
  throw new SconesError(`${where} is not ${expected} (${issues.join('; ')}): ${fix}`);
}
