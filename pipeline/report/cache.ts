import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FILE_LIMITS, readCheckedFileIfPresent, writeFileAtomic } from '../util/files.js';
import { stableStringify } from '../util/stable-json.js';

/**
 * What the report derives from unchanging inputs (charts, the training images' statistics), kept in the
 * work directory (nothing we run writes outside it) under the digest of everything it is derived from.
 */
export function reportCacheDir(workDir: string): string {
  return join(workDir, 'cache', 'report');
}
/** The newest files kept: a few reports' worth. */
const KEPT_FILES = 256;

/** The cache's file name for what `inputs` derive, with the given extension. */
export function cacheKey(inputs: unknown, extension: string): string {
  return `${createHash('sha256').update(stableStringify(inputs)).digest('hex')}${extension}`;
}

/** A cached file (no cache dir: none), or undefined when it is not there (never made, removed meanwhile, or not a regular file). */
export function cached(dir: string | undefined, name: string): Buffer | undefined {
  if (dir === undefined) return undefined;
  try {
    return readCheckedFileIfPresent(join(dir, name), join(dir, name), {
      maxBytes: FILE_LIMITS.record,
      overLimit: 'for a cached chart or figure',
    });
  } catch {
    return undefined;
  }
}

/** Stores files and removes the oldest beyond KEPT_FILES; a cache that cannot be written is skipped. */
export function remember(dir: string | undefined, files: Record<string, string | Uint8Array>): void {
  if (dir === undefined) return;
  try {
    mkdirSync(dir, { recursive: true });
    for (const [name, content] of Object.entries(files)) writeFileAtomic(join(dir, name), content);
    const all = readdirSync(dir)
      .map((file) => ({ file, at: statSync(join(dir, file)).mtimeMs }))
      .sort((a, b) => b.at - a.at);
    for (const { file } of all.slice(KEPT_FILES)) rmSync(join(dir, file), { force: true });
  } catch {
    // Only the next report's time depends on it.
  }
}
