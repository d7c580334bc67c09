import { createHash, createHmac, type Hash, type Hmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { ALGORITHM_IDENTIFIER, createScope, SignatureV4 } from '@smithy/signature-v4';
import type { HeaderBag, HttpRequest, QueryParameterBag, SourceData } from '@smithy/types';

/** The key pair a local server accepts: made at random at each start, so only whoever was handed it gets in. */
export interface LocalCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/** Fresh credentials for one server start. */
export function newLocalCredentials(): LocalCredentials {
  return {
    accessKeyId: `SCONES${randomBytes(7).toString('hex').toUpperCase()}`,
    secretAccessKey: randomBytes(30).toString('base64url'),
  };
}

/** Why a request was refused; each server answers it with its own protocol's error code. */
export type SignatureFault = 'missing' | 'malformed' | 'unknown-key' | 'mismatch' | 'skewed' | 'expired';

export class SignatureError extends Error {
  constructor(
    readonly fault: SignatureFault,
    message: string,
  ) {
    super(message);
    this.name = 'SignatureError';
  }
}

/** What a request carries that Signature Version 4 covers. */
export interface ReceivedRequest {
  readonly method: string;
  /** The request target as sent (path and query, still percent-encoded). */
  readonly target: string;
  readonly headers: IncomingHttpHeaders;
}

export interface VerifyOptions {
  /** The signing service name: `s3` for the store, `sagemaker` for the endpoint. */
  readonly service: string;
  /**
   * The payload hash to check a header-signed request against when it has no `x-amz-content-sha256`
   * header (services other than S3 sign the body's SHA-256 without sending it).
   */
  readonly bodySha256?: string;
  /** The region requests must be signed for; any region when absent. */
  readonly region?: string;
}

/** AWS refuses requests signed more than 15 minutes from its clock (the RequestTimeTooSkewed rule). */
export const MAX_SKEW_MS = 15 * 60 * 1000;
/** The longest presigned URL lifetime SigV4 allows: one week. */
const MAX_EXPIRES_SECONDS = 7 * 24 * 60 * 60;
const PRESIGN_PARAMETERS = [
  'X-Amz-Algorithm',
  'X-Amz-Credential',
  'X-Amz-Date',
  'X-Amz-Expires',
  'X-Amz-SignedHeaders',
  'X-Amz-Signature',
];

/**
 * Checks a request's Signature Version 4 (`Authorization` header, or presigned query parameters) against
 * `credentials`, recomputing the signature with `@smithy/signature-v4` from the request as received.
 * For `aws-chunked` streaming uploads this checks the seed signature (the header's), which covers the
 * headers; the per-chunk signatures are not checked. Throws a {@link SignatureError} saying what is wrong.
 */
export async function verifySignature(
  request: ReceivedRequest,
  credentials: LocalCredentials,
  options: VerifyOptions,
): Promise<void> {
  const questionMark = request.target.indexOf('?');
  const path = questionMark === -1 ? request.target : request.target.slice(0, questionMark);
  const query = parseQuery(questionMark === -1 ? '' : request.target.slice(questionMark + 1));
  const authorization = single(request.headers.authorization);
  const presigned = typeof query['X-Amz-Signature'] === 'string';
  if (authorization === undefined && !presigned)
    throw new SignatureError(
      'missing',
      'The request is not signed: sign it (SigV4) with the credentials the local server printed.',
    );
  const claim = presigned ? presignedClaim(query) : headerClaim(authorization ?? '', request.headers);
  if (claim.accessKeyId !== credentials.accessKeyId)
    throw new SignatureError(
      'unknown-key',
      `The access key ID ${claim.accessKeyId} is not this server's: use the credentials it printed at its start.`,
    );
  const [shortDate, region, service, terminator] = claim.scope;
  if (claim.scope.length !== 4 || terminator !== 'aws4_request' || service !== options.service)
    throw new SignatureError(
      'malformed',
      `The credential scope ${claim.scope.join('/')} is not <date>/<region>/${options.service}/aws4_request.`,
    );
  if (options.region !== undefined && region !== options.region)
    // S3's answer to a request signed for another region (AuthorizationHeaderMalformed).
    throw new SignatureError(
      'malformed',
      `The authorization header is malformed; the region '${region}' is wrong; expecting '${options.region}'.`,
    );
  const signingDate = parseAmzDate(claim.longDate);
  if (signingDate === undefined || claim.longDate.slice(0, 8) !== shortDate)
    throw new SignatureError(
      'malformed',
      `The signing date ${claim.longDate} is not YYYYMMDD'T'HHMMSS'Z' or not the scope's date.`,
    );
  const now = Date.now();
  if (presigned) {
    if (now > signingDate.getTime() + claim.expiresSeconds * 1000)
      throw new SignatureError('expired', 'The presigned URL has expired.');
    if (signingDate.getTime() - now > MAX_SKEW_MS)
      throw new SignatureError('skewed', 'The presigned URL is dated in the future.');
  } else if (Math.abs(now - signingDate.getTime()) > MAX_SKEW_MS)
    throw new SignatureError(
      'skewed',
      "The difference between the request time and the server's time is more than 15 minutes.",
    );

  const canonicalHeaders: HeaderBag = {};
  for (const name of claim.signedHeaders) {
    const value = single(request.headers[name]);
    if (value === undefined)
      throw new SignatureError('malformed', `The signed header ${name} is not in the request.`);
    canonicalHeaders[name] = value
      .replace(/[\r\n]/g, ' ')
      .replace(/[ \t]+/g, ' ')
      .trim();
  }
  if (!('host' in canonicalHeaders))
    throw new SignatureError('malformed', 'The signature must cover the host header.');
  const payloadHash = presigned
    ? (single(query['X-Amz-Content-Sha256']) ?? 'UNSIGNED-PAYLOAD')
    : (single(request.headers['x-amz-content-sha256']) ?? options.bodySha256);
  if (payloadHash === undefined)
    throw new SignatureError('malformed', 'The request is missing the x-amz-content-sha256 header.');
  // The canonical query is every parameter but X-Amz-Signature, presigning ones included.
  const calculator = new SignatureCalculator(credentials, options.service);
  const expected = await calculator.expected(
    // Protocol and hostname take no part in the canonical request (the host header does).
    { method: request.method, protocol: 'http:', hostname: '', path, query, headers: canonicalHeaders },
    canonicalHeaders,
    payloadHash,
    signingDate,
    region ?? '',
  );
  const matches =
    expected.length === claim.signature.length &&
    timingSafeEqual(Buffer.from(expected), Buffer.from(claim.signature));
  if (!matches)
    throw new SignatureError(
      'mismatch',
      'The request signature we calculated does not match the signature you provided: check the secret access key and signing method.',
    );
}

interface Claim {
  accessKeyId: string;
  scope: string[];
  longDate: string;
  signedHeaders: string[];
  signature: string;
  expiresSeconds: number;
}

function headerClaim(authorization: string, headers: IncomingHttpHeaders): Claim {
  const match = /^AWS4-HMAC-SHA256 +(.*)$/.exec(authorization);
  if (match === null)
    throw new SignatureError(
      'malformed',
      'The Authorization header is not AWS4-HMAC-SHA256 (Signature Version 4).',
    );
  const fields = new Map(
    (match[1] ?? '').split(',').map((field) => {
      const at = field.indexOf('=');
      return [field.slice(0, at).trim(), field.slice(at + 1).trim()] as const;
    }),
  );
  const credential = fields.get('Credential');
  const signedHeaders = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (credential === undefined || signedHeaders === undefined || signature === undefined)
    throw new SignatureError(
      'malformed',
      'The Authorization header needs Credential, SignedHeaders and Signature.',
    );
  const [accessKeyId = '', ...scope] = credential.split('/');
  return {
    accessKeyId,
    scope,
    longDate: single(headers['x-amz-date']) ?? '',
    signedHeaders: signedHeaders.split(';'),
    signature,
    expiresSeconds: 0,
  };
}

function presignedClaim(query: QueryParameterBag): Claim {
  const parameters = Object.fromEntries(PRESIGN_PARAMETERS.map((name) => [name, single(query[name])]));
  const missing = PRESIGN_PARAMETERS.filter((name) => parameters[name] === undefined);
  if (missing.length > 0)
    throw new SignatureError('malformed', `The presigned URL lacks ${missing.join(', ')}.`);
  if (parameters['X-Amz-Algorithm'] !== ALGORITHM_IDENTIFIER)
    throw new SignatureError('malformed', `X-Amz-Algorithm must be ${ALGORITHM_IDENTIFIER}.`);
  const expires = Number(parameters['X-Amz-Expires']);
  if (!Number.isInteger(expires) || expires < 1 || expires > MAX_EXPIRES_SECONDS)
    throw new SignatureError(
      'malformed',
      `X-Amz-Expires must be 1 to ${MAX_EXPIRES_SECONDS} seconds, not ${parameters['X-Amz-Expires']}.`,
    );
  const [accessKeyId = '', ...scope] = (parameters['X-Amz-Credential'] ?? '').split('/');
  return {
    accessKeyId,
    scope,
    longDate: parameters['X-Amz-Date'] ?? '',
    signedHeaders: (parameters['X-Amz-SignedHeaders'] ?? '').split(';'),
    signature: parameters['X-Amz-Signature'] ?? '',
    expiresSeconds: expires,
  };
}

/** `@smithy/signature-v4`'s own canonical request, string to sign and signing key, from a received request. */
class SignatureCalculator extends SignatureV4 {
  constructor(credentials: LocalCredentials, service: string) {
    // S3 signs the path as sent; other services sign it percent-encoded once more.
    super({ credentials, region: 'us-east-1', service, sha256: Sha256, uriEscapePath: service !== 's3' });
  }

  async expected(
    request: HttpRequest,
    canonicalHeaders: HeaderBag,
    payloadHash: string,
    signingDate: Date,
    region: string,
  ): Promise<string> {
    const { longDate, shortDate } = this.formatDate(signingDate);
    const canonicalRequest = this.createCanonicalRequest(request, canonicalHeaders, payloadHash);
    const stringToSign = await this.createStringToSign(
      longDate,
      createScope(shortDate, region, this.service),
      canonicalRequest,
      ALGORITHM_IDENTIFIER,
    );
    return this.sign(stringToSign, { signingDate, signingRegion: region, signingService: this.service });
  }
}

/** The hash constructor `@smithy/signature-v4` asks for, over node:crypto (HMAC when given a key). */
export class Sha256 {
  private hash: Hash | Hmac;
  constructor(private readonly secret?: SourceData) {
    this.hash = this.fresh();
  }
  update(data: Uint8Array): void {
    this.hash.update(data);
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
  reset(): void {
    this.hash = this.fresh();
  }
  private fresh(): Hash | Hmac {
    if (this.secret === undefined) return createHash('sha256');
    const key =
      typeof this.secret === 'string'
        ? this.secret
        : ArrayBuffer.isView(this.secret)
          ? Buffer.from(this.secret.buffer, this.secret.byteOffset, this.secret.byteLength)
          : Buffer.from(this.secret);
    return createHmac('sha256', key);
  }
}

/** Query parameters decoded as sent (`+` stays `+`: SigV4 clients encode a space as `%20`). */
function parseQuery(text: string): QueryParameterBag {
  const query: QueryParameterBag = {};
  if (text === '') return query;
  for (const pair of text.split('&')) {
    if (pair === '') continue;
    const at = pair.indexOf('=');
    const name = decode(at === -1 ? pair : pair.slice(0, at));
    const value = at === -1 ? '' : decode(pair.slice(at + 1));
    const existing = query[name];
    query[name] =
      existing === undefined || existing === null
        ? value
        : Array.isArray(existing)
          ? [...existing, value]
          : [existing, value];
  }
  return query;
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new SignatureError('malformed', `The query string has a malformed %-escape: ${text}`);
  }
}

export function parseAmzDate(text: string): Date | undefined {
  const match = /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/.exec(text);
  if (match === null) return undefined;
  const [, year, month, day, hour, minute, second] = match.map(Number) as number[];
  const date = new Date(Date.UTC(year ?? 0, (month ?? 1) - 1, day, hour, minute, second));
  return Number.isNaN(date.getTime()) ? undefined : date;
}

function single(value: string | string[] | null | undefined): string | undefined {
  if (value === null || value === undefined) return undefined;
  return Array.isArray(value) ? value.join(',') : value;
}
