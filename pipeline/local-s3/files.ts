import { createHash, randomBytes } from 'node:crypto';
import {
  createReadStream,
  type Dirent,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { lstat, rm } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { noSuchKey, StoreError } from './errors.js';
import { checkKey, keyToPath, METADATA_SUFFIX, pathToKey, validBucketName } from './keys.js';
import { type ObjectHeaders, type ObjectPaths, type StoredObject, storedObjectSchema } from './records.js';
import { FileUploads, UPLOADS_DIR } from './uploads.js';
import { writeHashed } from './write.js';

export { StoreError } from './errors.js';
export type { ObjectHeaders, StoredObject } from './records.js';

const METADATA_DIR = '.metadata';
const PENDING_DIR = '.pending';
const TEMP_DIR = '.tmp';

/**
 * An S3 bucket kept as plain files, so a user can look at what the pipeline staged: the bytes of
 * `s3://bucket/key` are at `<root>/<bucket>/<path of the key>` (see `keys.ts`: `data/a.png` is
 * `data%2F/a.png`), its metadata at `<root>/.metadata/<bucket>/<path of the key>.json`.
 * A write lands in a temporary file, then commits in three steps: the new metadata is written to
 * `.pending/<bucket>/<path>.json`, the bytes are renamed into place (the commit point), and the pending
 * metadata is renamed over the old. A process killed anywhere in between leaves the old object or the new
 * one, and `recover()` (run at every start) tells which by the bytes' MD5 and finishes or undoes the step.
 * Bucket names cannot start with a dot, so the store's own folders never collide with a bucket.
 */
export class FileObjectStore {
  private readonly knownDirectories = new Set<string>();
  readonly uploads = new FileUploads(this);

  constructor(readonly root: string) {
    mkdirSync(join(root, TEMP_DIR), { recursive: true });
  }

  bucketExists(bucket: string): boolean {
    return validBucketName(bucket) && existsSync(join(this.root, bucket));
  }

  /** S3 in us-east-1: creating a bucket you already own succeeds (BucketAlreadyOwnedByYou elsewhere). */
  createBucket(bucket: string): void {
    if (!validBucketName(bucket))
      throw new StoreError(
        'InvalidBucketName',
        400,
        `The bucket name "${bucket}" is not valid: 3 to 63 lower-case letters, digits, dots and hyphens, ` +
          'starting and ending with a letter or digit, no two dots or a dot and a hyphen together, not an IP address.',
      );
    mkdirSync(join(this.root, bucket), { recursive: true });
    mkdirSync(join(this.root, METADATA_DIR, bucket), { recursive: true });
  }

  buckets(): { name: string; created: Date }[] {
    return readdirSync(this.root, { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && validBucketName(entry.name))
      .map((entry) => ({ name: entry.name, created: statSync(join(this.root, entry.name)).birthtime }))
      .sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  deleteBucket(bucket: string): void {
    this.requireBucket(bucket);
    if (this.keysUnder(bucket, '').some((key) => this.readMetadata(bucket, key) !== undefined))
      throw new StoreError('BucketNotEmpty', 409, `The bucket ${bucket} is not empty.`);
    for (const folder of ['', METADATA_DIR, PENDING_DIR])
      rmSync(join(this.root, folder, bucket), { recursive: true, force: true });
    this.knownDirectories.clear();
  }

  /**
   * Stores `body` under the key and commits it. A Buffer (every request small enough to hold, which is
   * nearly all of them) is written with synchronous calls: in this process, which does nothing else, they
   * cost a fraction of the thread-pool round trips of streamed writes. A stream is written as it arrives.
   */
  async put(
    bucket: string,
    key: string,
    body: Buffer | Readable,
    headers: ObjectHeaders,
  ): Promise<StoredObject> {
    const paths = this.objectPaths(bucket, key);
    const temp = this.tempPath();
    try {
      const md5 = await writeHashed(body, temp);
      return this.commit(key, paths, temp, { etag: md5, md5 }, headers);
    } catch (error) {
      throw this.cannotWrite(error, paths.bytes);
    } finally {
      rmSync(temp, { force: true });
    }
  }

  /**
   * A write the disk refused (full, read-only, not permitted) as S3 error 507, which clients do not retry
   * (as MinIO answers a full disk), naming the file and what to do: a failed write(2) names no path.
   * A name or path too long for the file system is the client's key: 400, naming the limit, not the path.
   * Other errors are returned unchanged.
   */
  cannotWrite(error: unknown, path: string): unknown {
    const code = (error as NodeJS.ErrnoException | null)?.code;
    if (code === 'ENAMETOOLONG')
      return new StoreError(
        'KeyTooLongError',
        400,
        'The key is too long for the local store: its file path would be over the file system limit ' +
          '(255 bytes a name, 4096 a path); use a shorter key.',
      );
    const reason =
      code === 'ENOSPC' || code === 'EDQUOT'
        ? 'no space left on the device: free space on it, or set workDir to a folder on another disk'
        : code === 'EROFS'
          ? 'the file system is read-only: set workDir to a writable folder'
          : code === 'EACCES' || code === 'EPERM'
            ? 'permission denied: make the folder writable for this user, or set workDir to one it can write'
            : undefined;
    if (reason === undefined) return error;
    return new StoreError(
      code === 'ENOSPC' || code === 'EDQUOT' ? 'InsufficientStorage' : 'StorageNotWritable',
      507,
      `The local object store could not write ${path} (${code}): ${reason}; then run again. The store keeps its files under ${this.root}.`,
    );
  }

  async head(bucket: string, key: string): Promise<StoredObject> {
    const object = this.readMetadata(bucket, key);
    if (object === undefined) throw noSuchKey(key);
    return object;
  }

  /** The object's bytes `[start, end]` (inclusive), all of them by default. */
  read(bucket: string, key: string, range?: { start: number; end: number }): Readable {
    return createReadStream(this.objectPaths(bucket, key).bytes, range);
  }

  async delete(bucket: string, key: string): Promise<void> {
    const paths = this.objectPaths(bucket, key);
    // Bytes first: once they are gone the object no longer exists (its metadata describes no file), and
    // metadata without bytes is the store's own leftover, which `recover` may remove; bytes without
    // metadata would look like a file a user put there.
    if ((await lstat(paths.bytes).catch(() => undefined))?.isFile()) await rm(paths.bytes, { force: true });
    if ((await lstat(paths.metadata).catch(() => undefined))?.isFile())
      await rm(paths.metadata, { force: true });
  }

  /**
   * Keys after `startAfter` starting with `prefix`, in UTF-8 byte order as S3 lists them, with keys that
   * share a part up to `delimiter` rolled into common prefixes. At most `maxKeys` entries in all.
   */
  async list(
    bucket: string,
    options: { prefix: string; delimiter?: string; startAfter?: string; maxKeys: number },
  ): Promise<{ objects: StoredObject[]; commonPrefixes: string[]; truncated: boolean; last?: string }> {
    this.requireBucket(bucket);
    const { prefix, delimiter, startAfter, maxKeys } = options;
    const after = startAfter === undefined ? undefined : Buffer.from(startAfter);
    const objects: StoredObject[] = [];
    const commonPrefixes: string[] = [];
    let last: string | undefined;
    // `maxKeys` 0 lists nothing and is not truncated, as S3 answers it.
    for (const key of maxKeys === 0 ? [] : this.keysUnder(bucket, prefix)) {
      const entry = rollUp(key, prefix, delimiter);
      if (after !== undefined && Buffer.compare(Buffer.from(entry.listed), after) <= 0) continue;
      if (entry.listed === commonPrefixes.at(-1)) continue;
      const object = entry.rolledUp ? undefined : this.readMetadata(bucket, key);
      if (!entry.rolledUp && object === undefined) continue;
      if (objects.length + commonPrefixes.length === maxKeys)
        return { objects, commonPrefixes, truncated: true, ...(last === undefined ? {} : { last }) };
      if (object === undefined) commonPrefixes.push(entry.listed);
      else objects.push(object);
      last = entry.listed;
    }
    return { objects, commonPrefixes, truncated: false, ...(last === undefined ? {} : { last }) };
  }

  /**
   * Brings the files back to a consistent state after a process was killed, removing only files the
   * store itself writes: its temporary files, unfinished multipart uploads, pending metadata it has
   * settled, and metadata whose bytes are gone (a delete cut short). For each object with pending
   * metadata (a commit was interrupted), the bytes' MD5 says whether they are the new version (the
   * pending metadata replaces the old) or still the old one (the pending metadata is dropped). Bytes that
   * no metadata describes (a file a user put in the folder, or one changed since it was written) are
   * kept and reported, never removed: the store does not know what they are.
   * Returns what it removed (paths inside the store's folder) and what it kept (`bucket/key`, or
   * `bucket/path` for a file whose name the store did not write).
   */
  recover(): { removed: string[]; kept: string[] } {
    const removed: string[] = [];
    const kept: string[] = [];
    const remove = (path: string) => {
      rmSync(path, { recursive: true, force: true });
      removed.push(relative(this.root, path).split(sep).join('/'));
    };
    for (const folder of [TEMP_DIR, UPLOADS_DIR]) {
      // Multipart uploads do not outlive the store process: their clients went with the previous one.
      const entries = existsSync(join(this.root, folder)) ? readdirSync(join(this.root, folder)) : [];
      for (const entry of entries) remove(join(this.root, folder, entry));
    }
    mkdirSync(join(this.root, TEMP_DIR), { recursive: true });
    for (const { name: bucket } of this.buckets()) {
      for (const path of filesUnder(join(this.root, bucket), '')) {
        const key = pathToKey(path) ?? this.moveFromKeyPath(bucket, path);
        if (key === undefined || !this.settle(bucket, key, remove)) kept.push(`${bucket}/${key ?? path}`);
      }
      // Metadata, committed or pending, whose bytes are gone (a delete, or a first write, cut short).
      for (const folder of [METADATA_DIR, PENDING_DIR]) {
        const metadataRoot = join(this.root, folder, bucket);
        for (const file of filesUnder(metadataRoot, '')) {
          const path = file.endsWith(METADATA_SUFFIX) ? file.slice(0, -METADATA_SUFFIX.length) : file;
          if (path !== file && existsSync(join(this.root, bucket, ...path.split('/')))) continue;
          remove(join(metadataRoot, ...file.split('/')));
        }
      }
    }
    return { removed, kept };
  }

  /**
   * Moves an object a store before 2026-12-03 kept at its key's path (its metadata at `.metadata/<bucket>/
   * <key>.json`, describing these bytes) to this layout; undefined, touching nothing, for any other file.
   * The new metadata is written first, then the bytes renamed, then the old metadata removed: a kill in
   * between leaves metadata without bytes (removed below) and the object at one place or the other.
   */
  private moveFromKeyPath(bucket: string, path: string): string | undefined {
    const oldMetadata = `${join(this.root, METADATA_DIR, bucket, ...path.split('/'))}${METADATA_SUFFIX}`;
    const object = readJson(oldMetadata);
    const oldBytes = join(this.root, bucket, ...path.split('/'));
    if (object?.key !== path || statSync(oldBytes).size !== object.size) return undefined;
    try {
      checkKey(path);
    } catch {
      return undefined;
    }
    const paths = this.storedPaths(bucket, path);
    this.ensureDirectory(dirname(paths.bytes));
    this.ensureDirectory(dirname(paths.metadata));
    writeFileSync(paths.metadata, JSON.stringify(object));
    renameSync(oldBytes, paths.bytes);
    rmSync(oldMetadata);
    return path;
  }

  /**
   * Makes one object's metadata agree with its bytes (see `recover`), removing only pending metadata;
   * false if no metadata describes the bytes, which are then left as they are.
   */
  private settle(bucket: string, key: string, remove: (path: string) => void): boolean {
    const { bytes: bytesPath, metadata: metadataPath, pending: pendingPath } = this.storedPaths(bucket, key);
    const size = statSync(bytesPath).size;
    const committed = readJson(metadataPath);
    const pending = readJson(pendingPath);
    if (pending === undefined && existsSync(pendingPath)) remove(pendingPath); // cut short while written
    if (pending === undefined) return committed !== undefined && committed.size === size;
    const md5 = createHash('md5').update(readFileSync(bytesPath)).digest('hex');
    if (pending.size === size && pending.md5 === md5) {
      renameSync(pendingPath, metadataPath);
      return true;
    }
    remove(pendingPath);
    return committed !== undefined && committed.size === size && (committed.md5 ?? committed.etag) === md5;
  }

  /** Commits the bytes in `temp` as the object (see the class comment); for `put` and the uploads. */
  commit(
    key: string,
    { bytes: bytesPath, metadata: metadataPath, pending: pendingPath }: ObjectPaths,
    temp: string,
    hashes: { etag: string; md5: string; parts?: readonly number[]; uploadId?: string },
    headers: ObjectHeaders,
  ): StoredObject {
    const { size, mtime } = statSync(temp);
    const object: StoredObject = { key, size, ...hashes, lastModified: roundToSecond(mtime), ...headers };
    this.ensureDirectory(dirname(bytesPath));
    this.ensureDirectory(dirname(metadataPath));
    this.ensureDirectory(dirname(pendingPath));
    writeFileSync(pendingPath, JSON.stringify(object));
    try {
      renameSync(temp, bytesPath);
    } catch (error) {
      rmSync(pendingPath, { force: true });
      throw error;
    }
    renameSync(pendingPath, metadataPath);
    return object;
  }

  private readMetadata(bucket: string, key: string): StoredObject | undefined {
    const paths = this.objectPaths(bucket, key);
    const object = readJson(paths.metadata);
    // The bytes must still be the ones described (they are replaced before the metadata).
    return object !== undefined && statSync(paths.bytes, { throwIfNoEntry: false })?.size === object.size
      ? object
      : undefined;
  }

  /** Every key in the bucket starting with `prefix`, in UTF-8 byte order. */
  private keysUnder(bucket: string, prefix: string): string[] {
    const folder = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/') + 1) : '';
    let start: string;
    try {
      checkKey(`${folder}x`);
      start = keyToPath(folder).slice(0, -1).join('/');
    } catch {
      return []; // no key the store keeps starts with this prefix
    }
    return filesUnder(join(this.root, bucket), start)
      .map(pathToKey)
      .filter((key): key is string => key?.startsWith(prefix) === true)
      .map((key) => Buffer.from(key))
      .sort(Buffer.compare)
      .map((key) => key.toString());
  }

  /**
   * The one way from a bucket and key to file paths: every object operation comes through here, so the
   * bucket must exist and the key must be one the store keeps before any file is touched.
   */
  objectPaths(bucket: string, key: string): ObjectPaths {
    this.requireBucket(bucket);
    checkKey(key);
    return this.storedPaths(bucket, key);
  }

  /** Paths of a checked key, or one found on disk (by `recover`), which is inside the store by construction. */
  private storedPaths(bucket: string, key: string): ObjectPaths {
    const names = keyToPath(key);
    return {
      bytes: join(this.root, bucket, ...names),
      metadata: `${join(this.root, METADATA_DIR, bucket, ...names)}${METADATA_SUFFIX}`,
      pending: `${join(this.root, PENDING_DIR, bucket, ...names)}${METADATA_SUFFIX}`,
    };
  }

  tempPath(): string {
    return join(this.root, TEMP_DIR, randomBytes(12).toString('hex'));
  }

  private ensureDirectory(directory: string): void {
    if (this.knownDirectories.has(directory)) return;
    mkdirSync(directory, { recursive: true });
    this.knownDirectories.add(directory);
  }

  requireBucket(bucket: string): void {
    if (!this.bucketExists(bucket))
      throw new StoreError('NoSuchBucket', 404, `The specified bucket ${bucket} does not exist.`);
  }
}

/**
 * The files below `start` (a `/`-separated folder inside `root`, or '' for all of it), as `/`-separated
 * paths relative to `root`; none when the folder does not exist.
 */
function filesUnder(root: string, start: string): string[] {
  let entries: Dirent[];
  try {
    entries = readdirSync(start === '' ? root : join(root, ...start.split('/')), {
      recursive: true,
      withFileTypes: true,
    });
  } catch {
    return [];
  }
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) =>
      join(entry.parentPath, entry.name)
        .slice(root.length + 1)
        .split(sep)
        .join('/'),
    );
}

/**
 * The entry a key lists as: itself, or the common prefix up to and including the first delimiter after
 * the prefix (a folder marker `a/` listed with delimiter `/` is the common prefix `a/`, not a key).
 */
function rollUp(
  key: string,
  prefix: string,
  delimiter: string | undefined,
): { listed: string; rolledUp: boolean } {
  const at = delimiter === undefined || delimiter === '' ? -1 : key.indexOf(delimiter, prefix.length);
  return at === -1
    ? { listed: key, rolledUp: false }
    : { listed: key.slice(0, at + (delimiter ?? '').length), rolledUp: true };
}

function readJson(path: string): StoredObject | undefined {
  try {
    return storedObjectSchema.parse(JSON.parse(readFileSync(path, 'utf8')));
  } catch {
    return undefined;
  }
}

function roundToSecond(date: Date): string {
  // S3 reports whole seconds; rounding here keeps HEAD, GET and LIST in agreement.
  return new Date(Math.floor(date.getTime() / 1000) * 1000).toISOString();
}
