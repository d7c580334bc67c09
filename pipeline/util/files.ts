import { createWriteStream, renameSync, rmSync, type WriteStream, writeFileSync } from 'node:fs';
import { SconesError } from '../errors.js';

/**
 * What to do when a write fails because of the disk rather than the data, by Node's error code. A failed
 * write(2) carries no path (`ENOSPC: no space left on device, write`), so the caller names it.
 */
const DISK_FAILURES: Record<string, (relocate: string) => string> = {
  ENOSPC: (relocate) =>
    `no space left on the device: free space on it (or set ${relocate} to a folder on another disk)`,
  EDQUOT: (relocate) =>
    `the disk quota is used up: free space (or set ${relocate} to a folder on another disk)`,
  EROFS: (relocate) => `the file system is read-only: set ${relocate} to a writable folder`,
  EACCES: (relocate) =>
    `permission denied: make the folder writable for this user, or set ${relocate} to one it can write`,
  EPERM: (relocate) =>
    `permission denied: make the folder writable for this user, or set ${relocate} to one it can write`,
  EIO: () => 'an I/O error on the device: check the disk',
};

/**
 * A write to `path` that failed because of the disk, as an error naming the path and what to do (then run
 * the command again); any other error is returned unchanged. `relocate` is the setting that moves the
 * folder elsewhere.
 */
export function writeFailure(path: string, error: unknown, relocate = 'workDir'): unknown {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  const advice = code === undefined ? undefined : DISK_FAILURES[code];
  if (advice === undefined) return error;
  return new SconesError(`could not write ${path}: ${advice(relocate)}, then run again (${code})`, {
    cause: error,
  });
}

/**
 * Creates the file at `path` and lets `write` fill it (typically `pipeline(source, ..., file)`). On failure
 * it settles only once the file is closed: `pipeline` rejects on the first error without waiting for the
 * file's open, so a source that fails at once would otherwise have the caller's cleanup run before the
 * file exists, and the file appear after it.
 */
export async function writeFileFrom(
  path: string,
  write: (file: WriteStream) => Promise<void>,
): Promise<void> {
  const file = createWriteStream(path);
  try {
    await write(file);
  } catch (error) {
    if (!file.closed) {
      const closed = new Promise<void>((resolve) => file.once('close', () => resolve()));
      file.destroy();
      await closed;
    }
    throw error;
  }
}

/**
 * Writes a file atomically: a temporary file in the same folder, then rename. A failed write leaves the
 * old file and no temporary one, and names the path and what to do (a full disk says only "write").
 */
export function writeFileAtomic(path: string, content: string | Uint8Array): void {
  const temp = `${path}.${process.pid}.${Date.now()}.tmp`;
  try {
    writeFileSync(temp, content);
    renameSync(temp, path);
  } catch (error) {
    rmSync(temp, { force: true });
    throw writeFailure(path, error);
  }
}
