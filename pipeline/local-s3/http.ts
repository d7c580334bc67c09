import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { crc32 } from 'node:zlib';
import { XMLBuilder, XMLParser, XMLValidator } from 'fast-xml-parser';
import {
  type FileObjectStore,
  type ObjectHeaders,
  objectHeadersFrom,
  type StoredObject,
  StoreError,
} from './files.js';
import { type LocalCredentials, SignatureError, type SignatureFault, verifySignature } from './signature.js';

/**
 * The local backend's S3-compatible server: the part of the S3 REST API (path-style addressing) the
 * pipeline, its Lambdas and a user's `aws s3` commands need, over a {@link FileObjectStore}.
 * Served: ListBuckets; CreateBucket, HeadBucket, DeleteBucket, GetBucketLocation, ListObjectsV2
 * (prefix, delimiter, start-after, continuation tokens, url encoding), DeleteObjects; PutObject (plain or
 * `aws-chunked` bodies, Content-MD5 and CRC32 checked, If-None-Match/If-Match), GetObject (ranges,
 * conditional requests), HeadObject, DeleteObject, CopyObject; CreateMultipartUpload, UploadPart,
 * CompleteMultipartUpload, AbortMultipartUpload. Anything else gets S3's `NotImplemented` naming it,
 * never a wrong answer. Every request must be signed (SigV4) with `credentials`, made at random at each
 * start, so another local user or a web page cannot use the store by finding its port.
 */
export function createObjectStoreServer(store: FileObjectStore, credentials: LocalCredentials): Server {
  return createServer((request, response) => {
    authorize(request, credentials)
      .then(() => handle(store, request, response))
      .catch((error: unknown) => {
        const storeError =
          error instanceof StoreError
            ? error
            : new StoreError('InternalError', 500, `The local store failed: ${(error as Error).message}`);
        sendError(request, response, storeError);
      });
  });
}

/** S3's answer to each kind of signature fault (its "Error responses" page, REST error codes). */
const SIGNATURE_ERRORS: Record<SignatureFault, [code: string, status: number]> = {
  missing: ['AccessDenied', 403],
  malformed: ['AuthorizationHeaderMalformed', 400],
  'unknown-key': ['InvalidAccessKeyId', 403],
  mismatch: ['SignatureDoesNotMatch', 403],
  skewed: ['RequestTimeTooSkewed', 403],
  expired: ['AccessDenied', 403],
};

/**
 * Refuses what a web page could send (browsers mark cross-site requests with `Origin` and
 * `Sec-Fetch-Site`; no S3 client does), then checks the request's signature.
 */
async function authorize(request: IncomingMessage, credentials: LocalCredentials): Promise<void> {
  const fetchSite = header(request, 'sec-fetch-site');
  if (header(request, 'origin') !== undefined || (fetchSite !== undefined && fetchSite !== 'none'))
    throw new StoreError('AccessDenied', 403, 'The local object store does not serve browser requests.');
  try {
    await verifySignature(
      { method: request.method ?? 'GET', target: request.url ?? '/', headers: request.headers },
      credentials,
      { service: 's3' },
    );
  } catch (error) {
    if (!(error instanceof SignatureError)) throw error;
    const [code, status] = SIGNATURE_ERRORS[error.fault];
    throw new StoreError(code, status, error.message);
  }
}

const NAMESPACE = 'http://s3.amazonaws.com/doc/2006-03-01/';
/** Query parameters that select no other operation; any other one names an operation not served. */
const PLAIN_PARAMETERS = new Set([
  'x-id',
  'list-type',
  'prefix',
  'delimiter',
  'max-keys',
  'continuation-token',
  'start-after',
  'encoding-type',
  'fetch-owner',
  'uploads',
  'uploadId',
  'partNumber',
  'delete',
  'location',
  'response-content-type',
  'response-content-disposition',
  'response-content-encoding',
  'response-cache-control',
]);

const xml = new XMLBuilder({ ignoreAttributes: false, suppressEmptyNode: false });
const xmlParser = new XMLParser({
  parseTagValue: false,
  trimValues: false,
  isArray: (name) => name === 'Part' || name === 'Object',
});

async function handle(
  store: FileObjectStore,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  // The path as sent: a URL parser would resolve `..` segments, and S3 keys are taken literally.
  const target = request.url ?? '/';
  const questionMark = target.indexOf('?');
  const pathname = questionMark === -1 ? target : target.slice(0, questionMark);
  const query = new URLSearchParams(questionMark === -1 ? '' : target.slice(questionMark + 1));
  // `X-Amz-*` parameters are a presigned URL's signature and hoisted headers, not subresources.
  const unsupported = [...query.keys()].find(
    (name) => !PLAIN_PARAMETERS.has(name) && !name.toLowerCase().startsWith('x-amz-'),
  );
  if (unsupported !== undefined) throw notImplemented(`the "${unsupported}" subresource`);
  if (!pathname.startsWith('/'))
    throw new StoreError('InvalidURI', 400, `Couldn't parse the specified URI: ${pathname}`);
  const slash = pathname.indexOf('/', 1);
  const bucket = decodePath(pathname.slice(1, slash === -1 ? undefined : slash));
  const key = slash === -1 ? '' : decodePath(pathname.slice(slash + 1));
  const method = request.method ?? 'GET';

  if (bucket === '') {
    if (method !== 'GET') throw methodNotAllowed(method);
    return listBuckets(store, response);
  }
  if (key === '') {
    if (method === 'PUT') {
      store.createBucket(bucket);
      response.writeHead(200, { Location: `/${bucket}`, ...requestIdHeaders() }).end();
      return;
    }
    if (method === 'HEAD') {
      if (!store.bucketExists(bucket)) throw new StoreError('NoSuchBucket', 404, `No bucket ${bucket}.`);
      response.writeHead(200, requestIdHeaders()).end();
      return;
    }
    if (method === 'DELETE') {
      store.deleteBucket(bucket);
      response.writeHead(204, requestIdHeaders()).end();
      return;
    }
    if (method === 'GET' && query.has('location')) {
      if (!store.bucketExists(bucket)) throw new StoreError('NoSuchBucket', 404, `No bucket ${bucket}.`);
      return sendXml(response, 200, { LocationConstraint: { '@_xmlns': NAMESPACE } });
    }
    if (method === 'GET') {
      if (query.get('list-type') !== '2')
        throw notImplemented('ListObjects (version 1); use ListObjectsV2 (`list-type=2`)');
      return listObjectsV2(store, bucket, query, response);
    }
    if (method === 'POST' && query.has('delete'))
      return deleteObjects(store, bucket, await readXmlBody(request), response);
    throw methodNotAllowed(method);
  }

  if (method === 'PUT') {
    const copySource = header(request, 'x-amz-copy-source');
    if (query.has('uploadId')) {
      if (copySource !== undefined) throw notImplemented('UploadPartCopy');
      const part = Number(query.get('partNumber'));
      if (!Number.isInteger(part) || part < 1 || part > 10000)
        throw new StoreError('InvalidArgument', 400, 'Part number must be an integer between 1 and 10000.');
      const etag = await store.putPart(
        bucket,
        key,
        query.get('uploadId') ?? '',
        part,
        await verifiedBody(request),
      );
      response.writeHead(200, { ETag: `"${etag}"`, ...requestIdHeaders() }).end();
      return;
    }
    if (copySource !== undefined) return copyObject(store, request, { bucket, key }, copySource, response);
    await checkWritePreconditions(store, request, bucket, key);
    const object = await store.put(bucket, key, await verifiedBody(request), objectHeaders(request));
    response.writeHead(200, { ETag: `"${object.etag}"`, ...requestIdHeaders() }).end();
    return;
  }
  if (method === 'GET' || method === 'HEAD') return getObject(store, request, bucket, key, query, response);
  if (method === 'DELETE') {
    if (query.has('uploadId')) await store.abortUpload(bucket, key, query.get('uploadId') ?? '');
    else await store.delete(bucket, key);
    response.writeHead(204, requestIdHeaders()).end();
    return;
  }
  if (method === 'POST' && query.has('uploads')) {
    const uploadId = store.createUpload(bucket, key, objectHeaders(request));
    return sendXml(response, 200, {
      InitiateMultipartUploadResult: { '@_xmlns': NAMESPACE, Bucket: bucket, Key: key, UploadId: uploadId },
    });
  }
  if (method === 'POST' && query.has('uploadId')) {
    const parsed = parseXml(await readXmlBody(request)) as {
      CompleteMultipartUpload?: { Part?: { PartNumber?: string; ETag?: string }[] };
    };
    const parts = (parsed.CompleteMultipartUpload?.Part ?? []).map((part) => ({
      partNumber: Number(part.PartNumber),
      etag: String(part.ETag ?? ''),
    }));
    const object = await store.completeUpload(bucket, key, query.get('uploadId') ?? '', parts);
    return sendXml(response, 200, {
      CompleteMultipartUploadResult: {
        '@_xmlns': NAMESPACE,
        Location: `/${bucket}/${key}`,
        Bucket: bucket,
        Key: key,
        ETag: `"${object.etag}"`,
      },
    });
  }
  throw methodNotAllowed(method);
}

function listBuckets(store: FileObjectStore, response: ServerResponse): void {
  sendXml(response, 200, {
    ListAllMyBucketsResult: {
      '@_xmlns': NAMESPACE,
      Owner: { ID: 'local', DisplayName: 'local' },
      Buckets: {
        Bucket: store.buckets().map((b) => ({ Name: b.name, CreationDate: b.created.toISOString() })),
      },
    },
  });
}

async function listObjectsV2(
  store: FileObjectStore,
  bucket: string,
  query: URLSearchParams,
  response: ServerResponse,
): Promise<void> {
  const prefix = query.get('prefix') ?? '';
  const delimiter = query.get('delimiter') ?? undefined;
  const maxKeysText = query.get('max-keys') ?? '1000';
  const maxKeys = Number(maxKeysText);
  if (!/^\d+$/.test(maxKeysText))
    throw new StoreError(
      'InvalidArgument',
      400,
      `max-keys must be a non-negative integer, not ${maxKeysText}.`,
    );
  const token = query.get('continuation-token') ?? undefined;
  const startAfter = query.get('start-after') ?? undefined;
  let after = startAfter;
  if (token !== undefined) {
    const decoded = Buffer.from(token, 'base64url').toString('utf8');
    if (!decoded.startsWith('k:'))
      throw new StoreError('InvalidArgument', 400, 'The continuation token provided is incorrect.');
    after = decoded.slice(2);
  }
  const page = await store.list(bucket, {
    prefix,
    ...(delimiter === undefined ? {} : { delimiter }),
    ...(after === undefined ? {} : { startAfter: after }),
    maxKeys: Math.min(maxKeys, 1000),
  });
  const encode =
    query.get('encoding-type') === 'url'
      ? (text: string) => encodeURIComponent(text).replaceAll('%2F', '/')
      : (text: string) => text;
  sendXml(response, 200, {
    ListBucketResult: {
      '@_xmlns': NAMESPACE,
      Name: bucket,
      Prefix: encode(prefix),
      ...(delimiter === undefined ? {} : { Delimiter: encode(delimiter) }),
      MaxKeys: String(maxKeys),
      KeyCount: String(page.objects.length + page.commonPrefixes.length),
      IsTruncated: String(page.truncated),
      ...(token === undefined ? {} : { ContinuationToken: token }),
      ...(page.truncated && page.last !== undefined
        ? { NextContinuationToken: Buffer.from(`k:${page.last}`).toString('base64url') }
        : {}),
      ...(startAfter === undefined ? {} : { StartAfter: encode(startAfter) }),
      ...(query.has('encoding-type') ? { EncodingType: query.get('encoding-type') } : {}),
      Contents: page.objects.map((object) => ({
        Key: encode(object.key),
        LastModified: object.lastModified,
        ETag: `"${object.etag}"`,
        Size: String(object.size),
        StorageClass: 'STANDARD',
      })),
      CommonPrefixes: page.commonPrefixes.map((common) => ({ Prefix: encode(common) })),
    },
  });
}

async function deleteObjects(
  store: FileObjectStore,
  bucket: string,
  body: Buffer,
  response: ServerResponse,
): Promise<void> {
  const parsed = parseXml(body) as { Delete?: { Object?: { Key?: unknown }[]; Quiet?: unknown } };
  const objects = parsed.Delete?.Object;
  // S3's schema: a Delete element with 1 to 1000 Object elements, each with a Key. Anything else is
  // refused whole, before any key is acted on.
  if (objects === undefined || objects.length === 0 || objects.length > 1000)
    throw new StoreError(
      'MalformedXML',
      400,
      'DeleteObjects takes a <Delete> of 1 to 1000 <Object> elements.',
    );
  const keys = objects.map((object) => object.Key);
  if (!keys.every((key): key is string => typeof key === 'string' && key !== ''))
    throw new StoreError('MalformedXML', 400, 'Each <Object> of DeleteObjects needs a non-empty <Key>.');
  const deleted: { Key: string }[] = [];
  const errors: { Key: string; Code: string; Message: string }[] = [];
  for (const key of keys) {
    try {
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

async function copyObject(
  store: FileObjectStore,
  request: IncomingMessage,
  target: { bucket: string; key: string },
  copySource: string,
  response: ServerResponse,
): Promise<void> {
  const source = decodePath(copySource.split('?')[0] ?? '').replace(/^\//, '');
  const slash = source.indexOf('/');
  if (slash < 1)
    throw new StoreError('InvalidArgument', 400, `x-amz-copy-source must be bucket/key, not ${copySource}.`);
  const replace = header(request, 'x-amz-metadata-directive') === 'REPLACE';
  const object = await store.copy(
    { bucket: source.slice(0, slash), key: source.slice(slash + 1) },
    target,
    replace ? objectHeaders(request) : undefined,
  );
  sendXml(response, 200, {
    CopyObjectResult: { '@_xmlns': NAMESPACE, ETag: `"${object.etag}"`, LastModified: object.lastModified },
  });
}

async function getObject(
  store: FileObjectStore,
  request: IncomingMessage,
  bucket: string,
  key: string,
  query: URLSearchParams,
  response: ServerResponse,
): Promise<void> {
  if (query.has('partNumber')) throw notImplemented('GetObject by part number');
  const object = await store.head(bucket, key);
  const headers: Record<string, string> = {
    ETag: `"${object.etag}"`,
    'Last-Modified': new Date(object.lastModified).toUTCString(),
    'Accept-Ranges': 'bytes',
    'Content-Type': query.get('response-content-type') ?? object.contentType ?? 'binary/octet-stream',
    ...requestIdHeaders(),
  };
  const optional: [string, string | undefined][] = [
    ['Content-Encoding', query.get('response-content-encoding') ?? object.contentEncoding],
    ['Content-Disposition', query.get('response-content-disposition') ?? object.contentDisposition],
    ['Cache-Control', query.get('response-cache-control') ?? object.cacheControl],
  ];
  for (const [name, value] of optional) if (value !== undefined) headers[name] = value;
  for (const [name, value] of Object.entries(object.userMetadata)) headers[`x-amz-meta-${name}`] = value;

  const precondition = readPreconditions(request, object);
  if (precondition === 412)
    throw new StoreError('PreconditionFailed', 412, 'At least one precondition failed.');
  if (precondition === 304) {
    response.writeHead(304, headers).end();
    return;
  }
  const range = parseRange(header(request, 'range'), object.size);
  if (range === 'unsatisfiable') {
    response.setHeader('Content-Range', `bytes */${object.size}`);
    throw new StoreError('InvalidRange', 416, 'The requested range is not satisfiable.');
  }
  const length = range === undefined ? object.size : range.end - range.start + 1;
  headers['Content-Length'] = String(length);
  if (range !== undefined) headers['Content-Range'] = `bytes ${range.start}-${range.end}/${object.size}`;
  response.writeHead(range === undefined ? 200 : 206, headers);
  if (request.method === 'HEAD' || length === 0) {
    response.end();
    return;
  }
  // pipeline(), not pipe(): it destroys the file stream (closing its descriptor) whichever way the
  // response ends, including a client hanging up before the body is all sent.
  await pipeline(store.read(bucket, key, range), response).catch(() => undefined);
}

/** 412, 304 or 0 (go on), from If-Match, If-None-Match, If-Unmodified-Since and If-Modified-Since. */
function readPreconditions(request: IncomingMessage, object: StoredObject): 412 | 304 | 0 {
  const etag = `"${object.etag}"`;
  const modified = Date.parse(object.lastModified);
  const ifMatch = header(request, 'if-match');
  const ifNoneMatch = header(request, 'if-none-match');
  const ifUnmodifiedSince = header(request, 'if-unmodified-since');
  const ifModifiedSince = header(request, 'if-modified-since');
  const matches = (list: string) => list.split(',').some((tag) => [etag, '*'].includes(tag.trim()));
  if (ifMatch !== undefined && !matches(ifMatch)) return 412;
  if (ifMatch === undefined && ifUnmodifiedSince !== undefined && modified > Date.parse(ifUnmodifiedSince))
    return 412;
  if (ifNoneMatch !== undefined && matches(ifNoneMatch)) return 304;
  if (ifNoneMatch === undefined && ifModifiedSince !== undefined && modified <= Date.parse(ifModifiedSince))
    return 304;
  return 0;
}

/** Conditional writes: `If-None-Match: *` (only if absent) and `If-Match: "etag"` (only if unchanged). */
async function checkWritePreconditions(
  store: FileObjectStore,
  request: IncomingMessage,
  bucket: string,
  key: string,
): Promise<void> {
  const ifNoneMatch = header(request, 'if-none-match');
  const ifMatch = header(request, 'if-match');
  if (ifNoneMatch === undefined && ifMatch === undefined) return;
  const existing = await store.head(bucket, key).catch((error: unknown) => {
    if (error instanceof StoreError && error.code === 'NoSuchKey') return undefined;
    throw error;
  });
  if (ifNoneMatch === '*' && existing !== undefined)
    throw new StoreError('PreconditionFailed', 412, `${key} already exists (If-None-Match: *).`);
  if (ifMatch !== undefined) {
    if (existing === undefined)
      throw new StoreError('NoSuchKey', 404, `The specified key does not exist: ${key}`);
    if (ifMatch.replaceAll('"', '') !== existing.etag)
      throw new StoreError('PreconditionFailed', 412, `${key} has changed (If-Match).`);
  }
}

function parseRange(
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
 * The request body as the object's bytes: `aws-chunked` framing removed (the SDK sends streams of unknown
 * length that way, with the checksum in a trailer), and Content-MD5 and CRC32 checksums checked, so a
 * damaged upload fails with `BadDigest` instead of being stored.
 */
async function verifiedBody(request: IncomingMessage): Promise<Buffer | Readable> {
  const declared = Number(
    header(request, 'x-amz-decoded-content-length') ?? header(request, 'content-length') ?? Number.NaN,
  );
  const bytes = verifiedBytes(request);
  if (!(declared <= SMALL_BODY_BYTES)) return Readable.from(bytes, { objectMode: false });
  const chunks: Buffer[] = [];
  for await (const chunk of bytes) chunks.push(chunk);
  return chunks.length === 1 && chunks[0] !== undefined ? chunks[0] : Buffer.concat(chunks);
}

/** Bodies up to this size are held in memory and written in one call. */
const SMALL_BODY_BYTES = 8 * 1024 * 1024;

async function* verifiedBytes(request: IncomingMessage): AsyncGenerator<Buffer> {
  const chunked =
    (header(request, 'content-encoding') ?? '').includes('aws-chunked') ||
    (header(request, 'x-amz-content-sha256') ?? '').startsWith('STREAMING-');
  const trailers = new Map<string, string>();
  const decodedLength = header(request, 'x-amz-decoded-content-length');
  const contentMd5 = header(request, 'content-md5');
  const source = chunked ? decodeAwsChunked(request, trailers) : request;
  const md5 = contentMd5 === undefined ? undefined : createHash('md5');
  // The signature covers the body only through this hash, so a signed hash is checked against the body.
  const sha256 = chunked ? undefined : createHash('sha256');
  let crc = 0;
  let length = 0;
  for await (const chunk of source as AsyncIterable<Buffer>) {
    md5?.update(chunk);
    sha256?.update(chunk);
    crc = crc32(chunk, crc);
    length += chunk.length;
    yield chunk;
  }
  if (chunked && decodedLength !== undefined && Number(decodedLength) !== length)
    throw new StoreError(
      'IncompleteBody',
      400,
      `The body had ${length} bytes; x-amz-decoded-content-length said ${decodedLength}.`,
    );
  if (sha256 !== undefined) checkPayloadSha256(request, sha256.digest('hex'));
  if (md5 !== undefined && md5.digest('base64') !== contentMd5)
    throw new StoreError('BadDigest', 400, 'The Content-MD5 you specified did not match what was received.');
  const expectedCrc = header(request, 'x-amz-checksum-crc32') ?? trailers.get('x-amz-checksum-crc32');
  if (expectedCrc !== undefined) {
    const actual = Buffer.alloc(4);
    actual.writeUInt32BE(crc >>> 0);
    if (actual.toString('base64') !== expectedCrc)
      throw new StoreError(
        'BadDigest',
        400,
        'The CRC32 you specified did not match the calculated checksum.',
      );
  }
}

/** Removes `aws-chunked` framing (`<hex size>[;extensions]\r\n<data>\r\n` ... `0\r\n<trailers>\r\n`). */
export async function* decodeAwsChunked(
  source: AsyncIterable<Buffer>,
  trailers: Map<string, string>,
): AsyncGenerator<Buffer> {
  let pending: Buffer = Buffer.alloc(0);
  let remaining = 0; // data bytes left in the current chunk
  type State = 'size' | 'data' | 'data-end' | 'trailer' | 'done';
  let state = 'size' as State;
  const malformed = () => new StoreError('IncompleteBody', 400, 'The aws-chunked request body is malformed.');
  for await (const input of source) {
    pending = pending.length === 0 ? input : Buffer.concat([pending, input]);
    for (;;) {
      if (state === 'data') {
        if (pending.length === 0) break;
        const take = Math.min(remaining, pending.length);
        yield pending.subarray(0, take);
        pending = pending.subarray(take);
        remaining -= take;
        if (remaining === 0) state = 'data-end';
        continue;
      }
      if (state === 'done') {
        if (pending.length > 0) throw malformed();
        break;
      }
      const end = pending.indexOf('\r\n');
      if (end === -1) {
        if (pending.length > 8192) throw malformed();
        break;
      }
      const line = pending.subarray(0, end).toString('latin1');
      pending = pending.subarray(end + 2);
      if (state === 'data-end') {
        if (line !== '') throw malformed();
        state = 'size';
      } else if (state === 'size') {
        const size = Number.parseInt(line.split(';')[0] ?? '', 16);
        if (!Number.isInteger(size) || size < 0) throw malformed();
        if (size === 0) state = 'trailer';
        else {
          remaining = size;
          state = 'data';
        }
      } else if (line === '') state = 'done';
      else {
        const colon = line.indexOf(':');
        if (colon < 1) throw malformed();
        trailers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
      }
    }
  }
  if (state !== 'done') throw malformed();
}

function objectHeaders(request: IncomingMessage): ObjectHeaders {
  return objectHeadersFrom(request.headers);
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 2 * 1024 * 1024)
      throw new StoreError('MaxMessageLengthExceeded', 400, 'The request body is too large.');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * The body of a request whose body is XML (DeleteObjects, CompleteMultipartUpload). Content types a web
 * page can send without a CORS preflight are refused, so a page cannot reach these operations even
 * through a browser that sends no `Sec-Fetch-Site`.
 */
async function readXmlBody(request: IncomingMessage): Promise<Buffer> {
  const contentType = (header(request, 'content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (BROWSER_SIMPLE_CONTENT_TYPES.has(contentType))
    throw new StoreError(
      'InvalidRequest',
      400,
      `This operation takes an XML body: Content-Type ${contentType} is refused (use application/xml).`,
    );
  const body = await readBody(request);
  checkPayloadSha256(request, createHash('sha256').update(body).digest('hex'));
  return body;
}

/** The content types the Fetch standard lets a cross-origin request carry without a preflight. */
const BROWSER_SIMPLE_CONTENT_TYPES = new Set([
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data',
]);

/** A signed body hash (`x-amz-content-sha256` as 64 hex digits) must be the body's: S3's XAmzContentSHA256Mismatch. */
function checkPayloadSha256(request: IncomingMessage, actual: string): void {
  const declared = header(request, 'x-amz-content-sha256');
  if (declared !== undefined && /^[0-9a-f]{64}$/i.test(declared) && declared.toLowerCase() !== actual)
    throw new StoreError(
      'XAmzContentSHA256Mismatch',
      400,
      "The provided 'x-amz-content-sha256' header does not match what was computed.",
    );
}

function parseXml(body: Buffer): unknown {
  const text = body.toString('utf8');
  // fast-xml-parser's parser accepts broken XML; its validator does not.
  if (XMLValidator.validate(text) !== true)
    throw new StoreError('MalformedXML', 400, 'The XML you provided was not well-formed.');
  return xmlParser.parse(text);
}

function decodePath(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new StoreError('InvalidURI', 400, `Couldn't parse the specified URI: ${text}`);
  }
}

function header(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

function requestIdHeaders(): Record<string, string> {
  return { 'x-amz-request-id': randomBytes(8).toString('hex').toUpperCase() };
}

function sendXml(response: ServerResponse, status: number, body: Record<string, unknown>): void {
  const text = `<?xml version="1.0" encoding="UTF-8"?>\n${xml.build(body)}`;
  response
    .writeHead(status, {
      'Content-Type': 'application/xml',
      'Content-Length': String(Buffer.byteLength(text)),
      ...requestIdHeaders(),
    })
    .end(text);
}

function sendError(request: IncomingMessage, response: ServerResponse, error: StoreError): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  // The request body may not have been read (an error before it was needed): drain it so the
  // connection stays usable for the client's next request.
  request.resume();
  if (request.method === 'HEAD') {
    response.writeHead(error.status, requestIdHeaders()).end();
    return;
  }
  sendXml(response, error.status, {
    Error: { Code: error.code, Message: error.message, RequestId: randomBytes(8).toString('hex') },
  });
}

function notImplemented(what: string): StoreError {
  return new StoreError('NotImplemented', 501, `The local object store does not implement ${what}.`);
}

function methodNotAllowed(method: string): StoreError {
  return new StoreError('MethodNotAllowed', 405, `The method ${method} is not allowed on this resource.`);
}
