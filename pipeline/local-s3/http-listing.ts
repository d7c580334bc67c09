import { StoreError } from './errors.js';
import type { FileObjectStore, StoredObject } from './files.js';
import { listingEncoder, NAMESPACE, type S3Request, sendXml } from './http-common.js';

const OWNER = { ID: 'local', DisplayName: 'local' };

/** ListBuckets, by name, `max-buckets` a page (all by default) after `continuation-token`. */
export function listBuckets(store: FileObjectStore, { response, query }: S3Request): void {
  const maxText = query.get('max-buckets') ?? '10000';
  const max = Number(maxText);
  if (!/^\d+$/.test(maxText) || max < 1 || max > 10000)
    throw new StoreError('InvalidArgument', 400, `max-buckets must be 1 to 10000, not ${maxText}.`);
  const after = Buffer.from(query.get('continuation-token') ?? '', 'base64url').toString();
  const buckets = store.buckets().filter((bucket) => bucket.name > after);
  const page = buckets.slice(0, max);
  sendXml(response, 200, {
    ListAllMyBucketsResult: {
      '@_xmlns': NAMESPACE,
      Owner: OWNER,
      Buckets: {
        Bucket: page.map((b) => ({ Name: b.name, CreationDate: b.created.toISOString() })),
      },
      ...(buckets.length > max
        ? { ContinuationToken: Buffer.from(page.at(-1)?.name ?? '').toString('base64url') }
        : {}),
    },
  });
}

/**
 * ListObjectsV2 (`list-type=2`), ListObjects (version 1, `marker`) and ListObjectVersions (`versions`:
 * the store keeps no versions, so each object is its one version, `null`, as S3 lists an unversioned
 * bucket). Keys in UTF-8 byte order, common prefixes for `delimiter`, at most `max-keys` (up to 1000)
 * entries a page; `max-keys=0` lists nothing and is not truncated.
 */
export async function listObjects(store: FileObjectStore, call: S3Request): Promise<void> {
  const { response, bucket, query } = call;
  const kind = query.has('versions') ? 'versions' : query.get('list-type') === '2' ? 'v2' : 'v1';
  const prefix = query.get('prefix') ?? '';
  const delimiter = query.get('delimiter') || undefined;
  const maxKeysText = query.get('max-keys') ?? '1000';
  if (!/^\d+$/.test(maxKeysText))
    throw new StoreError(
      'InvalidArgument',
      400,
      `max-keys must be a non-negative integer, not ${maxKeysText}.`,
    );
  const maxKeys = Number(maxKeysText);
  const token = query.get('continuation-token') ?? undefined;
  const startAfter = query.get('start-after') ?? undefined;
  const marker = kind === 'v1' ? query.get('marker') : kind === 'versions' ? query.get('key-marker') : null;
  let after = startAfter || marker || undefined;
  if (token !== undefined && token !== '') {
    const decoded = Buffer.from(token, 'base64url').toString('utf8');
    if (!decoded.startsWith('k:'))
      throw new StoreError('InvalidArgument', 400, 'The continuation token provided is incorrect.');
    after = decoded.slice(2);
  }
  const page = await store.list(bucket, {
    prefix,
    ...(delimiter === undefined ? {} : { delimiter }),
    ...(after === undefined ? {} : { startAfter: after }),
    maxKeys: Math.min(maxKeys, 1000),
  });
  const encode = listingEncoder(query);
  const next = page.truncated ? page.last : undefined;
  const common = {
    '@_xmlns': NAMESPACE,
    Name: bucket,
    // ListObjects (version 1) returns its Prefix as sent, as S3 does (botocore decodes it only for V2).
    Prefix: kind === 'v1' ? prefix : encode(prefix),
    ...(delimiter === undefined ? {} : { Delimiter: encode(delimiter) }),
    MaxKeys: String(maxKeys),
    ...(query.has('encoding-type') ? { EncodingType: query.get('encoding-type') } : {}),
    IsTruncated: String(page.truncated),
  };
  const entry = (object: StoredObject) => ({
    Key: encode(object.key),
    LastModified: object.lastModified,
    ETag: `"${object.etag}"`,
    Size: String(object.size),
    StorageClass: 'STANDARD',
  });
  const prefixes = page.commonPrefixes.map((common) => ({ Prefix: encode(common) }));
  if (kind === 'v2')
    return sendXml(response, 200, {
      ListBucketResult: {
        ...common,
        KeyCount: String(page.objects.length + page.commonPrefixes.length),
        ...(token === undefined ? {} : { ContinuationToken: token }),
        ...(next === undefined
          ? {}
          : { NextContinuationToken: Buffer.from(`k:${next}`).toString('base64url') }),
        ...(startAfter === undefined ? {} : { StartAfter: encode(startAfter) }),
        Contents: page.objects.map((object) => ({
          ...entry(object),
          ...(query.get('fetch-owner') === 'true' ? { Owner: OWNER } : {}),
        })),
        CommonPrefixes: prefixes,
      },
    });
  if (kind === 'v1')
    return sendXml(response, 200, {
      ListBucketResult: {
        ...common,
        Marker: encode(marker ?? ''),
        // S3 sends NextMarker only with a delimiter; without one, the last key is the next marker.
        ...(next !== undefined && delimiter !== undefined ? { NextMarker: encode(next) } : {}),
        Contents: page.objects.map((object) => ({ ...entry(object), Owner: OWNER })),
        CommonPrefixes: prefixes,
      },
    });
  sendXml(response, 200, {
    ListVersionsResult: {
      ...common,
      KeyMarker: encode(marker ?? ''),
      VersionIdMarker: query.get('version-id-marker') ?? '',
      ...(next === undefined ? {} : { NextKeyMarker: encode(next), NextVersionIdMarker: 'null' }),
      Version: page.objects.map((object) => ({
        ...entry(object),
        VersionId: 'null',
        IsLatest: 'true',
        Owner: OWNER,
      })),
      CommonPrefixes: prefixes,
    },
  });
}
