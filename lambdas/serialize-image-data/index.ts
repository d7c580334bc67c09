import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { type LambdaResult, locationSchema, type SerializedImage } from '../../pipeline/contracts/lambda.js';
import {
  SERIALIZE_IMAGE_LIMIT,
  STATE_IMAGE_LIMIT,
  STATE_PAYLOAD_LIMIT,
  STATE_PAYLOAD_RESERVE,
} from '../../pipeline/contracts/limits.js';
import {
  ImageNotFoundError,
  InvalidEventError,
  PayloadTooLargeError,
  StatePayloadTooLargeError,
} from '../shared/errors.js';
import { parseEvent, sniffContentType } from '../shared/events.js';
import { createLogger, type HandlerContext } from '../shared/log.js';

// Path-style addressing when an S3-compatible endpoint is configured (the local store, MinIO).
// Bounded: a silent S3 fails the invocation well inside the function's 30 s timeout, with retries.
const s3 = new S3Client({
  maxAttempts: 3,
  requestHandler: { connectionTimeout: 2_000, requestTimeout: 8_000, throwOnRequestTimeout: true },
  ...(process.env.AWS_ENDPOINT_URL_S3 === undefined ? {} : { forcePathStyle: true }),
});

/** Reads `s3://s3_bucket/s3_key` and returns it base64-encoded for the classifier. */
export async function handler(
  event: unknown,
  context: HandlerContext,
): Promise<LambdaResult<SerializedImage>> {
  const log = createLogger('serialize-image-data', context.awsRequestId);
  const { s3_bucket, s3_key } = parseEvent(locationSchema, event);
  let bytes: Uint8Array;
  try {
    const object = await s3.send(new GetObjectCommand({ Bucket: s3_bucket, Key: s3_key }));
    if ((object.ContentLength ?? 0) > SERIALIZE_IMAGE_LIMIT)
      throw new PayloadTooLargeError(
        `s3://${s3_bucket}/${s3_key} is ${object.ContentLength} bytes; images over ${SERIALIZE_IMAGE_LIMIT} bytes do not fit the 6 MB payload once base64-encoded`,
      );
    if ((object.ContentLength ?? 0) > STATE_IMAGE_LIMIT)
      throw stateTooLarge(s3_bucket, s3_key, object.ContentLength ?? 0);
    bytes = await object.Body!.transformToByteArray();
  } catch (error) {
    const name = (error as Error).name;
    if (name === 'NoSuchKey' || name === 'NotFound' || name === 'NoSuchBucket')
      throw new ImageNotFoundError(`s3://${s3_bucket}/${s3_key} does not exist (${name})`, { cause: error });
    throw error;
  }
  if (bytes.length > SERIALIZE_IMAGE_LIMIT)
    throw new PayloadTooLargeError(
      `s3://${s3_bucket}/${s3_key} is ${bytes.length} bytes, over ${SERIALIZE_IMAGE_LIMIT}`,
    );
  const contentType = sniffContentType(bytes);
  if (contentType === undefined)
    throw new InvalidEventError(`s3://${s3_bucket}/${s3_key} is not a PNG or JPEG image`);
  const result: LambdaResult<SerializedImage> = {
    statusCode: 200,
    body: { image_data: Buffer.from(bytes).toString('base64'), s3_bucket, s3_key, inferences: [] },
  };
  const stateBytes = Buffer.byteLength(JSON.stringify(result), 'utf8');
  if (stateBytes > STATE_PAYLOAD_LIMIT - STATE_PAYLOAD_RESERVE)
    throw stateTooLarge(s3_bucket, s3_key, bytes.length, stateBytes);
  log.info('serialized image', { s3_bucket, s3_key, bytes: bytes.length, contentType, stateBytes });
  return result;
}

function stateTooLarge(bucket: string, key: string, imageBytes: number, stateBytes?: number): Error {
  return new StatePayloadTooLargeError(
    `s3://${bucket}/${key} is ${imageBytes} bytes${stateBytes === undefined ? '' : ` (${stateBytes} bytes as the workflow state)`}: Step Functions passes at most ${STATE_PAYLOAD_LIMIT} bytes (256 KiB) between states, so images over ${STATE_IMAGE_LIMIT} bytes cannot go through the workflow; resize it or invoke the endpoint directly`,
  );
}
