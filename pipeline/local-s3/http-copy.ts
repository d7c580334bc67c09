import { StoreError } from './errors.js';
import type { FileObjectStore, StoredObject } from './files.js';
import { decodePath, header, NAMESPACE, type S3Request, sendXml } from './http-common.js';
import { objectHeadersFrom, readPreconditions } from './http-objects.js';
import { objectHeadersSchema } from './records.js';

/**
 * CopyObject: the source's bytes under the target key, with the source's headers (`x-amz-metadata-directive:
 * COPY`, the default) or the request's (`REPLACE`). As S3, copying an object onto itself without
 * replacing its metadata is refused (it would change nothing).
 */
export async function copyObject(store: FileObjectStore, call: S3Request): Promise<void> {
  const { request, response, bucket, key } = call;
  const source = await copySource(store, call);
  const directive = header(request, 'x-amz-metadata-directive') ?? 'COPY';
  if (directive !== 'COPY' && directive !== 'REPLACE')
    throw new StoreError(
      'InvalidArgument',
      400,
      `Unknown metadata directive ${directive}: use COPY or REPLACE.`,
    );
  if (source.bucket === bucket && source.key === key && directive === 'COPY')
    throw new StoreError(
      'InvalidRequest',
      400,
      'This copy request is illegal because it is trying to copy an object to itself without changing the ' +
        "object's metadata, storage class, website redirect location or encryption attributes.",
    );
  store.objectPaths(bucket, key); // the target key is checked before the source is read
  // COPY keeps the source's headers: the schema drops its size and hashes.
  const object = await store.put(
    bucket,
    key,
    store.read(source.bucket, source.key),
    directive === 'REPLACE' ? objectHeadersFrom(request.headers) : objectHeadersSchema.parse(source.object),
  );
  sendXml(response, 200, {
    CopyObjectResult: { '@_xmlns': NAMESPACE, ETag: `"${object.etag}"`, LastModified: object.lastModified },
  });
}

/**
 * UploadPartCopy: a part of a multipart upload taken from another object, whole or the bytes
 * `x-amz-copy-source-range: bytes=first-last` name (how the AWS CLI and boto3 copy objects over 8 MB).
 */
export async function uploadPartCopy(store: FileObjectStore, call: S3Request, part: number): Promise<void> {
  const { request, response, bucket, key, query } = call;
  const source = await copySource(store, call);
  const rangeHeader = header(request, 'x-amz-copy-source-range');
  let range: { start: number; end: number } | undefined;
  if (rangeHeader !== undefined) {
    const match = /^bytes=(\d+)-(\d+)$/.exec(rangeHeader.trim());
    if (match === null)
      throw new StoreError(
        'InvalidArgument',
        400,
        `x-amz-copy-source-range must be bytes=first-last, not ${rangeHeader}.`,
      );
    range = { start: Number(match[1]), end: Number(match[2]) };
    if (range.end < range.start || range.end >= source.object.size)
      throw new StoreError(
        'InvalidRange',
        416,
        `The range ${rangeHeader} is not within the source object's ${source.object.size} bytes.`,
      );
  }
  const copied =
    source.object.size === 0
      ? Buffer.alloc(0)
      : store.read(source.bucket, source.key, range ?? { start: 0, end: source.object.size - 1 });
  const { etag, lastModified } = await store.uploads.putPart(
    bucket,
    key,
    query.get('uploadId') ?? '',
    part,
    copied,
  );
  sendXml(response, 200, {
    CopyPartResult: { '@_xmlns': NAMESPACE, ETag: `"${etag}"`, LastModified: lastModified },
  });
}

/**
 * The object `x-amz-copy-source` names (`bucket/key` or `/bucket/key`, percent-encoded, with an optional
 * `?versionId=null`), after its `x-amz-copy-source-if-*` conditions: any failing one is 412.
 */
async function copySource(
  store: FileObjectStore,
  { request }: S3Request,
): Promise<{ bucket: string; key: string; object: StoredObject }> {
  const value = header(request, 'x-amz-copy-source') ?? '';
  const [path = '', version] = value.split('?');
  const source = decodePath(path).replace(/^\//, '');
  const slash = source.indexOf('/');
  if (slash < 1 || slash === source.length - 1)
    throw new StoreError('InvalidArgument', 400, `x-amz-copy-source must be bucket/key, not ${value}.`);
  if (version !== undefined && version !== 'versionId=null')
    throw new StoreError('InvalidArgument', 400, `The store keeps no versions: cannot copy ${value}.`);
  const bucket = source.slice(0, slash);
  const key = source.slice(slash + 1);
  const object = await store.head(bucket, key);
  if (readPreconditions(request, object, 'x-amz-copy-source-if-') !== 0)
    throw new StoreError('PreconditionFailed', 412, 'At least one copy-source precondition failed.');
  return { bucket, key, object };
}
