import { StoreError } from './errors.js';
import type { FileObjectStore } from './files.js';
import { readXmlBody, verifiedBody } from './http-body.js';
import {
  header,
  listingEncoder,
  NAMESPACE,
  parseXml,
  requestIdHeaders,
  type S3Request,
  sendXml,
} from './http-common.js';
import { uploadPartCopy } from './http-copy.js';
import { checkWritePreconditions, objectHeadersFrom } from './http-objects.js';

export function createMultipartUpload(
  store: FileObjectStore,
  { request, response, bucket, key }: S3Request,
): void {
  const uploadId = store.uploads.create(bucket, key, objectHeadersFrom(request.headers));
  sendXml(response, 200, {
    InitiateMultipartUploadResult: { '@_xmlns': NAMESPACE, Bucket: bucket, Key: key, UploadId: uploadId },
  });
}

/** UploadPart, or UploadPartCopy when `x-amz-copy-source` names the part's bytes. */
export async function uploadPart(store: FileObjectStore, call: S3Request): Promise<void> {
  const { request, response, bucket, key, query } = call;
  const part = Number(query.get('partNumber'));
  if (!Number.isInteger(part) || part < 1 || part > 10000)
    throw new StoreError('InvalidArgument', 400, 'Part number must be an integer between 1 and 10000.');
  if (header(request, 'x-amz-copy-source') !== undefined) return uploadPartCopy(store, call, part);
  const { etag } = await store.uploads.putPart(
    bucket,
    key,
    query.get('uploadId') ?? '',
    part,
    await verifiedBody(request),
  );
  response.writeHead(200, { ETag: `"${etag}"`, ...requestIdHeaders() }).end();
}

/** CompleteMultipartUpload, with the conditional writes of PutObject (`If-None-Match: *`, `If-Match`). */
export async function completeMultipartUpload(store: FileObjectStore, call: S3Request): Promise<void> {
  const { request, response, bucket, key, query } = call;
  const parsed = parseXml(await readXmlBody(request)) as {
    CompleteMultipartUpload?: { Part?: { PartNumber?: string; ETag?: string }[] };
  };
  const parts = (parsed.CompleteMultipartUpload?.Part ?? []).map((part) => ({
    partNumber: Number(part.PartNumber),
    etag: String(part.ETag ?? ''),
  }));
  await checkWritePreconditions(store, call);
  const object = await store.uploads.complete(bucket, key, query.get('uploadId') ?? '', parts);
  sendXml(response, 200, {
    CompleteMultipartUploadResult: {
      '@_xmlns': NAMESPACE,
      Location: `/${bucket}/${key}`,
      Bucket: bucket,
      Key: key,
      ETag: `"${object.etag}"`,
    },
  });
}

export async function abortMultipartUpload(store: FileObjectStore, call: S3Request): Promise<void> {
  await store.uploads.abort(call.bucket, call.key, call.query.get('uploadId') ?? '');
  call.response.writeHead(204, requestIdHeaders()).end();
}

/** ListParts: every part uploaded so far (no paging: an upload has at most 10,000 parts). */
export async function listParts(
  store: FileObjectStore,
  { response, bucket, key, query }: S3Request,
): Promise<void> {
  const uploadId = query.get('uploadId') ?? '';
  const parts = await store.uploads.parts(bucket, key, uploadId);
  sendXml(response, 200, {
    ListPartsResult: {
      '@_xmlns': NAMESPACE,
      Bucket: bucket,
      Key: key,
      UploadId: uploadId,
      IsTruncated: 'false',
      Part: parts.map((part) => ({
        PartNumber: String(part.partNumber),
        LastModified: part.lastModified,
        ETag: `"${part.etag}"`,
        Size: String(part.size),
      })),
    },
  });
}

/** ListMultipartUploads: the uploads in progress in the bucket (no paging). */
export async function listMultipartUploads(
  store: FileObjectStore,
  { response, bucket, query }: S3Request,
): Promise<void> {
  const encode = listingEncoder(query);
  const prefix = query.get('prefix') ?? '';
  const uploads = (await store.uploads.list(bucket)).filter((upload) => upload.key.startsWith(prefix));
  sendXml(response, 200, {
    ListMultipartUploadsResult: {
      '@_xmlns': NAMESPACE,
      Bucket: bucket,
      Prefix: encode(prefix),
      IsTruncated: 'false',
      Upload: uploads.map((upload) => ({
        Key: encode(upload.key),
        UploadId: upload.uploadId,
        Initiated: upload.initiated,
        StorageClass: 'STANDARD',
      })),
    },
  });
}
