import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { SignatureV4 } from '@smithy/signature-v4';
import type { QueryParameterBag } from '@smithy/types';
import { type LocalCredentials, Sha256 } from '../../pipeline/local-s3/signature.js';

export interface RawAnswer {
  status: number;
  text: string;
  body: Buffer;
  headers: Record<string, string | string[] | undefined>;
}

/** One HTTP request exactly as given (path sent as is), for what an SDK would never send. */
export function rawRequest(
  endpoint: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body: string | Buffer = '',
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const { port } = new URL(endpoint);
    // Node sends a DELETE's body with no length unless told: the server would read it as the next request.
    const framed =
      body.length > 0 && !Object.keys(headers).some((name) => name.toLowerCase() === 'content-length')
        ? { ...headers, 'content-length': String(Buffer.byteLength(body)) }
        : headers;
    const sent = request({ host: '127.0.0.1', port, method, path, headers: framed }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({
          status: response.statusCode ?? 0,
          text: Buffer.concat(chunks).toString(),
          body: Buffer.concat(chunks),
          headers: response.headers,
        }),
      );
    });
    sent.on('error', reject);
    sent.end(body);
  });
}

/**
 * The same request signed with SigV4 as an SDK signs it (header form; `@smithy/signature-v4`), with
 * `x-amz-content-sha256` set to the body's hash unless `headers` give one.
 */
export async function signedRequest(
  server: { endpoint: string; credentials: LocalCredentials },
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body: string | Buffer = '',
  options: { service?: string; signingDate?: Date } = {},
): Promise<RawAnswer> {
  const signed = await signedHeaders(server, method, path, headers, body, options);
  return rawRequest(server.endpoint, method, path, signed, body);
}

/** The headers of a request signed as {@link signedRequest} signs it. */
export async function signedHeaders(
  server: { endpoint: string; credentials: LocalCredentials },
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body: string | Buffer = '',
  options: { service?: string; signingDate?: Date } = {},
): Promise<Record<string, string>> {
  const headersToSign: Record<string, string> = { ...headers, host: new URL(server.endpoint).host };
  if (!Object.keys(headers).some((name) => name.toLowerCase() === 'x-amz-content-sha256'))
    headersToSign['x-amz-content-sha256'] = createHash('sha256').update(body).digest('hex');
  const signed = await signer(server.credentials, options.service ?? 's3').sign(
    {
      method,
      protocol: 'http:',
      hostname: '127.0.0.1',
      path: path.split('?')[0] ?? path,
      query: queryOf(path),
      headers: headersToSign,
    },
    options.signingDate === undefined ? {} : { signingDate: options.signingDate },
  );
  return signed.headers;
}

/** A presigned URL path (query form) for `path`, valid `expiresIn` seconds from `signingDate`. */
export async function presignedPath(
  server: { endpoint: string; credentials: LocalCredentials },
  method: string,
  path: string,
  options: { expiresIn?: number; signingDate?: Date } = {},
): Promise<string> {
  const presigned = await signer(server.credentials, 's3').presign(
    {
      method,
      protocol: 'http:',
      hostname: '127.0.0.1',
      path,
      query: {},
      headers: { host: new URL(server.endpoint).host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
    },
    {
      expiresIn: options.expiresIn ?? 300,
      ...(options.signingDate ? { signingDate: options.signingDate } : {}),
    },
  );
  const query = Object.entries(presigned.query ?? {})
    .map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(String(value))}`)
    .join('&');
  return `${path}?${query}`;
}

function signer(credentials: LocalCredentials, service: string): SignatureV4 {
  return new SignatureV4({
    credentials,
    region: 'us-east-1',
    service,
    sha256: Sha256,
    uriEscapePath: service !== 's3',
  });
}

function queryOf(path: string): QueryParameterBag {
  const at = path.indexOf('?');
  const query: QueryParameterBag = {};
  if (at === -1) return query;
  for (const pair of path.slice(at + 1).split('&')) {
    if (pair === '') continue;
    const equals = pair.indexOf('=');
    const name = decodeURIComponent(equals === -1 ? pair : pair.slice(0, equals));
    query[name] = equals === -1 ? '' : decodeURIComponent(pair.slice(equals + 1));
  }
  return query;
}
