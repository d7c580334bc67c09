import { createHash } from 'node:crypto';

/**
 * SageMaker's InferenceId (at most 64 printable characters, InvokeEndpoint API Reference) for an image:
 * its key when that fits, otherwise a digest of it. The classify function sends it and the monitor
 * report computes the same id to join captures to test cases. (`node:crypto` is the one import here
 * besides zod: the id is a digest.)
 */
export function inferenceIdFor(key: string): string {
  const printable = /^[\x21-\x7e][\x20-\x7e]*$/;
  if (key.length <= 64 && printable.test(key)) return key;
  return `sha256:${createHash('sha256').update(key).digest('hex').slice(0, 57)}`;
}
