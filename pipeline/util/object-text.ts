import type { z } from 'zod';
import type { ObjectStore } from '../ports.js';
import { parseJson } from './json.js';

/** Reads a whole object as UTF-8 text. */
export async function getText(store: ObjectStore, key: string): Promise<string> {
  return Buffer.from(await store.get(key)).toString('utf8');
}

/** Writes a value as indented JSON with a final newline. */
export async function putJson(store: ObjectStore, key: string, value: unknown): Promise<void> {
  await store.put(key, `${JSON.stringify(value, null, 2)}\n`, { contentType: 'application/json' });
}

/** Reads a stored JSON document, parsed against its schema (see parseJson). */
export async function getJson<T>(
  store: ObjectStore,
  key: string,
  schema: z.ZodType<T>,
  expected: string,
  fix: string,
): Promise<T> {
  return parseJson(await getText(store, key), schema, store.uri(key), expected, fix);
}
