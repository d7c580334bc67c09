import type { AddressInfo } from 'node:net';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { expect } from 'chai';
import { FileObjectStore } from '../../pipeline/local-s3/files.js';
import { createObjectStoreServer } from '../../pipeline/local-s3/http.js';
import { newLocalCredentials } from '../../pipeline/local-s3/signature.js';
import { rejection } from '../helpers/assertions.js';
import { signedRequest } from '../helpers/raw-http.js';
import { tempDir } from '../helpers/workspace.js';

/**
 * What ceph/s3-tests (bench/s3-conformance.ts) found the store answering unlike S3, each held here with
 * the real @aws-sdk/client-s3 (raw signed HTTP where the SDK never sends the request), so `npm test` keeps
 * it without Python. Each test is named after the behaviour S3's API reference documents.
 */
describe('local object store: S3 behaviours the conformance suite checks', () => {
  const Bucket = 'conformance';
  const credentials = newLocalCredentials();
  let endpoint: string;
  let client: S3Client;
  let close: () => Promise<void>;
  const raw = (method: string, path: string, headers: Record<string, string> = {}, body = '') =>
    signedRequest({ endpoint, credentials }, method, path, headers, body);
  const read = async (Key: string, extra: Partial<{ PartNumber: number; Range: string }> = {}) => {
    const answer = await client.send(new GetObjectCommand({ Bucket, Key, ...extra }));
    return { answer, bytes: Buffer.from((await answer.Body?.transformToByteArray()) ?? []) };
  };
  const failure = async (sending: Promise<unknown>) => {
    const error = (await rejection(sending)) as Error & { $metadata?: { httpStatusCode?: number } };
    return { name: error.name, status: error.$metadata?.httpStatusCode, message: error.message };
  };
  /** A multipart upload of `parts` (buffers), completed; its ETags as sent. */
  const multipart = async (Key: string, parts: Buffer[]) => {
    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket, Key }));
    const Parts = [];
    for (const [index, Body] of parts.entries()) {
      const { ETag } = await client.send(
        new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: index + 1, Body }),
      );
      Parts.push({ ETag, PartNumber: index + 1 });
    }
    return { UploadId, Parts };
  };
  const MiB = 1024 * 1024;
  /** The text of every `<name>` element of an XML answer, in order. */
  const elements = (xml: string, name: string) =>
    [...xml.matchAll(new RegExp(`<${name}>(.*?)</${name}>|<${name}/>`, 'g'))].map((match) => match[1] ?? '');
  const patterned = (size: number, seed: number) =>
    Buffer.from(Array.from({ length: size }, (_, i) => (i * seed) % 251));

  beforeEach(async () => {
    const { dir, cleanup } = tempDir('scones-conformance-');
    const store = new FileObjectStore(dir);
    const server = createObjectStoreServer(store, credentials);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    client = new S3Client({
      endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials,
      maxAttempts: 1,
    });
    await client.send(new CreateBucketCommand({ Bucket }));
    close = async () => {
      client.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      cleanup();
    };
  });
  afterEach(() => close());

  // Raw signed HTTP, as botocore and the AWS CLI send it: UploadPartCopy is not among the operations of
  // test/aws-models (the pipeline's own clients never call it), which the request check holds SDK calls to.
  it('UploadPartCopy copies an object, or the byte range x-amz-copy-source-range names, as a part (how the CLI copies over 8 MB)', async () => {
    const source = patterned(12 * MiB + 5, 7);
    await client.send(new PutObjectCommand({ Bucket, Key: 'big/source.bin', Body: source }));
    const { UploadId = '' } = await client.send(
      new CreateMultipartUploadCommand({ Bucket, Key: 'big/copy.bin' }),
    );
    const copyPart = (part: number, range: string) =>
      raw('PUT', `/${Bucket}/big/copy.bin?partNumber=${part}&uploadId=${UploadId}`, {
        'x-amz-copy-source': `/${Bucket}/big%2Fsource.bin`,
        'x-amz-copy-source-range': range,
      });
    const Parts = [];
    for (const [index, range] of [
      `bytes=0-${5 * MiB - 1}`,
      `bytes=${5 * MiB}-${source.length - 1}`,
    ].entries()) {
      const answer = await copyPart(index + 1, range);
      expect(answer.status, answer.text).to.equal(200);
      expect(answer.text).to.match(/<CopyPartResult[^>]*><ETag>/);
      Parts.push({
        ETag: elements(answer.text, 'ETag')[0]?.replaceAll('&quot;', '"'),
        PartNumber: index + 1,
      });
    }
    const outside = await copyPart(3, `bytes=0-${source.length}`);
    expect([outside.status, elements(outside.text, 'Code')]).to.deep.equal([416, ['InvalidRange']]);
    await client.send(
      new CompleteMultipartUploadCommand({
        Bucket,
        Key: 'big/copy.bin',
        UploadId,
        MultipartUpload: { Parts },
      }),
    );
    expect((await read('big/copy.bin')).bytes.equals(source)).to.equal(true);
  });

  it('keeps any key beside any other: a key and keys below it ("a/b", "a/b/c"), and folder markers ("prefix/")', async () => {
    const keys = ['a/b', 'a/b/c', 'a/b/c/d', 'prefix/', 'prefix/inside.txt', 'double//slash', 'x%2Fy'];
    for (const Key of keys) await client.send(new PutObjectCommand({ Bucket, Key, Body: `bytes of ${Key}` }));
    for (const Key of keys) expect((await read(Key)).bytes.toString(), Key).to.equal(`bytes of ${Key}`);
    const listed = await client.send(new ListObjectsV2Command({ Bucket }));
    expect(listed.Contents?.map((object) => object.Key)).to.deep.equal([...keys].sort());
  });

  it('ListObjects with a delimiter rolls a key ending in it (a folder marker) into a common prefix, not a key', async () => {
    for (const Key of ['0/', '0/1000', '1999', '2000'])
      await client.send(new PutObjectCommand({ Bucket, Key, Body: 'x' }));
    const page = await client.send(new ListObjectsV2Command({ Bucket, Delimiter: '/' }));
    expect(page.Contents?.map((object) => object.Key)).to.deep.equal(['1999', '2000']);
    expect(page.CommonPrefixes?.map((common) => common.Prefix)).to.deep.equal(['0/']);
    const version1 = await raw('GET', `/${Bucket}?delimiter=%2F`);
    expect(elements(version1.text, 'Key')).to.deep.equal(['1999', '2000']);
    expect(elements(version1.text, 'Prefix')).to.deep.equal(['', '0/']); // the request's, then the common one
  });

  it('ListObjectsV2: MaxKeys=0 lists nothing and is not truncated; an empty continuation token starts at the beginning', async () => {
    for (const Key of ['bar', 'baz', 'foo'])
      await client.send(new PutObjectCommand({ Bucket, Key, Body: 'x' }));
    const none = await client.send(new ListObjectsV2Command({ Bucket, MaxKeys: 0 }));
    expect([none.KeyCount, none.IsTruncated, none.Contents]).to.deep.equal([0, false, undefined]);
    const answer = await raw('GET', `/${Bucket}?list-type=2&continuation-token=`);
    expect(answer.status, answer.text).to.equal(200);
    expect(elements(answer.text, 'Key')).to.deep.equal(['bar', 'baz', 'foo']);
  });

  // Raw signed HTTP: test/aws-models holds the operations the pipeline's own clients use, and ListObjects
  // (version 1) and ListObjectVersions are not among them; botocore and the AWS CLI send them.
  it('ListObjects (version 1) pages with Marker/NextMarker; ListObjectVersions lists an unversioned bucket as version "null"', async () => {
    for (const Key of ['a/1', 'a/2', 'b'])
      await client.send(new PutObjectCommand({ Bucket, Key, Body: 'x' }));
    const first = (await raw('GET', `/${Bucket}?max-keys=1&delimiter=%2F`)).text;
    expect([
      elements(first, 'Prefix'),
      elements(first, 'IsTruncated'),
      elements(first, 'NextMarker'),
    ]).to.deep.equal([['', 'a/'], ['true'], ['a/']]);
    const next = (await raw('GET', `/${Bucket}?marker=a%2F&delimiter=%2F`)).text;
    expect(elements(next, 'Key')).to.deep.equal(['b']);
    const versions = (await raw('GET', `/${Bucket}?versions`)).text;
    expect([
      elements(versions, 'Key'),
      elements(versions, 'VersionId'),
      elements(versions, 'IsLatest'),
    ]).to.deep.equal([
      ['a/1', 'a/2', 'b'],
      ['null', 'null', 'null'],
      ['true', 'true', 'true'],
    ]);
  });

  it('DeleteObjects decodes XML character references in keys (&#xA;, &#46;) like any XML body: a key with a newline deletes that key', async () => {
    for (const Key of ['line\nbreak', 'line', 'dot.txt'])
      await client.send(new PutObjectCommand({ Bucket, Key, Body: 'x' }));
    const sdk = await client.send(
      new DeleteObjectsCommand({ Bucket, Delete: { Objects: [{ Key: 'line\nbreak' }] } }),
    );
    expect(sdk.Deleted?.map((deleted) => deleted.Key)).to.deep.equal(['line\nbreak']);
    const body = '<Delete><Object><Key>dot&#46;txt</Key></Object></Delete>';
    const answer = await raw('POST', `/${Bucket}?delete`, { 'content-type': 'application/xml' }, body);
    expect(answer.text).to.include('<Key>dot.txt</Key>');
    const left = await client.send(new ListObjectsV2Command({ Bucket }));
    expect(left.Contents?.map((object) => object.Key)).to.deep.equal(['line']);
  });

  it('an XML body with a DOCTYPE is MalformedXML, and nothing is deleted', async () => {
    await client.send(new PutObjectCommand({ Bucket, Key: 'kept', Body: 'x' }));
    const body =
      '<?xml version="1.0"?><!DOCTYPE Delete [<!ENTITY k "kept">]><Delete><Object><Key>&k;</Key></Object></Delete>';
    const answer = await raw('POST', `/${Bucket}?delete`, { 'content-type': 'application/xml' }, body);
    expect(answer.status).to.equal(400);
    expect(answer.text).to.match(/<Code>MalformedXML<\/Code>/);
    expect((await read('kept')).bytes.toString()).to.equal('x');
  });

  it('a key segment too long for a file name (with its metadata file) is a 400 naming the limit, never a 500 or a path', async () => {
    for (const Key of ['x'.repeat(252), `folder/${'y'.repeat(255)}`, `${'%'.repeat(86)}/z`]) {
      const refused = await failure(client.send(new PutObjectCommand({ Bucket, Key, Body: 'x' })));
      expect([refused.name, refused.status], Key.slice(0, 20)).to.deep.equal(['InvalidArgument', 400]);
      expect(refused.message).to.include('250 bytes').and.not.include('/tmp');
    }
    const tooLong = await failure(
      client.send(new PutObjectCommand({ Bucket, Key: 'k/'.repeat(513), Body: 'x' })),
    );
    expect([tooLong.name, tooLong.status]).to.deep.equal(['KeyTooLongError', 400]);
    await client.send(new PutObjectCommand({ Bucket, Key: 'x'.repeat(250), Body: 'fits' }));
    expect((await read('x'.repeat(250))).bytes.toString()).to.equal('fits');
  });

  it('conditional writes: If-None-Match "*" and If-Match on PutObject and CompleteMultipartUpload (412, or 404 NoSuchKey)', async () => {
    const { ETag } = await client.send(
      new PutObjectCommand({ Bucket, Key: 'cond', Body: 'one', IfNoneMatch: '*' }),
    );
    const exists = await failure(
      client.send(new PutObjectCommand({ Bucket, Key: 'cond', Body: 'two', IfNoneMatch: '*' })),
    );
    expect([exists.name, exists.status]).to.deep.equal(['PreconditionFailed', 412]);
    const changed = await failure(
      client.send(new PutObjectCommand({ Bucket, Key: 'cond', Body: 'two', IfMatch: '"0"' })),
    );
    expect([changed.name, changed.status]).to.deep.equal(['PreconditionFailed', 412]);
    const absent = await failure(
      client.send(new PutObjectCommand({ Bucket, Key: 'absent', Body: 'x', IfMatch: ETag })),
    );
    expect([absent.name, absent.status]).to.deep.equal(['NoSuchKey', 404]);
    await client.send(new PutObjectCommand({ Bucket, Key: 'cond', Body: 'three', IfMatch: ETag }));

    const upload = await multipart('cond', [Buffer.from('multipart')]);
    const refused = await failure(
      client.send(
        new CompleteMultipartUploadCommand({
          Bucket,
          Key: 'cond',
          UploadId: upload.UploadId,
          MultipartUpload: { Parts: upload.Parts },
          IfNoneMatch: '*',
        }),
      ),
    );
    expect([refused.name, refused.status]).to.deep.equal(['PreconditionFailed', 412]);
    expect((await read('cond')).bytes.toString()).to.equal('three');
    const current = await client.send(new HeadObjectCommand({ Bucket, Key: 'cond' }));
    await client.send(
      new CompleteMultipartUploadCommand({
        Bucket,
        Key: 'cond',
        UploadId: upload.UploadId,
        MultipartUpload: { Parts: upload.Parts },
        IfMatch: current.ETag,
      }),
    );
    expect((await read('cond')).bytes.toString()).to.equal('multipart');
  });

  it('CompleteMultipartUpload sent again after it succeeded answers the same object (a retry after a lost answer)', async () => {
    const upload = await multipart('again', [Buffer.from('once')]);
    const complete = () =>
      client.send(
        new CompleteMultipartUploadCommand({
          Bucket,
          Key: 'again',
          UploadId: upload.UploadId,
          MultipartUpload: { Parts: upload.Parts },
        }),
      );
    const first = await complete();
    expect((await complete()).ETag).to.equal(first.ETag);
  });

  it('GetObject/HeadObject with partNumber serve one part of a multipart object, with x-amz-mp-parts-count; part 1 of a plain object is all of it', async () => {
    const parts = [patterned(5 * MiB, 3), patterned(MiB, 5)];
    const upload = await multipart('parts.bin', parts);
    await client.send(
      new CompleteMultipartUploadCommand({
        Bucket,
        Key: 'parts.bin',
        UploadId: upload.UploadId,
        MultipartUpload: { Parts: upload.Parts },
      }),
    );
    const second = await read('parts.bin', { PartNumber: 2 });
    expect([second.answer.PartsCount, second.answer.ContentLength]).to.deep.equal([2, MiB]);
    expect(second.bytes.equals(parts[1] as Buffer)).to.equal(true);
    const head = await client.send(new HeadObjectCommand({ Bucket, Key: 'parts.bin', PartNumber: 1 }));
    expect(head.ContentLength).to.equal(5 * MiB);
    const beyond = await failure(read('parts.bin', { PartNumber: 3 }));
    expect([beyond.name, beyond.status]).to.deep.equal(['InvalidPart', 400]);
    await client.send(new PutObjectCommand({ Bucket, Key: 'plain', Body: 'body' }));
    expect((await read('plain', { PartNumber: 1 })).bytes.toString()).to.equal('body');
  });

  it('GetObject response-* parameters override the headers of the answer (content type, language, expires, cache control, disposition, encoding)', async () => {
    await client.send(new PutObjectCommand({ Bucket, Key: 'page', Body: 'x', ContentType: 'text/plain' }));
    const answer = await client.send(
      new GetObjectCommand({
        Bucket,
        Key: 'page',
        ResponseContentType: 'text/html',
        ResponseContentLanguage: 'fr',
        ResponseExpires: new Date('2030-01-01T00:00:00Z'),
        ResponseCacheControl: 'no-cache',
        ResponseContentDisposition: 'attachment; filename="p.html"',
        ResponseContentEncoding: 'identity',
      }),
    );
    expect([
      answer.ContentType,
      answer.ContentLanguage,
      answer.CacheControl,
      answer.ContentDisposition,
    ]).to.deep.equal(['text/html', 'fr', 'no-cache', 'attachment; filename="p.html"']);
    expect(answer.ExpiresString ?? answer.Expires?.toUTCString()).to.match(/2030/);
    await answer.Body?.transformToString();
  });

  it('CopyObject onto itself without REPLACE is InvalidRequest; x-amz-copy-source-if-match that fails is 412', async () => {
    const { ETag } = await client.send(new PutObjectCommand({ Bucket, Key: 'self', Body: 'x' }));
    const itself = await failure(
      client.send(new CopyObjectCommand({ Bucket, Key: 'self', CopySource: `${Bucket}/self` })),
    );
    expect([itself.name, itself.status]).to.deep.equal(['InvalidRequest', 400]);
    await client.send(
      new CopyObjectCommand({
        Bucket,
        Key: 'self',
        CopySource: `${Bucket}/self`,
        MetadataDirective: 'REPLACE',
        ContentType: 'text/plain',
      }),
    );
    const stale = await failure(
      client.send(
        new CopyObjectCommand({
          Bucket,
          Key: 'copy',
          CopySource: `${Bucket}/self`,
          CopySourceIfMatch: '"0"',
        }),
      ),
    );
    expect([stale.name, stale.status]).to.deep.equal(['PreconditionFailed', 412]);
    await client.send(
      new CopyObjectCommand({ Bucket, Key: 'copy', CopySource: `${Bucket}/self`, CopySourceIfMatch: ETag }),
    );
    expect((await read('copy')).bytes.toString()).to.equal('x');
  });

  it('bucket names follow S3 rules: no IP address, no adjacent "." and "-", no reserved prefix or suffix', async () => {
    for (const name of ['192.168.5.4', 'a..b', 'a.-b', 'a-.b', 'xn--bucket', 'bucket-s3alias', 'ab', 'Upper'])
      expect((await failure(client.send(new CreateBucketCommand({ Bucket: name })))).name, name).to.equal(
        'InvalidBucketName',
      );
    await client.send(new CreateBucketCommand({ Bucket: 'a.b-c.1' }));
  });

  it('ListBuckets pages with max-buckets and a continuation token', async () => {
    for (const name of ['page-b', 'page-c']) await client.send(new CreateBucketCommand({ Bucket: name }));
    const first = await client.send(new ListBucketsCommand({ MaxBuckets: 2 }));
    expect(first.Buckets?.map((bucket) => bucket.Name)).to.deep.equal([Bucket, 'page-b']);
    const next = await client.send(
      new ListBucketsCommand({ MaxBuckets: 2, ContinuationToken: first.ContinuationToken }),
    );
    expect([next.Buckets?.map((bucket) => bucket.Name), next.ContinuationToken]).to.deep.equal([
      ['page-c'],
      undefined,
    ]);
  });

  it('a Content-MD5 that is not 16 bytes is InvalidDigest; a version other than "null" is NotImplemented', async () => {
    const badDigest = await raw('PUT', `/${Bucket}/digest`, { 'content-md5': 'c2hvcnQ=' }, 'x');
    expect(badDigest.text).to.match(/<Code>InvalidDigest<\/Code>/);
    const versioned = await raw('GET', `/${Bucket}/digest?versionId=3HL4kqtJlcpXroDTDmJ`);
    expect([versioned.status, /NotImplemented/.test(versioned.text)]).to.deep.equal([501, true]);
  });

  // S3 answers a request signed for another region than the bucket's with AuthorizationHeaderMalformed
  // ("the region 'us-east-1' is wrong; expecting 'eu-west-1'"); the store holds its clients to the
  // configuration's region the same way.
  it('a store given a region refuses requests signed for another one (AuthorizationHeaderMalformed), and serves its own', async () => {
    const { dir, cleanup } = tempDir('scones-region-');
    const server = createObjectStoreServer(new FileObjectStore(dir), credentials, 'eu-west-1');
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const signedFor = (region: string) =>
      new S3Client({ endpoint: url, region, forcePathStyle: true, credentials, maxAttempts: 1 });
    const [wrong, right] = [signedFor('us-east-1'), signedFor('eu-west-1')];
    try {
      const error = await rejection(wrong.send(new CreateBucketCommand({ Bucket })));
      expect(error.name).to.equal('AuthorizationHeaderMalformed');
      expect(error.message).to.include("the region 'us-east-1' is wrong; expecting 'eu-west-1'");
      await right.send(new CreateBucketCommand({ Bucket }));
      expect((await right.send(new ListObjectsV2Command({ Bucket }))).KeyCount).to.equal(0);
    } finally {
      wrong.destroy();
      right.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      cleanup();
    }
  });
});
