import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import type { CaptureRecord } from '../../contracts/capture.js';
import { captureHourPrefix } from '../../contracts/layout.js';
import { ENDPOINT_PAYLOAD_LIMIT } from '../../contracts/limits.js';
import { decodeImage, endpointPixelLimit, shrinkByBlocks } from '../../data/image.js';
import { SconesError } from '../../errors.js';
import { header } from '../../local-s3/http-common.js';
import {
  type LocalCredentials,
  MAX_SKEW_MS,
  parseAmzDate,
  SignatureError,
  type SignatureFault,
  verifySignature,
} from '../../local-s3/signature.js';
import type { ObjectStore } from '../../ports.js';
import type { DataCaptureSettings } from '../../templates/resolved-template.js';
import { parseS3Uri } from '../../util/s3-uri.js';
import { imageToInput, loadModel, modelProblem, predictProbabilities } from './model.js';
import { initTensorflow } from './tf.js';

const ACCEPTED_CONTENT_TYPES = new Set(['image/png', 'image/jpeg', 'application/x-image']);

export interface ModelServerOptions {
  store: ObjectStore;
  /** `s3://bucket/models/<training-id>/`. */
  modelUri: string;
  endpointName: string;
  variantName: string;
  capture: DataCaptureSettings;
  /** Square input side of the model. */
  side: number;
  /** The only credentials the endpoint accepts (SigV4, service `sagemaker`): the local store's. */
  credentials: LocalCredentials;
  /** The region requests must be signed for (the credential scope's region); any region when absent. */
  region?: string;
}

export interface ModelServer {
  readonly url: string;
  readonly endpointName: string;
  /** Writes buffered capture records now. */
  flush(): Promise<void>;
  stop(): Promise<void>;
}

/** Parses `s3://bucket/prefix` into its key prefix (no trailing slash). */
export function capturePrefix(destination: string, bucket: string): string {
  const location = parseS3Uri(destination, 'data capture destination');
  if (location.bucket !== bucket)
    throw new SconesError(`data capture destination ${destination} is not in the artifact bucket ${bucket}`);
  return location.key.replace(/\/+$/, '');
}

/**
 * A local endpoint on 127.0.0.1 that speaks SageMaker runtime's InvokeEndpoint
 * (POST /endpoints/{name}/invocations, image bytes in, JSON probabilities out) and writes data capture
 * in SageMaker's JSONL format and key layout to the object store.
 */
export async function startModelServer(options: ModelServerOptions): Promise<ModelServer> {
  await initTensorflow();
  const model = await loadModel(options.store, options.modelUri);
  // Served anyway, failing each request with the reason: the deployment guardrail then rolls it back.
  const problem = modelProblem(model, options.modelUri);
  const bucket = options.store.bucket;
  const prefix =
    options.capture.destination === '' ? undefined : capturePrefix(options.capture.destination, bucket);
  const capture = captureBuffer(options, prefix);
  const timer = setInterval(() => void capture.flush(), 1000);
  timer.unref();

  const server = createServer((request, response) => {
    invoke(request, response, { options, model, problem, capture, prefix }).catch((error: unknown) => {
      sendError(response, 500, 'InternalFailure', (error as Error).message);
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    endpointName: options.endpointName,
    flush: () => capture.flush(),
    async stop() {
      clearInterval(timer);
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await capture.flush();
      model.dispose();
    },
  };
}

/**
 * The endpoint's data capture: records buffered and written, a file per hour folder, in SageMaker's JSONL
 * layout; flushes run one after another so no record is written twice or lost.
 */
function captureBuffer(options: ModelServerOptions, prefix: string | undefined) {
  let pending: CaptureRecord[] = [];
  let flushing: Promise<void> = Promise.resolve();

  const flush = (): Promise<void> => {
    flushing = flushing.then(async () => {
      if (pending.length === 0 || prefix === undefined) return;
      const records = pending;
      pending = [];
      // SageMaker groups capture by the hour of the inference.
      const byHour = new Map<string, CaptureRecord[]>();
      for (const record of records) {
        const hour = captureHourPrefix({
          capturePrefix: prefix,
          endpointName: options.endpointName,
          variantName: options.variantName,
          inferenceTime: record.eventMetadata.inferenceTime,
        });
        byHour.set(hour, [...(byHour.get(hour) ?? []), record]);
      }
      for (const [hour, group] of byHour) {
        const stamp = new Date();
        const file = `${String(stamp.getUTCMinutes()).padStart(2, '0')}-${String(stamp.getUTCSeconds()).padStart(2, '0')}-${String(stamp.getUTCMilliseconds()).padStart(3, '0')}-${randomUUID()}.jsonl`;
        const key = `${hour}${file}`;
        await options.store.put(
          key,
          group
            .map((r) => JSON.stringify(r))
            .join('\n')
            .concat('\n'),
          {
            contentType: 'application/jsonl',
          },
        );
      }
    });
    return flushing;
  };
  return {
    add: (record: CaptureRecord) => {
      pending.push(record);
    },
    flush,
  };
}

/** What one InvokeEndpoint request is answered with: the checks in the order SageMaker's are, then the model. */
async function invoke(
  request: IncomingMessage,
  response: ServerResponse,
  deps: {
    options: ModelServerOptions;
    model: LayersModel;
    /** Why the model cannot predict (modelProblem), if it cannot. */
    problem: string | undefined;
    capture: ReturnType<typeof captureBuffer>;
    prefix: string | undefined;
  },
): Promise<void> {
  const { options, model, problem, capture, prefix } = deps;
  const url = new URL(request.url ?? '/', 'http://127.0.0.1');
  if (request.method === 'GET' && url.pathname === '/ping') {
    response.writeHead(200).end();
    return;
  }
  const match = /^\/endpoints\/([^/]+)\/invocations$/.exec(url.pathname);
  if (request.method !== 'POST' || match === null) {
    sendError(
      response,
      404,
      'UnknownOperationException',
      `no operation for ${request.method} ${url.pathname}`,
    );
    return;
  }
  let endpoint: string;
  try {
    endpoint = decodeURIComponent(match[1] as string);
  } catch {
    sendError(
      response,
      400,
      'ValidationError',
      `Endpoint name ${JSON.stringify(match[1])} has invalid %-encoding: percent-encode the name as UTF-8`,
    );
    return;
  }
  // Everything but the signature itself (which covers the body) is checked before a byte of the body
  // is read: what a browser sends, the key, the scope's region and service, the date, the size.
  const refusal = refuseBeforeBody(request, options.credentials, options.region);
  if (refusal !== undefined) {
    // Answered, then the connection closed: the body is never read.
    response.shouldKeepAlive = false;
    sendError(response, refusal[1], refusal[0], refusal[2]);
    return;
  }
  if (endpoint !== options.endpointName) {
    sendError(response, 400, 'ValidationError', `Endpoint ${endpoint} of account 000000000000 not found.`);
    return;
  }
  const body = await readBody(request, ENDPOINT_PAYLOAD_LIMIT);
  if (body === undefined) {
    response.shouldKeepAlive = false;
    sendError(response, 413, 'ValidationError', TOO_LARGE);
    return;
  }
  if (!(await authorized(request, body, options.credentials, response))) return;
  const contentType = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (!ACCEPTED_CONTENT_TYPES.has(contentType)) {
    sendModelError(
      response,
      415,
      `Content type ${contentType || '(none)'} is not supported: use image/png, image/jpeg or application/x-image`,
    );
    return;
  }
  let input: Float32Array;
  try {
    // Decoded within a bound set by the model's input, and shrunk before any float copy is made.
    const decoded = decodeImage(
      body,
      'request body',
      endpointPixelLimit(options.side),
      `the endpoint's limit for a ${options.side}x${options.side} model`,
    );
    input = imageToInput(shrinkByBlocks(decoded, options.side), options.side);
  } catch (error) {
    sendModelError(response, 400, `Unable to decode the image: ${(error as Error).message}`);
    return;
  }
  let probabilities: number[];
  try {
    if (problem !== undefined) throw new Error(problem);
    // The same prediction function as evaluation, so the endpoint serves what the gate measured.
    probabilities = predictProbabilities(model, [input], options.side)[0] as number[];
  } catch (error) {
    sendModelError(response, 500, `The model failed: ${(error as Error).message}`);
    return;
  }
  const output = JSON.stringify(probabilities);
  const inferenceId = header(request, 'x-amzn-sagemaker-inference-id');
  if (prefix !== undefined && Math.random() * 100 < options.capture.samplingPercentage)
    capture.add(captureRecordOf(options.capture, contentType, body, output, inferenceId, new Date()));
  response.writeHead(200, {
    'content-type': 'application/json',
    'x-amzn-invoked-production-variant': options.variantName,
  });
  response.end(output);
}

/** One capture line, as SageMaker writes it (input and output as the capture settings ask). */
function captureRecordOf(
  settings: DataCaptureSettings,
  contentType: string,
  body: Buffer,
  output: string,
  inferenceId: string | undefined,
  at: Date,
): CaptureRecord {
  return {
    captureData: {
      ...(settings.captureInput
        ? {
            endpointInput: {
              observedContentType: contentType,
              mode: 'INPUT' as const,
              data: body.toString('base64'),
              encoding: 'BASE64' as const,
            },
          }
        : {}),
      ...(settings.captureOutput
        ? {
            endpointOutput: {
              observedContentType: 'application/json',
              mode: 'OUTPUT' as const,
              data: output,
              encoding: 'JSON' as const,
            },
          }
        : {}),
    },
    eventMetadata: {
      eventId: randomUUID(),
      ...(inferenceId === undefined ? {} : { inferenceId }),
      inferenceTime: at.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    },
    eventVersion: '0',
  };
}

/** The AWS common error each signature fault gets (API Reference, "Common Errors"). */
const SIGNATURE_ERRORS: Record<SignatureFault, [code: string, status: number]> = {
  missing: ['MissingAuthenticationToken', 403],
  malformed: ['IncompleteSignature', 400],
  'unknown-key': ['InvalidClientTokenId', 403],
  mismatch: ['SignatureDoesNotMatch', 403],
  skewed: ['RequestExpired', 400],
  expired: ['RequestExpired', 400],
};

/** Checks the request's SigV4 signature (over the body's SHA-256); answers and returns false if it fails. */
async function authorized(
  request: IncomingMessage,
  body: Buffer,
  credentials: LocalCredentials,
  response: ServerResponse,
): Promise<boolean> {
  try {
    await verifySignature(
      { method: request.method ?? 'POST', target: request.url ?? '/', headers: request.headers },
      credentials,
      { service: 'sagemaker', bodySha256: createHash('sha256').update(body).digest('hex') },
    );
    return true;
  } catch (error) {
    if (!(error instanceof SignatureError)) throw error;
    const [code, status] = SIGNATURE_ERRORS[error.fault];
    sendError(response, status, code, error.message);
    return false;
  }
}

/** The body, or undefined as soon as it passes `limit` bytes (the rest is not read). */
function readBody(request: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) {
        chunks.push(chunk);
        return;
      }
      request.off('data', onData);
      request.pause();
      resolve(undefined);
    };
    request.on('data', onData);
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

/** InvokeEndpoint's own words for a body over its limit (6 MB, SageMaker API Reference). */
const TOO_LARGE = `Request payload exceeds the ${ENDPOINT_PAYLOAD_LIMIT}-byte limit.`;

/**
 * What can be refused from the headers alone, as [code, status, message]: a browser's request (`Origin`,
 * `Sec-Fetch-Site` other than `none`: a web page could otherwise make this endpoint work for it, as the
 * store refuses them), no signature, another key, a credential scope for another service or region, a
 * date too far from now, a declared length over the limit. The signature itself is checked once the
 * body it covers is read.
 */
function refuseBeforeBody(
  request: IncomingMessage,
  credentials: LocalCredentials,
  region: string | undefined,
): [code: string, status: number, message: string] | undefined {
  const fetchSite = header(request, 'sec-fetch-site');
  if (header(request, 'origin') !== undefined || (fetchSite !== undefined && fetchSite !== 'none'))
    return ['AccessDeniedException', 403, 'The local endpoint does not serve browser requests.'];
  const authorization = header(request, 'authorization');
  if (authorization === undefined)
    return [
      'MissingAuthenticationToken',
      403,
      'The request is not signed: sign it (SigV4) with the local credentials.',
    ];
  const credential = /Credential=([^,\s]+)/.exec(authorization)?.[1] ?? '';
  const [accessKeyId, shortDate, scopeRegion, service, terminator] = credential.split('/');
  if (accessKeyId !== credentials.accessKeyId)
    return ['InvalidClientTokenId', 403, `The access key ID ${accessKeyId ?? ''} is not this endpoint's.`];
  const scope = credential.split('/').slice(1).join('/');
  if (service !== 'sagemaker' || terminator !== 'aws4_request' || shortDate === undefined)
    return [
      'IncompleteSignature',
      400,
      `The credential scope ${scope} is not <date>/<region>/sagemaker/aws4_request.`,
    ];
  if (region !== undefined && scopeRegion !== region)
    return [
      'InvalidSignatureException',
      403,
      `The credential scope ${scope} is for region ${scopeRegion}: this endpoint is in ${region}; sign for ${region}.`,
    ];
  const signedAt = parseAmzDate(header(request, 'x-amz-date') ?? '')?.getTime() ?? Number.NaN;
  if (Number.isNaN(signedAt) || Math.abs(Date.now() - signedAt) > MAX_SKEW_MS)
    return [
      'InvalidSignatureException',
      403,
      'Signature expired: the request time is more than 15 minutes from the server time.',
    ];
  const declared = Number(header(request, 'content-length') ?? 0);
  if (declared > ENDPOINT_PAYLOAD_LIMIT) return ['ValidationError', 413, TOO_LARGE];
  return undefined;
}

/** Errors as SageMaker runtime returns them: restJson1 with x-amzn-ErrorType and a message. */
function sendError(response: ServerResponse, status: number, code: string, message: string): void {
  if (response.headersSent) return;
  response.writeHead(status, { 'content-type': 'application/json', 'x-amzn-errortype': `${code}:` });
  response.end(JSON.stringify({ message }));
}

/** A container error surfaces as ModelError (HTTP 424) carrying the container's own status. */
function sendModelError(response: ServerResponse, originalStatus: number, message: string): void {
  response.writeHead(424, { 'content-type': 'application/json', 'x-amzn-errortype': 'ModelError:' });
  response.end(
    JSON.stringify({
      Message: `Received client error (${originalStatus}) from primary with message "${message}".`,
      OriginalStatusCode: originalStatus,
      OriginalMessage: message,
    }),
  );
}
