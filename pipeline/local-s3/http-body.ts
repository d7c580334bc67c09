import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { crc32 } from 'node:zlib';
import { StoreError } from './errors.js';
import { header } from './http-common.js';

/**
 * The request body as the object's bytes: `aws-chunked` framing removed (the SDK sends streams of unknown
 * length that way, with the checksum in a trailer), and Content-MD5 and CRC32 checksums checked, so a
 * damaged upload fails with `BadDigest` instead of being stored.
 */
export async function verifiedBody(request: IncomingMessage): Promise<Buffer | Readable> {
  // S3 needs the length of a body up front (or chunked framing), and a Content-MD5 of 16 bytes.
  if (header(request, 'content-length') === undefined && header(request, 'transfer-encoding') === undefined)
    throw new StoreError('MissingContentLength', 411, 'You must provide the Content-Length HTTP header.');
  const contentMd5 = header(request, 'content-md5');
  if (contentMd5 !== undefined && Buffer.from(contentMd5, 'base64').length !== 16)
    throw new StoreError('InvalidDigest', 400, 'The Content-MD5 you specified is not valid.');
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
  // The payload hash says whether the body is framed (`STREAMING-...`), as S3 reads it: a Content-Encoding
  // of `aws-chunked` alone may be a client's label on a plain body.
  const chunked = (header(request, 'x-amz-content-sha256') ?? '').startsWith('STREAMING-');
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
export async function readXmlBody(request: IncomingMessage): Promise<Buffer> {
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
