import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join, relative } from 'node:path';
import fc from 'fast-check';
import { FileObjectStore } from '../../pipeline/local-s3/files.js';
import { createObjectStoreServer } from '../../pipeline/local-s3/http.js';
import { newLocalCredentials } from '../../pipeline/local-s3/signature.js';
import { type RawAnswer, rawRequest, signedRequest } from '../helpers/raw-http.js';
import { tempDir } from '../helpers/workspace.js';

const BUCKET = 'fuzz-bucket';

/** One request the fuzzer sends: the path as sent, method, query, body, and whether it is signed. */
interface FuzzRequest {
  method: string;
  bucketPart: string;
  keyPart: string;
  query: string;
  body: Uint8Array;
  contentType: string | undefined;
  copySource: string | undefined;
  signed: boolean;
}

/** Segments that have reached outside a folder somewhere, or name the store's own folders. */
const HOSTILE_SEGMENTS = [
  '..',
  '.',
  '%2e%2e',
  '%2E%2E',
  '..%2f..%2f..',
  '..%5c..%5c',
  '%2e%2e%2f%2e%2e',
  '..\\..',
  '%00',
  'a%00b',
  '',
  '%2F',
  'victim',
  'victim.json',
  'sibling',
  '.metadata',
  '.pending',
  '.tmp',
  '.uploads',
  'fuzz-bucket',
  '%C3%BC',
  '%E0%A4%A',
  '%',
  '~',
  'a%20b',
  'a+b',
];

const segment = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('a', 'b', 'data', 'img.png', 'x.json') },
  { weight: 3, arbitrary: fc.constantFrom(...HOSTILE_SEGMENTS) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 12 }).map(encodeURIComponent) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 6 }).map(encodeURIComponent) },
  { weight: 1, arbitrary: fc.string({ minLength: 200, maxLength: 300 }).map(encodeURIComponent) },
);
const keyPart = fc.array(segment, { minLength: 1, maxLength: 6 }).map((parts) => parts.join('/'));

const fuzzRequest: fc.Arbitrary<FuzzRequest> = fc.record({
  method: fc.constantFrom('GET', 'HEAD', 'PUT', 'PUT', 'PUT', 'DELETE', 'DELETE', 'POST', 'PATCH'),
  bucketPart: fc.oneof(
    { weight: 8, arbitrary: fc.constant(BUCKET) },
    { weight: 1, arbitrary: fc.constantFrom('..', '%2e%2e', '.metadata', 'sibling', '', 'other-bucket') },
  ),
  keyPart: fc.oneof({ weight: 6, arbitrary: keyPart }, { weight: 1, arbitrary: fc.constant('') }),
  query: fc.constantFrom(
    '',
    '',
    '',
    '?delete',
    '?uploads',
    '?list-type=2&prefix=..%2F&delimiter=%2F',
    '?list-type=2&start-after=%00',
    '?uploadId=00000000000000000000000000000000&partNumber=1',
    '?uploadId=..%2F..%2Fx&partNumber=1',
    '?x-id=GetObject',
    '?tagging',
  ),
  body: fc.uint8Array({ maxLength: 3000 }),
  contentType: fc.option(
    fc.constantFrom('application/xml', 'text/plain', 'application/octet-stream', 'multipart/form-data'),
    { nil: undefined },
  ),
  copySource: fc.oneof(
    { weight: 5, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: keyPart.map((key) => `${BUCKET}/${key}`) },
  ),
  signed: fc.integer({ min: 0, max: 9 }).map((draw) => draw !== 0), // nine in ten signed
});

/** A DeleteObjects body over keys the fuzzer may also have written. */
const deleteBody = fc
  .array(
    keyPart.map((key) => safeDecode(key) ?? key),
    { minLength: 1, maxLength: 4 },
  )
  .map((keys) =>
    Buffer.from(
      `<?xml version="1.0" encoding="UTF-8"?><Delete>${keys
        .map((key) => `<Object><Key>${escapeXml(key)}</Key></Object>`)
        .join('')}</Delete>`,
    ),
  );

/** Every file below `root` but those under `except`, with its content hash and modification time. */
function snapshot(root: string, except: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const entry of readdirSync(root, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    if (path === except || path.startsWith(`${except}/`)) continue;
    const stat = statSync(path);
    const content = entry.isFile() ? createHash('sha256').update(readFileSync(path)).digest('hex') : 'dir';
    files.set(relative(root, path), `${content} ${stat.mtimeMs}`);
  }
  return files;
}

export interface FuzzOutcome {
  runs: number;
  requests: number;
  /** Answers by status class, to show the fuzzer got past the signature check and into the store. */
  statuses: Record<string, number>;
  objectsCheckedWhole: number;
}

/**
 * Sends `runs` random sequences of requests (hostile keys, methods, queries, bodies; most of them signed)
 * to a store whose folder sits beside a sibling tree of files, and after each sequence checks that no
 * file outside the store's folder was created, changed or removed, that the server never answered
 * 500, and that every object a request stored (and none removed since) reads back whole.
 * Throws fast-check's report (seed and shrunk counterexample) on the first failure.
 */
export async function fuzzLocalStore(options: { seed: number; runs: number }): Promise<FuzzOutcome> {
  const { dir, cleanup } = tempDir('scones-fuzz-');
  const root = join(dir, 'store');
  for (const [path, text] of [
    ['victim.json', '{"outside":1}'],
    ['victim', 'outside'],
    ['sibling/a.json', '{"a":1}'],
    ['sibling/fuzz-bucket/victim', 'inside a look-alike'],
    ['sibling/.metadata/fuzz-bucket/victim.json', '{}'],
  ] as const) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  const store = new FileObjectStore(root);
  store.createBucket(BUCKET);
  const credentials = newLocalCredentials();
  const server = createObjectStoreServer(store, credentials);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const before = snapshot(dir, root);
  const outcome: FuzzOutcome = { runs: 0, requests: 0, statuses: {}, objectsCheckedWhole: 0 };
  const send = (request: FuzzRequest, body: Uint8Array): Promise<RawAnswer> => {
    const path = `/${request.bucketPart}${request.keyPart === '' ? '' : `/${request.keyPart}`}${request.query}`;
    const headers: Record<string, string> = {};
    if (request.contentType !== undefined) headers['content-type'] = request.contentType;
    if (request.copySource !== undefined && request.method === 'PUT')
      headers['x-amz-copy-source'] = request.copySource;
    return request.signed
      ? signedRequest({ endpoint, credentials }, request.method, path, headers, Buffer.from(body))
      : rawRequest(endpoint, request.method, path, headers, Buffer.from(body));
  };
  try {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fuzzRequest, deleteBody), { minLength: 1, maxLength: 15 }),
        async (sequence) => {
          outcome.runs++;
          /** What each key must read back as: the bytes of the last plain PUT that succeeded. */
          const expected = new Map<string, Buffer>();
          for (const [request, xml] of sequence) {
            const isDelete = request.method === 'POST' && request.query === '?delete';
            const body = isDelete ? xml : request.body;
            const answer = await send(request, body).catch((error: Error) => {
              throw new Error(
                `${request.method} /${request.bucketPart}/${request.keyPart}${request.query} (signed ${request.signed}, ${body.length} bytes, copy ${request.copySource}): ${error.message}`,
              );
            });
            outcome.requests++;
            const statusClass = `${String(answer.status).slice(0, 1)}xx`;
            outcome.statuses[statusClass] = (outcome.statuses[statusClass] ?? 0) + 1;
            if (answer.status >= 500 && answer.status !== 501)
              throw new Error(
                `${request.method} ${request.keyPart} answered ${answer.status}: ${answer.text}`,
              );
            const key = safeDecode(request.keyPart);
            const ok = answer.status >= 200 && answer.status < 300;
            if (!ok || request.bucketPart !== BUCKET) continue;
            if (isDelete)
              for (const match of xml.toString().matchAll(/<Key>(.*?)<\/Key>/g))
                expected.delete(unescapeXml(match[1] ?? ''));
            else if (key === undefined || key === '')
              continue; // '' addresses the bucket itself
            else if (request.method === 'PUT' && request.query === '' && request.copySource === undefined)
              expected.set(key, Buffer.from(body));
            else if (request.method !== 'GET' && request.method !== 'HEAD') expected.delete(key);
          }
          const after = snapshot(dir, root);
          if (JSON.stringify([...after]) !== JSON.stringify([...before]))
            throw new Error(`files outside the store changed: ${JSON.stringify([...after])}`);
          for (const [key, bytes] of expected) {
            const path = `/${BUCKET}/${key.split('/').map(encodeURIComponent).join('/')}`;
            const answer = await signedRequest({ endpoint, credentials }, 'GET', path);
            if (answer.status !== 200 || !answer.body.equals(bytes))
              throw new Error(
                `${key} did not read back whole: ${answer.status} ${answer.text.slice(0, 200)}`,
              );
            outcome.objectsCheckedWhole++;
          }
        },
      ),
      { seed: options.seed, numRuns: options.runs, endOnFailure: true },
    );
    return outcome;
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    cleanup();
  }
}

function safeDecode(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

function escapeXml(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

function unescapeXml(text: string): string {
  return text.replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&amp;', '&');
}
