import { SconesError } from '../errors.js';

/** The bucket and key of an `s3://bucket/key` URI. */
export interface S3Location {
  bucket: string;
  /** The key or key prefix, as written (may be empty or end in `/`). */
  key: string;
}

/** Parses `s3://bucket[/key]`; `what` names the input in the error, e.g. `--capture`. */
export function parseS3Uri(uri: string, what: string): S3Location {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/s.exec(uri);
  if (match === null || match[1] === undefined)
    throw new SconesError(`${what} ${uri} is not an s3:// URI: write s3://bucket/key`);
  return { bucket: match[1], key: match[2] ?? '' };
}

/** The key of an `s3://bucket/key` URI (the bucket is the caller's to check). */
export function keyOfUri(uri: string): string {
  return parseS3Uri(uri, 'the URI').key;
}
