import { Readable } from 'node:stream';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  PutObjectCommand,
  type S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { sdkStreamMixin } from '@smithy/util-stream';
import type { AwsClientStub } from 'aws-sdk-client-mock';

/**
 * An in-memory bucket answering as the S3 API reference documents: GetObject on a missing key is NoSuchKey
 * (404); HeadObject on a missing key is 404 with s3:ListBucket and 403 without it (HeadObject API
 * reference); ListObjectsV2 returns Contents sorted by key with LastModified, KeyCount and IsTruncated.
 */
export function fakeBucket(
  s3: AwsClientStub<S3Client>,
  options: { canList: boolean | ((key: string) => boolean) },
) {
  const objects = new Map<string, { body: Buffer; lastModified: Date }>();
  const missingHead = (key: string) => {
    const canList = typeof options.canList === 'function' ? options.canList(key) : options.canList;
    return new S3ServiceException({
      name: canList ? 'NotFound' : 'Forbidden',
      $fault: 'client',
      $metadata: { httpStatusCode: canList ? 404 : 403 },
      message: canList ? 'NotFound' : 'Forbidden',
    });
  };
  s3.on(HeadObjectCommand).callsFake(async (input: { Key: string }) => {
    const object = objects.get(input.Key);
    if (object === undefined) throw missingHead(input.Key);
    return { ContentLength: object.body.length, LastModified: object.lastModified };
  });
  s3.on(GetObjectCommand).callsFake(async (input: { Key: string }) => {
    const object = objects.get(input.Key);
    if (object === undefined)
      throw new NoSuchKey({
        message: 'The specified key does not exist.',
        $metadata: { httpStatusCode: 404 },
      });
    return { Body: sdkStreamMixin(Readable.from([object.body])), ContentLength: object.body.length };
  });
  s3.on(ListObjectsV2Command).callsFake(async (input: { Prefix?: string }) => {
    const keys = [...objects.keys()].filter((k) => k.startsWith(input.Prefix ?? '')).sort();
    return {
      Contents: keys.map((Key) => ({
        Key,
        Size: objects.get(Key)!.body.length,
        LastModified: objects.get(Key)!.lastModified,
      })),
      KeyCount: keys.length,
      IsTruncated: false,
    };
  });
  s3.on(PutObjectCommand).callsFake(async (input: { Key: string; Body: string | Uint8Array }) => {
    objects.set(input.Key, { body: Buffer.from(input.Body), lastModified: new Date() });
    return {};
  });
  return {
    objects,
    put: (key: string, body: string, lastModified = new Date()) =>
      objects.set(key, { body: Buffer.from(body), lastModified }),
  };
}

/** A capture line as SageMaker writes it (Data capture, SageMaker Developer Guide). */
export const captureLine = (time: string, id: string) =>
  JSON.stringify({
    captureData: {
      endpointInput: {
        observedContentType: 'application/x-image',
        mode: 'INPUT',
        data: 'AAAA',
        encoding: 'BASE64',
      },
      endpointOutput: {
        observedContentType: 'application/json',
        mode: 'OUTPUT',
        data: '[0.9,0.1]',
        encoding: 'JSON',
      },
    },
    eventMetadata: { eventId: id, inferenceId: id, inferenceTime: time },
    eventVersion: '0',
  });
