import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { ImageNotFoundError, InvalidEventError, PayloadTooLargeError } from '../shared/errors.js';
import {
  type LambdaResult,
  locationSchema,
  parseEvent,
  SERIALIZE_IMAGE_LIMIT,
  sniffContentType,
} from '../shared/events.js';
import { createLogger, type HandlerContext } from '../shared/log.js';

export interface SerializedImage {
  image_data: string;
  s3_bucket: string;
  s3_key: string;
  inferences: [];
}

// Path-style addressing when an S3-compatible endpoint is configured (the local store, MinIO).
const s3 = new S3Client(process.env.AWS_ENDPOINT_URL_S3 === undefined ? {} : { forcePathStyle: true });

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
  log.info('serialized image', { s3_bucket, s3_key, bytes: bytes.length, contentType });
  return {
    statusCode: 200,
    body: { image_data: Buffer.from(bytes).toString('base64'), s3_bucket, s3_key, inferences: [] },
  };
}
