import { createServer, type Server } from 'node:http';
import { notImplemented, StoreError } from './errors.js';
import type { FileObjectStore } from './files.js';
import {
  decodePath,
  header,
  methodNotAllowed,
  NAMESPACE,
  requestIdHeaders,
  type S3Request,
  sendError,
  sendXml,
} from './http-common.js';
import { copyObject } from './http-copy.js';
import { listBuckets, listObjects } from './http-listing.js';
import {
  abortMultipartUpload,
  completeMultipartUpload,
  createMultipartUpload,
  listMultipartUploads,
  listParts,
  uploadPart,
} from './http-multipart.js';
import { deleteObject, deleteObjects, getObject, putObject, RESPONSE_PARAMETERS } from './http-objects.js';
import { type LocalCredentials, SignatureError, type SignatureFault, verifySignature } from './signature.js';

export { decodeAwsChunked } from './http-body.js';

/**
 * The local backend's S3-compatible server: the part of the S3 REST API (path-style addressing) the
 * pipeline, its Lambdas, boto3 and the AWS CLI use, over a {@link FileObjectStore}. This file checks who
 * calls and routes each request to its operation: buckets here, objects in `http-objects.ts`, copies in
 * `http-copy.ts`, listings in `http-listing.ts`, multipart uploads in `http-multipart.ts`; bodies are
 * read and checked in `http-body.ts`. Anything else gets S3's `NotImplemented` naming it, never a wrong
 * answer. Every request must be signed (SigV4) with `credentials`, made at random at each start, so
 * another local user or a web page cannot use the store by finding its port.
 */
export function createObjectStoreServer(
  store: FileObjectStore,
  credentials: LocalCredentials,
  region?: string,
): Server {
  const serve = (request: S3Request['request'], response: S3Request['response']) => {
    authorize(request, credentials, region)
      .then(() => route(store, { request, response, ...target(request.url ?? '/') }))
      .catch((error: unknown) => {
        const storeError =
          error instanceof StoreError
            ? error
            : new StoreError('InternalError', 500, `The local store failed: ${(error as Error).message}`);
        sendError(request, response, storeError);
      });
  };
  // Node answers 417 to an `Expect` other than 100-continue by itself; S3 serves such a request as usual.
  return createServer(serve).on('checkExpectation', serve);
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
async function authorize(
  request: S3Request['request'],
  credentials: LocalCredentials,
  region: string | undefined,
): Promise<void> {
  const fetchSite = header(request, 'sec-fetch-site');
  if (header(request, 'origin') !== undefined || (fetchSite !== undefined && fetchSite !== 'none'))
    throw new StoreError('AccessDenied', 403, 'The local object store does not serve browser requests.');
  try {
    await verifySignature(
      { method: request.method ?? 'GET', target: request.url ?? '/', headers: request.headers },
      credentials,
      { service: 's3', ...(region === undefined ? {} : { region }) },
    );
  } catch (error) {
    if (!(error instanceof SignatureError)) throw error;
    const [code, status] = SIGNATURE_ERRORS[error.fault];
    throw new StoreError(code, status, error.message);
  }
}

/** Query parameters that select no operation but the one the method and path name. */
const PLAIN_PARAMETERS = new Set([
  'x-id',
  'list-type',
  'prefix',
  'delimiter',
  'max-keys',
  'marker',
  'continuation-token',
  'start-after',
  'encoding-type',
  'fetch-owner',
  'key-marker',
  'version-id-marker',
  'max-uploads',
  'upload-id-marker',
  'max-parts',
  'part-number-marker',
  'max-buckets',
  'partNumber',
  ...RESPONSE_PARAMETERS,
]);
/** Subresources that select an operation the store serves. */
const SERVED_SUBRESOURCES = new Set(['uploads', 'uploadId', 'delete', 'location', 'versions', 'versionId']);

/** The bucket, key and query of a request target, taken literally: a URL parser would resolve `..`. */
function target(url: string): Pick<S3Request, 'bucket' | 'key' | 'query'> {
  const questionMark = url.indexOf('?');
  const pathname = questionMark === -1 ? url : url.slice(0, questionMark);
  const query = new URLSearchParams(questionMark === -1 ? '' : url.slice(questionMark + 1));
  // `X-Amz-*` parameters are a presigned URL's signature and hoisted headers, not subresources.
  const unsupported = [...query.keys()].find(
    (name) =>
      !PLAIN_PARAMETERS.has(name) &&
      !SERVED_SUBRESOURCES.has(name) &&
      !name.toLowerCase().startsWith('x-amz-'),
  );
  if (unsupported !== undefined) throw notImplemented(`the "${unsupported}" subresource`);
  const version = query.get('versionId');
  if (version !== null && version !== 'null')
    throw notImplemented(`versioning: the store keeps one version of each object, "null", not ${version}`);
  if (!pathname.startsWith('/'))
    throw new StoreError('InvalidURI', 400, `Couldn't parse the specified URI: ${pathname}`);
  const slash = pathname.indexOf('/', 1);
  const bucket = decodePath(pathname.slice(1, slash === -1 ? undefined : slash));
  const key = slash === -1 ? '' : decodePath(pathname.slice(slash + 1));
  return { bucket, key, query };
}

async function route(store: FileObjectStore, call: S3Request): Promise<void> {
  const { request, response, bucket, key, query } = call;
  const method = request.method ?? 'GET';
  if (bucket === '') {
    if (method !== 'GET') throw methodNotAllowed(method);
    return listBuckets(store, call);
  }
  if (key === '') {
    if (method === 'PUT') {
      store.createBucket(bucket);
      response.writeHead(200, { Location: `/${bucket}`, ...requestIdHeaders() }).end();
      return;
    }
    if (method === 'HEAD') {
      store.requireBucket(bucket);
      response.writeHead(200, requestIdHeaders()).end();
      return;
    }
    if (method === 'DELETE') {
      store.deleteBucket(bucket);
      response.writeHead(204, requestIdHeaders()).end();
      return;
    }
    if (method === 'GET' && query.has('location')) {
      store.requireBucket(bucket);
      return sendXml(response, 200, { LocationConstraint: { '@_xmlns': NAMESPACE } });
    }
    if (method === 'GET' && query.has('uploads')) return listMultipartUploads(store, call);
    if (method === 'GET') return listObjects(store, call);
    if (method === 'POST' && query.has('delete')) return deleteObjects(store, call);
    throw methodNotAllowed(method);
  }
  if (method === 'PUT' && query.has('uploadId')) return uploadPart(store, call);
  if (method === 'PUT' && header(request, 'x-amz-copy-source') !== undefined) return copyObject(store, call);
  if (method === 'PUT') return putObject(store, call);
  if (method === 'GET' && query.has('uploadId')) return listParts(store, call);
  if (method === 'GET' || method === 'HEAD') return getObject(store, call);
  if (method === 'DELETE' && query.has('uploadId')) return abortMultipartUpload(store, call);
  if (method === 'DELETE') return deleteObject(store, call);
  if (method === 'POST' && query.has('uploads')) return createMultipartUpload(store, call);
  if (method === 'POST' && query.has('uploadId')) return completeMultipartUpload(store, call);
  throw methodNotAllowed(method);
}
