import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  paginateListObjectsV2,
  S3Client,
} from '@aws-sdk/client-s3';
import { SconesError } from '../errors.js';
import type { ObjectInfo, ObjectStore } from '../ports.js';

/** The artifact bucket over the S3 API: AWS itself, or any S3-compatible endpoint the client points at. */
export class S3ObjectStore implements ObjectStore {
  constructor(
    private readonly client: S3Client,
    readonly bucket: string,
    /**
     * Who the caller is and which keys it may list (s3:ListBucket), when known: a 403 on HeadObject means
     * "absent" only where it may not list; elsewhere it is a real AccessDenied. Unknown: 403 reads as absent.
     */
    private readonly caller?: { name: string; mayList: (key: string) => boolean },
  ) {}

  uri(key: string): string {
    return `s3://${this.bucket}/${key}`;
  }

  async put(key: string, body: Uint8Array | string, options: { contentType?: string } = {}): Promise<void> {
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: body,
        ...(options.contentType === undefined ? {} : { ContentType: options.contentType }),
      }),
    );
  }

  async get(key: string): Promise<Uint8Array> {
    try {
      const response = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      if (response.Body === undefined) throw new SconesError(`${this.uri(key)} has no body`);
      return await response.Body.transformToByteArray();
    } catch (error) {
      if (isNotFound(error)) throw new SconesError(`${this.uri(key)} does not exist`, { cause: error });
      throw error;
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const response = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return {
        key,
        size: response.ContentLength ?? 0,
        ...(response.LastModified === undefined ? {} : { lastModified: response.LastModified }),
      };
    } catch (error) {
      // HeadObject API reference: "If the object you request doesn't exist, the error that Amazon S3 returns
      // depends on whether you also have the s3:ListBucket permission": 404 with it, 403 without. A HEAD
      // answer has no body to tell a missing key from a denied one, so 403 reads as "not there for us" only
      // where the caller may not list; where it may, S3 would have answered 404 for a missing key.
      if (isNotFound(error)) return undefined;
      if (httpStatus(error) === 403) {
        if (this.caller === undefined || !this.caller.mayList(key)) return undefined;
        throw new SconesError(
          `AccessDenied: ${this.caller.name} may list ${this.uri(key)} but may not read it (HeadObject answered 403, and S3 answers 404 for a missing key to a caller that may list): grant it s3:GetObject on that key`,
          { cause: error },
        );
      }
      throw error;
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    for await (const page of paginateListObjectsV2(
      { client: this.client },
      { Bucket: this.bucket, Prefix: prefix },
    )) {
      for (const item of page.Contents ?? []) {
        if (item.Key === undefined) continue;
        yield {
          key: item.Key,
          size: item.Size ?? 0,
          ...(item.LastModified === undefined ? {} : { lastModified: item.LastModified }),
        };
      }
    }
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }
}

function httpStatus(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
}

function isNotFound(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NoSuchKey' || e.name === 'NotFound' || e.$metadata?.httpStatusCode === 404;
}

/** Another account's or endpoint's bucket, through the standard S3 client and credential chain. */
export function outsideBucketStore(region: string, bucket: string): S3ObjectStore {
  return new S3ObjectStore(new S3Client({ region }), bucket);
}
