import {
  closeSync,
  constants,
  fstatSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  type Stats,
  writeFileSync,
} from 'node:fs';
import { InputError, SconesError } from '../errors.js';

/** One home for streaming a file: the local store's (pipeline/local-s3 may import nothing of the rest). */
export { writeFileFrom } from '../local-s3/write.js';

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
  ENOTDIR: (relocate) => `a part of the path is a file, not a folder: set ${relocate} to a folder`,
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

/** What a path is, in words, when it is not a regular file. */
export function kindOfFile(stats: Stats): string {
  if (stats.isDirectory()) return 'a folder';
  if (stats.isFIFO()) return 'a FIFO (named pipe)';
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return 'a device';
  if (stats.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** Size limits of the files the CLI reads, each far above any real one and far below memory. */
export const FILE_LIMITS = {
  /** scones.config.yaml / --config: a few hundred bytes in practice. */
  config: 1024 * 1024,
  /** One capture file (.jsonl): SageMaker rolls them over well below this. */
  capture: 256 * 1024 * 1024,
  /** A train.lst / test.lst: 40 MB would list a million images. */
  list: 64 * 1024 * 1024,
  /** A run manifest or a deployment record: tens of kilobytes. */
  record: 16 * 1024 * 1024,
  /** The work folder's lock: one line of JSON. */
  lock: 64 * 1024,
} as const;

/** The `overLimit` text of a fixed limit: nothing to raise, so what to do is to check the file. */
export function fixedLimit(kind: string, fix: string): string {
  return `(the fixed limit for ${kind}): ${fix}`;
}

export interface CheckedReadOptions {
  /** The most bytes read; a larger file is refused before reading. */
  maxBytes: number;
  /** The limit's name and what to do, after "over the limit of N": "(data.maxImageBytes): resize it". */
  overLimit: string;
  /** What the path should have been, after "is a FIFO, not": "an image file: list image files only". */
  expected?: string;
  /** Builds the error (InputError, ConfigError...): the message already names the path and the fix. */
  error?: (message: string) => Error;
}

/**
 * Reads `path` after checking what it is: only a regular file within `maxBytes` is read. A FIFO
 * would block forever, /dev/zero would never end, a folder reads as EISDIR; each is refused by name,
 * `where` first (the path or "train.lst line 3 (train/a.png)"). Opened non-blocking and checked on the
 * open descriptor, so a file swapped for a FIFO between a check and the read cannot hang either; a
 * symlink is followed and its target checked.
 */
export function readCheckedFile(path: string, where: string, options: CheckedReadOptions): Buffer {
  return readChecked(path, where, options, false) as Buffer;
}

/** {@link readCheckedFile}, or undefined when nothing is at `path` (a lock file released meanwhile). */
export function readCheckedFileIfPresent(
  path: string,
  where: string,
  options: CheckedReadOptions,
): Buffer | undefined {
  return readChecked(path, where, options, true);
}

function readChecked(
  path: string,
  where: string,
  options: CheckedReadOptions,
  absentIsUndefined: boolean,
): Buffer | undefined {
  const fail = options.error ?? ((message: string) => new InputError(message));
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && absentIsUndefined) return undefined;
    if (code === 'ENOENT') throw fail(`${where} does not exist (or is a symlink to nothing)`);
    if (code === 'EACCES' || code === 'EPERM')
      throw fail(`${where} cannot be read (permission denied): make it readable for this user`);
    if (code === 'ENOTDIR') throw fail(`${where}: a folder on its path is a file (ENOTDIR)`);
    throw fail(`${where} cannot be opened (${code ?? (error as Error).message})`);
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile())
      throw fail(
        `${where} is ${kindOfFile(stats)}, not ${options.expected ?? 'a regular file: pass a file'}`,
      );
    if (stats.size > options.maxBytes)
      throw fail(
        `${where} is ${stats.size} bytes, over the limit of ${options.maxBytes} ${options.overLimit}`,
      );
    // One byte more than the limit: a file that grows while read (or lies in its size) stops there.
    const bytes = Buffer.alloc(Math.min(stats.size, options.maxBytes) + 1);
    let read = 0;
    while (read < bytes.length) {
      const n = readSync(fd, bytes, read, bytes.length - read, read);
      if (n === 0) break;
      read += n;
    }
    if (read > options.maxBytes)
      throw fail(`${where} grew past the limit of ${options.maxBytes} bytes while read ${options.overLimit}`);
    return bytes.subarray(0, read);
  } finally {
    closeSync(fd);
  }
}
