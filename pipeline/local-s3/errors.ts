/** An S3 error answer: its code, HTTP status and message (S3's "Error responses" vocabulary). */
export class StoreError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function noSuchKey(key: string): StoreError {
  return new StoreError('NoSuchKey', 404, `The specified key does not exist: ${key}`);
}

export function notImplemented(what: string): StoreError {
  return new StoreError('NotImplemented', 501, `The local object store does not implement ${what}.`);
}
