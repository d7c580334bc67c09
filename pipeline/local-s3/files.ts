import { createHash, randomBytes } from 'node:crypto';
import {
  createReadStream,
  createWriteStream,
  type Dirent,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  type WriteStream,
  writeFileSync,
} from 'node:fs';
import { lstat, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';

/** What the store keeps beside an object's bytes; the metadata file's presence is the commit record. */
/** The headers an object keeps from its PUT (or its multipart upload's start). */
const objectHeadersSchema = z.object({
  contentType: z.string().exactOptional(),
  contentEncoding: z.string().exactOptional(),
  contentDisposition: z.string().exactOptional(),
  cacheControl: z.string().exactOptional(),
  /** `x-amz-meta-*` headers, names lower-cased without the prefix. */
  userMetadata: z.record(z.string(), z.string()).readonly(),
});

/** An object's metadata file (written beside its bytes, read back on every request). */
export const storedObjectSchema = z
  .object({
    key: z.string(),
    size: z.number().int().nonnegative(),
    /** S3's ETag without quotes: the MD5 of the bytes, or of the parts' MD5s with `-N` for multipart. */
    etag: z.string(),
    /** The MD5 of the whole object in hex (the ETag of a multipart upload is not). */
    md5: z.string(),
    lastModified: z.string(),
    ...objectHeadersSchema.shape,
  })
  .readonly();
export type StoredObject = z.infer<typeof storedObjectSchema>;

export type ObjectHeaders = Omit<StoredObject, 'key' | 'size' | 'etag' | 'md5' | 'lastModified'>;

export class StoreError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const METADATA_DIR = '.metadata';
const PENDING_DIR = '.pending';
const UPLOADS_DIR = '.uploads';
const TEMP_DIR = '.tmp';
const MIN_PART_BYTES = 5 * 1024 * 1024;

/**
 * An S3 bucket kept as plain files, so a user can look at what the pipeline staged: the bytes of
 * `s3://bucket/key` are at `<root>/<bucket>/<key>`, its metadata at `<root>/.metadata/<bucket>/<key>.json`.
 * A write lands in a temporary file, then commits in three steps: the new metadata is written to
 * `.pending/<bucket>/<key>.json`, the bytes are renamed into place (the commit point), and the pending
 * metadata is renamed over the old. A process killed anywhere in between leaves the old object or the new
 * one, and `recover()` (run at every start) tells which by the bytes' MD5 and finishes or undoes the step.
 * Bucket names cannot start with a dot, so the store's own folders never collide with a bucket.
 */
export class FileObjectStore {
  private readonly knownDirectories = new Set<string>();

  constructor(readonly root: string) {
    mkdirSync(join(root, TEMP_DIR), { recursive: true });
  }

  bucketExists(bucket: string): boolean {
    return validBucketName(bucket) && existsSync(join(this.root, bucket));
  }

  createBucket(bucket: string): void {
    if (!validBucketName(bucket))
      throw new StoreError(
        'InvalidBucketName',
        400,
        `The bucket name "${bucket}" is not valid: 3 to 63 lower-case letters, digits, dots and hyphens, ` +
          'starting and ending with a letter or digit.',
      );
    mkdirSync(join(this.root, bucket), { recursive: true });
    mkdirSync(join(this.root, METADATA_DIR, bucket), { recursive: true });
  }

  buckets(): { name: string; created: Date }[] {
    return readdirSync(this.root, { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && !entry.name.startsWith('.'))
      .map((entry) => ({ name: entry.name, created: statSync(join(this.root, entry.name)).birthtime }))
      .sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  deleteBucket(bucket: string): void {
    this.requireBucket(bucket);
    if (this.keysUnder(bucket, '').length > 0)
      throw new StoreError('BucketNotEmpty', 409, `The bucket ${bucket} is not empty.`);
    rmSync(join(this.root, bucket), { recursive: true, force: true });
    rmSync(join(this.root, METADATA_DIR, bucket), { recursive: true, force: true });
    rmSync(join(this.root, PENDING_DIR, bucket), { recursive: true, force: true });
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
   * Other errors are returned unchanged.
   */
  private cannotWrite(error: unknown, path: string): unknown {
    const code = (error as NodeJS.ErrnoException | null)?.code;
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
    const object = this.readMetadata(this.objectPaths(bucket, key));
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
    // A key whose path is a folder (it holds other keys) is no object: deleting it deletes nothing, as
    // deleting any absent key does in S3.
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
    const keys = this.keysUnder(bucket, prefix);
    const after = startAfter === undefined ? undefined : Buffer.from(startAfter);
    const objects: StoredObject[] = [];
    const commonPrefixes: string[] = [];
    let last: string | undefined;
    for (const key of keys) {
      const entry = rollUp(key, prefix, delimiter);
      if (after !== undefined && Buffer.compare(Buffer.from(entry), after) <= 0) continue;
      if (entry === commonPrefixes.at(-1)) continue;
      if (objects.length + commonPrefixes.length === maxKeys)
        return { objects, commonPrefixes, truncated: true, ...(last === undefined ? {} : { last }) };
      if (entry !== key) commonPrefixes.push(entry);
      else {
        const object = this.readMetadata(this.objectPaths(bucket, key));
        if (object === undefined) continue;
        objects.push(object);
      }
      last = entry;
    }
    return { objects, commonPrefixes, truncated: false, ...(last === undefined ? {} : { last }) };
  }

  async copy(
    from: { bucket: string; key: string },
    to: { bucket: string; key: string },
    headers: ObjectHeaders | undefined,
  ): Promise<StoredObject> {
    const source = await this.head(from.bucket, from.key);
    const {
      key: _key,
      size: _size,
      etag: _etag,
      md5: _md5,
      lastModified: _lastModified,
      ...sourceHeaders
    } = source;
    return this.put(to.bucket, to.key, this.read(from.bucket, from.key), headers ?? sourceHeaders);
  }

  // Multipart uploads: parts live under .uploads/<id>/ until completed or aborted.

  createUpload(bucket: string, key: string, headers: ObjectHeaders): string {
    this.objectPaths(bucket, key); // refuse a key the store cannot keep now, not at completion
    const uploadId = randomBytes(16).toString('hex');
    const folder = join(this.root, UPLOADS_DIR, uploadId);
    try {
      mkdirSync(folder, { recursive: true });
      const state: UploadState = { bucket, key, headers };
      // Written last: an upload exists once its state file does.
      writeFileSyncAtomic(join(folder, 'upload.json'), JSON.stringify(state), this.tempPath());
    } catch (error) {
      rmSync(folder, { recursive: true, force: true });
      throw this.cannotWrite(error, folder);
    }
    return uploadId;
  }

  async putPart(
    bucket: string,
    key: string,
    uploadId: string,
    part: number,
    body: Buffer | Readable,
  ): Promise<string> {
    const folder = await this.upload(bucket, key, uploadId);
    const temp = this.tempPath();
    try {
      const etag = await writeHashed(body, temp);
      await rename(temp, join(folder, `part-${part}`));
      return etag;
    } catch (error) {
      throw this.cannotWrite(error, join(folder, `part-${part}`));
    } finally {
      await rm(temp, { force: true });
    }
  }

  async completeUpload(
    bucket: string,
    key: string,
    uploadId: string,
    parts: readonly { partNumber: number; etag: string }[],
  ): Promise<StoredObject> {
    const folder = await this.upload(bucket, key, uploadId);
    const state = uploadStateSchema.parse(JSON.parse(await readFile(join(folder, 'upload.json'), 'utf8')));
    if (parts.length === 0)
      throw new StoreError('MalformedXML', 400, 'CompleteMultipartUpload must list at least one part.');
    for (const [index, part] of parts.entries())
      if (index > 0 && part.partNumber <= (parts[index - 1]?.partNumber ?? 0))
        throw new StoreError('InvalidPartOrder', 400, 'The list of parts was not in ascending order.');
    const temp = this.tempPath();
    const partDigests: Buffer[] = [];
    async function* checkedParts(): AsyncGenerator<Buffer> {
      for (const [index, part] of parts.entries()) {
        const bytes = await readFile(join(folder, `part-${part.partNumber}`)).catch(() => undefined);
        const digest = bytes === undefined ? undefined : createHash('md5').update(bytes).digest();
        if (bytes === undefined || digest?.toString('hex') !== part.etag.replaceAll('"', ''))
          throw new StoreError(
            'InvalidPart',
            400,
            `Part ${part.partNumber} was not uploaded, or its ETag ${part.etag} does not match.`,
          );
        if (index < parts.length - 1 && bytes.length < MIN_PART_BYTES)
          throw new StoreError(
            'EntityTooSmall',
            400,
            `Part ${part.partNumber} is ${bytes.length} bytes; every part but the last must be at least 5 MiB.`,
          );
        partDigests.push(digest as Buffer);
        yield bytes;
      }
    }
    const paths = this.objectPaths(bucket, key);
    try {
      const md5 = await writeHashed(Readable.from(checkedParts()), temp);
      const etag = `${createHash('md5').update(Buffer.concat(partDigests)).digest('hex')}-${parts.length}`;
      const object = this.commit(key, paths, temp, { etag, md5 }, state.headers);
      await rm(folder, { recursive: true, force: true });
      return object;
    } catch (error) {
      throw this.cannotWrite(error, paths.bytes);
    } finally {
      await rm(temp, { force: true });
    }
  }

  async abortUpload(bucket: string, key: string, uploadId: string): Promise<void> {
    const folder = await this.upload(bucket, key, uploadId);
    await rm(folder, { recursive: true, force: true });
  }

  /**
   * Brings the files back to a consistent state after a process was killed, removing only files the
   * store itself writes: its temporary files, unfinished multipart uploads, pending metadata it has
   * settled, and metadata whose bytes are gone (a delete cut short). For each object with pending
   * metadata (a commit was interrupted), the bytes' MD5 says whether they are the new version (the
   * pending metadata replaces the old) or still the old one (the pending metadata is dropped). Bytes that
   * no metadata describes (a file a user put in the folder, or one changed since it was written) are
   * kept and reported, never removed: the store does not know what they are.
   * Returns what it removed (paths inside the store's folder) and what it kept (`bucket/key`).
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
      for (const key of this.keysUnder(bucket, '')) {
        if (!this.settle(bucket, key, remove)) kept.push(`${bucket}/${key}`);
      }
      // Metadata, committed or pending, whose bytes are gone (a delete, or a first write, cut short).
      for (const folder of [METADATA_DIR, PENDING_DIR]) {
        const metadataRoot = join(this.root, folder, bucket);
        for (const file of filesUnder(metadataRoot, '')) {
          if (!file.endsWith('.json')) continue;
          const key = file.slice(0, -'.json'.length);
          if (existsSync(join(this.root, bucket, ...key.split('/')))) continue;
          remove(join(metadataRoot, ...file.split('/')));
        }
      }
    }
    return { removed, kept };
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

  private commit(
    key: string,
    { bytes: bytesPath, metadata: metadataPath, pending: pendingPath }: ObjectPaths,
    temp: string,
    hashes: { etag: string; md5: string },
    headers: ObjectHeaders,
  ): StoredObject {
    const { size, mtime } = statSync(temp);
    const object: StoredObject = { key, size, ...hashes, lastModified: roundToSecond(mtime), ...headers };
    this.ensureDirectory(dirname(bytesPath), key);
    this.ensureDirectory(dirname(metadataPath), key);
    this.ensureDirectory(dirname(pendingPath), key);
    // `k.json` of key `k` is a folder when a key `k.json/...` exists: refuse before anything is written.
    for (const path of [metadataPath, pendingPath])
      if (statSync(path, { throwIfNoEntry: false })?.isDirectory()) throw conflictOr({ code: 'EISDIR' }, key);
    try {
      writeFileSync(pendingPath, JSON.stringify(object));
    } catch (error) {
      throw conflictOr(error, key);
    }
    try {
      renameSync(temp, bytesPath);
    } catch (error) {
      rmSync(pendingPath, { force: true });
      throw conflictOr(error, key);
    }
    renameSync(pendingPath, metadataPath);
    return object;
  }

  private readMetadata(paths: ObjectPaths): StoredObject | undefined {
    try {
      const object = storedObjectSchema.parse(JSON.parse(readFileSync(paths.metadata, 'utf8')));
      // The bytes must still be the ones described (they are replaced before the metadata).
      return statSync(paths.bytes).size === object.size ? object : undefined;
    } catch {
      return undefined;
    }
  }

  private async upload(bucket: string, key: string, uploadId: string): Promise<string> {
    const folder = join(this.root, UPLOADS_DIR, uploadId);
    if (!/^[0-9a-f]{32}$/.test(uploadId)) throw noSuchUpload(uploadId);
    try {
      const state = uploadStateSchema.parse(JSON.parse(await readFile(join(folder, 'upload.json'), 'utf8')));
      if (state.bucket === bucket && state.key === key) return folder;
    } catch {
      // fall through: no such upload
    }
    throw noSuchUpload(uploadId);
  }

  /** Every key in the bucket starting with `prefix`, in UTF-8 byte order. */
  private keysUnder(bucket: string, prefix: string): string[] {
    const folder = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    if (folder !== '' && !validKey(folder)) return [];
    return filesUnder(join(this.root, bucket), folder)
      .filter((key) => key.startsWith(prefix))
      .map((key) => Buffer.from(key))
      .sort(Buffer.compare)
      .map((key) => key.toString());
  }

  /**
   * The one way from a bucket and key to file paths: every object operation comes through here, so the
   * bucket must exist and the key must name a file inside it before any file is touched.
   */
  private objectPaths(bucket: string, key: string): ObjectPaths {
    this.requireBucket(bucket);
    if (!validKey(key))
      throw new StoreError(
        'InvalidArgument',
        400,
        `The local store keeps objects as files and cannot keep the key "${key}": it needs 1 to 1024 bytes, ` +
          "no empty, '.' or '..' path segment, no segment over 255 bytes and no NUL character.",
      );
    return this.storedPaths(bucket, key);
  }

  /** Paths of a key found on disk (by `recover`), which is inside the store by construction. */
  private storedPaths(bucket: string, key: string): ObjectPaths {
    const segments = key.split('/');
    return {
      bytes: join(this.root, bucket, ...segments),
      metadata: `${join(this.root, METADATA_DIR, bucket, ...segments)}.json`,
      pending: `${join(this.root, PENDING_DIR, bucket, ...segments)}.json`,
    };
  }

  private tempPath(): string {
    return join(this.root, TEMP_DIR, randomBytes(12).toString('hex'));
  }

  private ensureDirectory(directory: string, key: string): void {
    if (this.knownDirectories.has(directory)) return;
    try {
      mkdirSync(directory, { recursive: true });
    } catch (error) {
      throw conflictOr(error, key);
    }
    this.knownDirectories.add(directory);
  }

  private requireBucket(bucket: string): void {
    if (!this.bucketExists(bucket))
      throw new StoreError('NoSuchBucket', 404, `The specified bucket ${bucket} does not exist.`);
  }
}

interface ObjectPaths {
  readonly bytes: string;
  readonly metadata: string;
  readonly pending: string;
}

/** A multipart upload's state file: where it goes and the headers its object will carry. */
const uploadStateSchema = z.object({
  bucket: z.string(),
  key: z.string(),
  headers: objectHeadersSchema,
});
type UploadState = z.infer<typeof uploadStateSchema>;

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
 * What an object keeps of the headers it was written with: content type, encoding (without the
 * transfer-only `aws-chunked`), disposition, cache control, and the `x-amz-meta-*` user metadata.
 */
export function objectHeadersFrom(
  headers: Readonly<Record<string, string | string[] | undefined>>,
): ObjectHeaders {
  const text = (name: string) => {
    const value = headers[name];
    return Array.isArray(value) ? value.join(',') : value;
  };
  const userMetadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers))
    if (name.startsWith('x-amz-meta-') && typeof value === 'string')
      userMetadata[name.slice('x-amz-meta-'.length)] = value;
  const contentEncoding = (text('content-encoding') ?? '')
    .split(',')
    .map((token) => token.trim())
    .filter((token) => token !== '' && token !== 'aws-chunked')
    .join(', ');
  const optional = {
    contentType: text('content-type'),
    contentEncoding: contentEncoding === '' ? undefined : contentEncoding,
    contentDisposition: text('content-disposition'),
    cacheControl: text('cache-control'),
  };
  return {
    userMetadata,
    ...Object.fromEntries(Object.entries(optional).filter(([, value]) => value !== undefined)),
  };
}

/** S3's bucket naming rules; they also keep a name from reaching outside the store's folder. */
function validBucketName(bucket: string): boolean {
  return /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket) && !bucket.includes('..');
}

function validKey(key: string): boolean {
  if (key.length === 0 || Buffer.byteLength(key) > 1024 || key.includes('\0')) return false;
  return key
    .split('/')
    .every(
      (segment) => segment !== '' && segment !== '.' && segment !== '..' && Buffer.byteLength(segment) <= 255,
    );
}

/** The entry a key lists as: itself, or the common prefix up to and including the delimiter. */
function rollUp(key: string, prefix: string, delimiter: string | undefined): string {
  if (delimiter === undefined || delimiter === '') return key;
  const at = key.indexOf(delimiter, prefix.length);
  return at === -1 ? key : key.slice(0, at + delimiter.length);
}

function readJson(path: string): StoredObject | undefined {
  try {
    return storedObjectSchema.parse(JSON.parse(readFileSync(path, 'utf8')));
  } catch {
    return undefined;
  }
}

/** Writes the body to `path` and returns the MD5 of what was written, in hex. */
async function writeHashed(body: Buffer | Readable, path: string): Promise<string> {
  if (Buffer.isBuffer(body)) {
    writeFileSync(path, body);
    return createHash('md5').update(body).digest('hex');
  }
  const md5 = createHash('md5');
  await writeFileFrom(path, (file) =>
    pipeline(
      body,
      async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          md5.update(chunk);
          yield chunk;
        }
      },
      file,
    ),
  );
  return md5.digest('hex');
}

function writeFileSyncAtomic(path: string, text: string, temp: string): void {
  writeFileSync(temp, text);
  renameSync(temp, path);
}

function roundToSecond(date: Date): string {
  // S3 reports whole seconds; rounding here keeps HEAD, GET and LIST in agreement.
  return new Date(Math.floor(date.getTime() / 1000) * 1000).toISOString();
}

function conflictOr(error: unknown, key: string): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EISDIR' || code === 'ENOTDIR' || code === 'EEXIST')
    return new StoreError(
      'InvalidArgument',
      409,
      `The local store keeps objects as files and cannot keep "${key}" beside a key that needs its path, ` +
        'or the path of its metadata file (the key with ".json" added), as a folder.',
    );
  return error;
}

function noSuchKey(key: string): StoreError {
  return new StoreError('NoSuchKey', 404, `The specified key does not exist: ${key}`);
}

function noSuchUpload(uploadId: string): StoreError {
  return new StoreError('NoSuchUpload', 404, `The specified multipart upload ${uploadId} does not exist.`);
}

/**
 * Creates the file at `path` and lets `write` fill it. On failure it settles only once the file is
 * closed: `pipeline` rejects on the first error without waiting for the file's open, so a source that
 * fails at once would otherwise have the caller's cleanup run before the file exists. (The same helper
 * as pipeline/util/files.ts, kept here so this module imports nothing else of pipeline/.)
 */
async function writeFileFrom(path: string, write: (file: WriteStream) => Promise<void>): Promise<void> {
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
