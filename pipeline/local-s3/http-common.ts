import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { XMLBuilder, XMLParser, XMLValidator } from 'fast-xml-parser';
import { StoreError } from './errors.js';

/** What every operation's handler gets: the request, its parsed target, and the response. */
export interface S3Request {
  readonly request: IncomingMessage;
  readonly response: ServerResponse;
  readonly bucket: string;
  readonly key: string;
  readonly query: URLSearchParams;
}

export const NAMESPACE = 'http://s3.amazonaws.com/doc/2006-03-01/';

const xml = new XMLBuilder({ ignoreAttributes: false, suppressEmptyNode: false });
const xmlParser = new XMLParser({
  parseTagValue: false,
  trimValues: false,
  // Entities are decoded here, all of them as XML defines: the five named ones and character references.
  processEntities: false,
  tagValueProcessor: (_name, value) => decodeXmlText(value),
  isArray: (name) => name === 'Part' || name === 'Object',
});

/**
 * An XML request body, parsed. Broken XML (fast-xml-parser's parser accepts it; its validator does not)
 * and any DOCTYPE (S3 takes none: it could declare entities) are S3's `MalformedXML`.
 */
export function parseXml(body: Buffer): unknown {
  const text = body.toString('utf8');
  if (/<!DOCTYPE/i.test(text) || XMLValidator.validate(text) !== true)
    throw new StoreError(
      'MalformedXML',
      400,
      'The XML you provided was not well-formed or did not validate.',
    );
  return xmlParser.parse(text);
}

/** XML text with its entity and character references decoded (`&amp;`, `&#xA;`, `&#46;`, ...). */
function decodeXmlText(text: string): string {
  const named: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|lt|gt|amp|quot|apos);/g, (reference, name: string) => {
    if (!name.startsWith('#')) return named[name] ?? reference;
    const code = name[1] === 'x' ? Number.parseInt(name.slice(2), 16) : Number(name.slice(1));
    if (!Number.isInteger(code) || code > 0x10ffff)
      throw new StoreError(
        'MalformedXML',
        400,
        `The XML you provided has an invalid character reference ${reference}.`,
      );
    return String.fromCodePoint(code);
  });
}

export function sendXml(
  response: ServerResponse,
  status: number,
  body: Record<string, unknown>,
  requestId = requestIdHeaders(),
): void {
  const text = `<?xml version="1.0" encoding="UTF-8"?>\n${xml.build(body)}`;
  response
    .writeHead(status, {
      'Content-Type': 'application/xml',
      'Content-Length': String(Buffer.byteLength(text)),
      ...requestId,
    })
    .end(text);
}

export function sendError(request: IncomingMessage, response: ServerResponse, error: StoreError): void {
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
  const requestId = requestIdHeaders();
  sendXml(
    response,
    error.status,
    { Error: { Code: error.code, Message: error.message, RequestId: requestId['x-amz-request-id'] } },
    requestId,
  );
}

export function requestIdHeaders(): Record<string, string> {
  return { 'x-amz-request-id': randomBytes(8).toString('hex').toUpperCase() };
}

export function header(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

export function decodePath(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new StoreError('InvalidURI', 400, `Couldn't parse the specified URI: ${text}`);
  }
}

export function methodNotAllowed(method: string): StoreError {
  return new StoreError('MethodNotAllowed', 405, `The method ${method} is not allowed on this resource.`);
}

/** A key as a listing shows it: as is, or percent-encoded with `encoding-type=url` (`/` kept). */
export function listingEncoder(query: URLSearchParams): (text: string) => string {
  return query.get('encoding-type') === 'url'
    ? (text) => encodeURIComponent(text).replaceAll('%2F', '/')
    : (text) => text;
}
