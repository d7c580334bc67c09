import { pipeline } from 'node:stream/promises';
import { noSuchKey, notImplemented, StoreError } from './errors.js';
import type { FileObjectStore, ObjectHeaders, StoredObject } from './files.js';
import { readXmlBody, verifiedBody } from './http-body.js';
import { header, NAMESPACE, parseXml, requestIdHeaders, type S3Request, sendXml } from './http-common.js';

/** PutObject, with S3's conditional writes: `If-None-Match: *` and `If-Match: "etag"`. */
export async function putObject(store: FileObjectStore, call: S3Request): Promise<void> {
  const { request, response, bucket, key } = call;
  store.objectPaths(bucket, key); // the key is checked before the body is read
  await checkWritePreconditions(store, call);
  const object = await store.put(
    bucket,
    key,
    await verifiedBody(request),
    objectHeadersFrom(request.headers),
  );
  response.writeHead(200, { ETag: `"${object.etag}"`, ...requestIdHeaders() }).end();
}

/**
 * GetObject and HeadObject: ranges, conditional reads, `partNumber` (the bytes of one part of a
 * multipart upload, part 1 being the whole of any other object) and the `response-*` overrides.
 */
export async function getObject(store: FileObjectStore, call: S3Request): Promise<void> {
  const { request, response, bucket, key, query } = call;
  const object = await store.head(bucket, key);
  const headers: Record<string, string> = {
    ETag: `"${object.etag}"`,
    'Last-Modified': new Date(object.lastModified).toUTCString(),
    'Accept-Ranges': 'bytes',
    'Content-Type': object.contentType ?? 'binary/octet-stream',
    ...requestIdHeaders(),
  };
  const stored: [string, string | undefined][] = [
    ['Content-Encoding', object.contentEncoding],
    ['Content-Disposition', object.contentDisposition],
    ['Content-Language', object.contentLanguage],
    ['Cache-Control', object.cacheControl],
    ['Expires', object.expires],
  ];
  for (const [name, value] of stored) if (value !== undefined) headers[name] = value;
  for (const [name, value] of Object.entries(object.userMetadata)) headers[`x-amz-meta-${name}`] = value;
  for (const name of RESPONSE_OVERRIDES) {
    const value = query.get(`response-${name}`);
    if (value !== null)
      headers[
        name.replace(/(^|-)([a-z])/g, (_match, dash: string, letter: string) => dash + letter.toUpperCase())
      ] = value;
  }

  const precondition = readPreconditions(request, object);
  if (precondition === 412)
    throw new StoreError('PreconditionFailed', 412, 'At least one precondition failed.');
  if (precondition === 304) {
    response.writeHead(304, headers).end();
    return;
  }
  let range = parseRange(header(request, 'range'), object.size);
  const partNumber = query.get('partNumber');
  if (partNumber !== null) {
    const part = Number(partNumber);
    const sizes = object.parts ?? [object.size];
    if (!Number.isInteger(part) || part < 1 || part > sizes.length)
      throw new StoreError(
        'InvalidPart',
        400,
        `The object has ${sizes.length} part(s), not a part ${partNumber}.`,
      );
    const start = sizes.slice(0, part - 1).reduce((sum, size) => sum + size, 0);
    range = { start, end: start + (sizes[part - 1] ?? 0) - 1 };
    headers['x-amz-mp-parts-count'] = String(sizes.length);
  }
  if (range === 'unsatisfiable') {
    response.setHeader('Content-Range', `bytes */${object.size}`);
    throw new StoreError('InvalidRange', 416, 'The requested range is not satisfiable.');
  }
  const length = range === undefined ? object.size : range.end - range.start + 1;
  headers['Content-Length'] = String(length);
  if (range !== undefined && length > 0)
    headers['Content-Range'] = `bytes ${range.start}-${range.end}/${object.size}`;
  response.writeHead(range === undefined ? 200 : 206, headers);
  if (request.method === 'HEAD' || length === 0) {
    response.end();
    return;
  }
  // pipeline(), not pipe(): it destroys the file stream (closing its descriptor) whichever way the
  // response ends, including a client hanging up before the body is all sent.
  await pipeline(store.read(bucket, key, range), response).catch(() => undefined);
}

/** The headers GetObject's `response-<header>` query parameters replace. */
const RESPONSE_OVERRIDES = [
  'content-type',
  'content-language',
  'expires',
  'cache-control',
  'content-disposition',
  'content-encoding',
];
export const RESPONSE_PARAMETERS = RESPONSE_OVERRIDES.map((name) => `response-${name}`);

export async function deleteObject(
  store: FileObjectStore,
  { response, bucket, key }: S3Request,
): Promise<void> {
  await store.delete(bucket, key);
  response.writeHead(204, requestIdHeaders()).end();
}

/**
 * DeleteObjects: a `<Delete>` of 1 to 1000 `<Object>`s, each with a `<Key>` (its XML references decoded
 * like any XML body's) and, the store keeping no versions, no `<VersionId>` but `null`. Anything else is
 * refused whole, before any key is acted on; a key the store cannot keep is an error for that key alone.
 */
export async function deleteObjects(store: FileObjectStore, call: S3Request): Promise<void> {
  const { request, response, bucket } = call;
  const parsed = parseXml(await readXmlBody(request)) as {
    Delete?: { Object?: { Key?: unknown; VersionId?: unknown }[]; Quiet?: unknown };
  };
  const objects = parsed.Delete?.Object;
  if (objects === undefined || objects.length === 0 || objects.length > 1000)
    throw new StoreError(
      'MalformedXML',
      400,
      'DeleteObjects takes a <Delete> of 1 to 1000 <Object> elements.',
    );
  if (!objects.every((object) => typeof object.Key === 'string' && object.Key !== ''))
    throw new StoreError('MalformedXML', 400, 'Each <Object> of DeleteObjects needs a non-empty <Key>.');
  store.requireBucket(bucket);
  const deleted: { Key: string }[] = [];
  const errors: { Key: string; Code: string; Message: string }[] = [];
  for (const { Key: key, VersionId: versionId } of objects as { Key: string; VersionId?: unknown }[]) {
    try {
      if (versionId !== undefined && versionId !== 'null')
        throw new StoreError('NoSuchVersion', 404, `The store keeps no versions: no version ${versionId}.`);
      await store.delete(bucket, key);
      deleted.push({ Key: key });
    } catch (error) {
      if (!(error instanceof StoreError) || error.code === 'NoSuchBucket') throw error;
      errors.push({ Key: key, Code: error.code, Message: error.message });
    }
  }
  const quiet = parsed.Delete?.Quiet === 'true';
  sendXml(response, 200, {
    DeleteResult: { '@_xmlns': NAMESPACE, ...(quiet ? {} : { Deleted: deleted }), Error: errors },
  });
}

/** 412, 304 or 0 (go on), from If-Match, If-None-Match, If-Unmodified-Since and If-Modified-Since. */
export function readPreconditions(
  request: S3Request['request'],
  object: StoredObject,
  prefix = 'if-',
): 412 | 304 | 0 {
  const etag = `"${object.etag}"`;
  const modified = Date.parse(object.lastModified);
  const ifMatch = header(request, `${prefix}match`);
  const ifNoneMatch = header(request, `${prefix}none-match`);
  const ifUnmodifiedSince = header(request, `${prefix}unmodified-since`);
  const ifModifiedSince = header(request, `${prefix}modified-since`);
  const matches = (list: string) =>
    list.split(',').some((tag) => [etag, object.etag, '*'].includes(tag.trim()));
  if (ifMatch !== undefined && !matches(ifMatch)) return 412;
  if (ifMatch === undefined && ifUnmodifiedSince !== undefined && modified > Date.parse(ifUnmodifiedSince))
    return 412;
  if (ifNoneMatch !== undefined && matches(ifNoneMatch)) return 304;
  if (ifNoneMatch === undefined && ifModifiedSince !== undefined && modified <= Date.parse(ifModifiedSince))
    return 304;
  return 0;
}

/**
 * Conditional writes (PutObject, CompleteMultipartUpload): `If-None-Match: *` fails with 412 when the
 * key exists; `If-Match` fails with 412 when the ETag differs and 404 `NoSuchKey` when there is no object.
 */
export async function checkWritePreconditions(
  store: FileObjectStore,
  { request, bucket, key }: S3Request,
): Promise<void> {
  const ifNoneMatch = header(request, 'if-none-match');
  const ifMatch = header(request, 'if-match');
  if (ifNoneMatch === undefined && ifMatch === undefined) return;
  const existing = await store.head(bucket, key).catch((error: unknown) => {
    if (error instanceof StoreError && error.code === 'NoSuchKey') return undefined;
    throw error;
  });
  if (ifNoneMatch !== undefined && ifNoneMatch.trim() !== '*')
    throw notImplemented(`If-None-Match: ${ifNoneMatch} on a write (S3 takes only If-None-Match: *)`);
  if (ifNoneMatch !== undefined && existing !== undefined)
    throw new StoreError('PreconditionFailed', 412, `${key} already exists (If-None-Match: *).`);
  if (ifMatch !== undefined) {
    if (existing === undefined) throw noSuchKey(key);
    const tags = ifMatch.split(',').map((tag) => tag.trim().replaceAll('"', ''));
    if (!tags.includes(existing.etag) && !tags.includes('*'))
      throw new StoreError('PreconditionFailed', 412, `${key} has changed (If-Match).`);
  }
}

export function parseRange(
  value: string | undefined,
  size: number,
): { start: number; end: number } | 'unsatisfiable' | undefined {
  const match = value === undefined ? null : /^bytes=(\d*)-(\d*)$/.exec(value.trim());
  if (match === null) return undefined; // absent, or several ranges: S3 sends the whole object
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return undefined;
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  if (start >= size) return 'unsatisfiable';
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (end < start) return undefined;
  return { start, end };
}

/**
 * What an object keeps of the headers it was written with: content type, encoding (without the
 * transfer-only `aws-chunked`), disposition, language, cache control, expiry, and the `x-amz-meta-*`
 * user metadata.
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
    contentLanguage: text('content-language'),
    cacheControl: text('cache-control'),
    expires: text('expires'),
  };
  return {
    userMetadata,
    ...Object.fromEntries(Object.entries(optional).filter(([, value]) => value !== undefined)),
  };
}
