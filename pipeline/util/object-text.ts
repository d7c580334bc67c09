import type { ObjectStore } from '../ports.js';

/** Reads a whole object as UTF-8 text. */
export async function getText(store: ObjectStore, key: string): Promise<string> {
  return Buffer.from(await store.get(key)).toString('utf8');
}
