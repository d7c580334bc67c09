import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { z } from 'zod';
import { StoreError } from './errors.js';
import { type ObjectHeaders, type ObjectPaths, objectHeadersSchema, type StoredObject } from './records.js';
import { writeHashed } from './write.js';

/** What the uploads need of the store they complete into (`FileObjectStore`, which holds them). */
interface UploadsStore {
  readonly root: string;
  tempPath(): string;
  cannotWrite(error: unknown, path: string): unknown;
  requireBucket(bucket: string): void;
  objectPaths(bucket: string, key: string): ObjectPaths;
  head(bucket: string, key: string): Promise<StoredObject>;
  commit(
    key: string,
    paths: ObjectPaths,
    temp: string,
    hashes: { etag: string; md5: string; parts?: readonly number[]; uploadId?: string },
    headers: ObjectHeaders,
  ): StoredObject;
}

export const UPLOADS_DIR = '.uploads';
const MIN_PART_BYTES = 5 * 1024 * 1024;

/** A multipart upload's state file: where it goes and the headers its object will carry. */
const uploadStateSchema = z.object({
  bucket: z.string(),
  key: z.string(),
  headers: objectHeadersSchema,
  initiated: z.string().exactOptional(),
});

/**
 * Multipart uploads of a `FileObjectStore`: parts live under `.uploads/<id>/part-<n>` until the
 * upload is completed (the parts are joined into a temporary file and committed as any PUT) or aborted.
 */
export class FileUploads {
  constructor(private readonly store: UploadsStore) {}

  create(bucket: string, key: string, headers: ObjectHeaders): string {
    this.store.objectPaths(bucket, key); // refuse a key the store cannot keep now, not at completion
    const uploadId = randomBytes(16).toString('hex');
    const folder = join(this.store.root, UPLOADS_DIR, uploadId);
    try {
      mkdirSync(folder, { recursive: true });
      const state = { bucket, key, headers, initiated: new Date().toISOString() };
      // Written last: an upload exists once its state file does.
      const temp = this.store.tempPath();
      writeFileSync(temp, JSON.stringify(state));
      renameSync(temp, join(folder, 'upload.json'));
    } catch (error) {
      rmSync(folder, { recursive: true, force: true });
      throw this.store.cannotWrite(error, folder);
    }
    return uploadId;
  }

  /** Stores one part (from a request body, or a range of another object for UploadPartCopy). */
  async putPart(
    bucket: string,
    key: string,
    uploadId: string,
    part: number,
    body: Buffer | Readable,
  ): Promise<{ etag: string; lastModified: string }> {
    const folder = await this.folder(bucket, key, uploadId);
    const temp = this.store.tempPath();
    const path = join(folder, `part-${part}`);
    try {
      const etag = await writeHashed(body, temp);
      await rename(temp, path);
      return { etag, lastModified: (await stat(path)).mtime.toISOString() };
    } catch (error) {
      throw this.store.cannotWrite(error, path);
    } finally {
      await rm(temp, { force: true });
    }
  }

  /** The uploads in progress for a bucket, oldest first. */
  async list(bucket: string): Promise<{ key: string; uploadId: string; initiated: string }[]> {
    this.store.requireBucket(bucket);
    const ids = await readdir(join(this.store.root, UPLOADS_DIR)).catch(() => [] as string[]);
    const uploads: { key: string; uploadId: string; initiated: string }[] = [];
    for (const uploadId of ids) {
      const state = await this.state(uploadId).catch(() => undefined);
      if (state?.bucket === bucket)
        uploads.push({ key: state.key, uploadId, initiated: state.initiated ?? new Date(0).toISOString() });
    }
    return uploads.sort((a, b) =>
      a.key === b.key ? a.initiated.localeCompare(b.initiated) : a.key < b.key ? -1 : 1,
    );
  }

  /** The parts uploaded so far, in part-number order. */
  async parts(bucket: string, key: string, uploadId: string) {
    const folder = await this.folder(bucket, key, uploadId);
    const parts = [];
    for (const name of await readdir(folder)) {
      if (!name.startsWith('part-')) continue;
      const bytes = await readFile(join(folder, name));
      parts.push({
        partNumber: Number(name.slice('part-'.length)),
        etag: createHash('md5').update(bytes).digest('hex'),
        size: bytes.length,
        lastModified: (await stat(join(folder, name))).mtime.toISOString(),
      });
    }
    return parts.sort((a, b) => a.partNumber - b.partNumber);
  }

  /**
   * Joins the listed parts into the object. Completing an upload again (a client retrying after a lost
   * answer) answers as the first time did while the object it made is still there, as S3 does.
   */
  async complete(
    bucket: string,
    key: string,
    uploadId: string,
    parts: readonly { partNumber: number; etag: string }[],
  ): Promise<StoredObject> {
    const found = await this.folder(bucket, key, uploadId).catch(async (error: unknown) => {
      const existing = await this.store.head(bucket, key).catch(() => undefined);
      const digests = Buffer.concat(parts.map((part) => Buffer.from(part.etag.replaceAll('"', ''), 'hex')));
      const etag = `${createHash('md5').update(digests).digest('hex')}-${parts.length}`;
      if (existing?.etag === etag && existing.uploadId === uploadId) return existing;
      throw error;
    });
    if (typeof found !== 'string') return found;
    const folder = found;
    const state = await this.state(uploadId);
    if (parts.length === 0)
      throw new StoreError('MalformedXML', 400, 'CompleteMultipartUpload must list at least one part.');
    for (const [index, part] of parts.entries())
      if (index > 0 && part.partNumber <= (parts[index - 1]?.partNumber ?? 0))
        throw new StoreError('InvalidPartOrder', 400, 'The list of parts was not in ascending order.');
    const temp = this.store.tempPath();
    const partDigests: Buffer[] = [];
    const sizes: number[] = [];
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
        sizes.push(bytes.length);
        yield bytes;
      }
    }
    const paths = this.store.objectPaths(bucket, key);
    try {
      const md5 = await writeHashed(Readable.from(checkedParts()), temp);
      const etag = `${createHash('md5').update(Buffer.concat(partDigests)).digest('hex')}-${parts.length}`;
      const object = this.store.commit(
        key,
        paths,
        temp,
        { etag, md5, parts: sizes, uploadId },
        state.headers,
      );
      await rm(folder, { recursive: true, force: true });
      return object;
    } catch (error) {
      throw this.store.cannotWrite(error, paths.bytes);
    } finally {
      await rm(temp, { force: true });
    }
  }

  async abort(bucket: string, key: string, uploadId: string): Promise<void> {
    const folder = await this.folder(bucket, key, uploadId);
    await rm(folder, { recursive: true, force: true });
  }

  private async state(uploadId: string): Promise<z.infer<typeof uploadStateSchema>> {
    const path = join(this.store.root, UPLOADS_DIR, uploadId, 'upload.json');
    return uploadStateSchema.parse(JSON.parse(await readFile(path, 'utf8')));
  }

  private async folder(bucket: string, key: string, uploadId: string): Promise<string> {
    this.store.requireBucket(bucket);
    if (/^[0-9a-f]{32}$/.test(uploadId)) {
      const state = await this.state(uploadId).catch(() => undefined);
      if (state?.bucket === bucket && state.key === key) return join(this.store.root, UPLOADS_DIR, uploadId);
    }
    throw new StoreError('NoSuchUpload', 404, `The specified multipart upload ${uploadId} does not exist.`);
  }
}
