import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const OBJECT = '._S3rver_object';
const METADATA = '._S3rver_metadata.json';
const MD5 = '._S3rver_object.md5';
/**
 * s3rver writes an object's bytes, then its .md5, then its metadata, and does not wait for the bytes to
 * reach the disk first: a process killed mid-upload leaves objects the store then answers with HTTP 500.
 * At every start this removes each object whose metadata does not parse or whose bytes do not match its
 * MD5, so an interrupted upload is simply done again. Every start, because a store stopped in an orderly
 * way can still hold a request its client abandoned (the CLI killed, Ctrl-C). Returns the keys removed.
 */
export function recoverStore(directory: string): string[] {
  if (!existsSync(directory)) return [];
  const removed: string[] = [];
  for (const entry of readdirSync(directory, { recursive: true, encoding: 'utf8' })) {
    const path = join(directory, entry);
    const base = entry.endsWith(OBJECT)
      ? path.slice(0, -OBJECT.length)
      : entry.endsWith(METADATA)
        ? path.slice(0, -METADATA.length)
        : undefined;
    if (base === undefined || removed.includes(base)) continue;
    if (!complete(base)) {
      for (const suffix of [OBJECT, METADATA, MD5]) rmSync(`${base}${suffix}`, { force: true });
      removed.push(base);
    }
  }
  return removed.map((base) => base.slice(directory.length + 1));
}

function complete(base: string): boolean {
  try {
    JSON.parse(readFileSync(`${base}${METADATA}`, 'utf8'));
    const expected = readFileSync(`${base}${MD5}`, 'utf8').trim();
    const actual = createHash('md5')
      .update(readFileSync(`${base}${OBJECT}`))
      .digest('hex');
    return expected === actual;
  } catch {
    return false;
  }
}
