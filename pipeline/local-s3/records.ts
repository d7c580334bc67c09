import { z } from 'zod';

/** The headers an object keeps from its PUT (or its multipart upload's start). */
export const objectHeadersSchema = z.object({
  contentType: z.string().exactOptional(),
  contentEncoding: z.string().exactOptional(),
  contentDisposition: z.string().exactOptional(),
  contentLanguage: z.string().exactOptional(),
  cacheControl: z.string().exactOptional(),
  expires: z.string().exactOptional(),
  /** `x-amz-meta-*` headers, names lower-cased without the prefix. */
  userMetadata: z.record(z.string(), z.string()).readonly(),
});

/** An object's metadata file (written beside its bytes, read back on every request). */
export const storedObjectSchema = z
  .object({
    key: z.string(),
    size: z.number().int().nonnegative(),
    /** S3's ETag without quotes: the MD5 of the bytes, or of the parts' MD5s with `-N` for multipart. */
    etag: z.string(),
    /** The MD5 of the whole object in hex (the ETag of a multipart upload is not). */
    md5: z.string(),
    lastModified: z.string(),
    /** The size of each part of a multipart upload, in order (for GET with `partNumber`). */
    parts: z.array(z.number().int().nonnegative()).readonly().exactOptional(),
    /** The multipart upload that made the object, so a retried completion can be told from another. */
    uploadId: z.string().exactOptional(),
    ...objectHeadersSchema.shape,
  })
  .readonly();
export type StoredObject = z.infer<typeof storedObjectSchema>;

export type ObjectHeaders = z.infer<typeof objectHeadersSchema>;

/** Where an object's bytes, metadata and pending metadata are (`FileObjectStore.objectPaths`). */
export interface ObjectPaths {
  readonly bytes: string;
  readonly metadata: string;
  readonly pending: string;
}
