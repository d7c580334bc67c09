import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { expect } from 'chai';
import { S3ObjectStore } from '../../pipeline/backends/s3-object-store.js';
import {
  type LocalObjectStoreServer,
  localS3Client,
  startLocalObjectStore,
} from '../../pipeline/local-s3/launcher.js';
import { mapConcurrent } from '../../pipeline/util/concurrency.js';
import { rejection } from '../helpers/assertions.js';
import { presignedPath, rawRequest, signedHeaders, signedRequest } from '../helpers/raw-http.js';
import { tempDir } from '../helpers/workspace.js';

function createHashHex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The S3 error code (`name`) and HTTP status of what `send` threw. */
async function failure(
  sending: Promise<unknown>,
): Promise<{ name: string; status?: number; message: string }> {
  const e = (await rejection(sending)) as Error & { $metadata?: { httpStatusCode?: number } };
  return {
    name: e.name,
    message: e.message,
    ...(e.$metadata?.httpStatusCode === undefined ? {} : { status: e.$metadata.httpStatusCode }),
  };
}

/**
 * A client whose requests get `header` replaced before they are signed (`build` comes before
 * `finalizeRequest`, where the SDK signs), so the store sees a correctly signed request whose value lies.
 */
function tamperingClient(base: S3Client, header: string, value: string): S3Client {
  base.middlewareStack.add(
    (next) => async (args) => {
      const requestHeaders = (args.request as { headers: Record<string, string> }).headers;
      requestHeaders[header] = value;
      return next(args);
    },
    { step: 'build', priority: 'low', name: `tamper-${header}` },
  );
  return base;
}

describe('local object store through the real @aws-sdk/client-s3', () => {
  let server: LocalObjectStoreServer;
  let cleanup: () => void;
  /** The store's folder, inside `outside`: a folder of files no request may touch. */
  let directory: string;
  let outside: string;
  let store: S3ObjectStore;
  const client = () => localS3Client(server, 'us-east-1');
  /** One request as raw HTTP, signed with the store's credentials, for what the SDK would never send. */
  const raw = (method: string, path: string, headers: Record<string, string> = {}, body = '') =>
    signedRequest(server, method, path, headers, body);
  const unsigned = (method: string, path: string, headers: Record<string, string> = {}, body = '') =>
    rawRequest(server.endpoint, method, path, headers, body);

  before(async () => {
    const temp = tempDir();
    cleanup = temp.cleanup;
    outside = temp.dir;
    directory = join(temp.dir, 'store');
    server = await startLocalObjectStore({ directory, bucket: 'test-bucket' });
    store = new S3ObjectStore(client(), 'test-bucket');
  });
  after(async () => {
    await server.stop();
    cleanup();
  });

  it('listens on 127.0.0.1 only', () => {
    expect(server.endpoint).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('round-trips put, head, get and delete', async () => {
    await store.put('a/b.txt', 'hello', { contentType: 'text/plain' });
    expect((await store.head('a/b.txt'))?.size).to.equal(5);
    expect(Buffer.from(await store.get('a/b.txt')).toString()).to.equal('hello');
    await store.delete('a/b.txt');
    expect(await store.head('a/b.txt')).to.equal(undefined);
    try {
      await store.get('a/b.txt');
      expect.fail('a deleted object was returned');
    } catch (error) {
      expect((error as Error).message).to.match(/s3:\/\/test-bucket\/a\/b\.txt does not exist/);
    }
  });

  it('lists more than one page (continuation tokens) in key order', async () => {
    const keys = Array.from({ length: 1105 }, (_, i) => `many/${String(i).padStart(5, '0')}`);
    await mapConcurrent(keys, 16, (key) => store.put(key, key));
    const listed: string[] = [];
    for await (const object of store.list('many/')) listed.push(object.key);
    expect(listed).to.deep.equal(keys);
    const firstPage = await client().send(
      new ListObjectsV2Command({ Bucket: 'test-bucket', Prefix: 'many/' }),
    );
    expect(firstPage.IsTruncated).to.equal(true);
    expect(firstPage.NextContinuationToken).to.be.a('string');
  });

  it('accepts multipart uploads', async () => {
    const body = Buffer.alloc(11 * 1024 * 1024, 7);
    const upload = new Upload({
      client: client(),
      params: { Bucket: 'test-bucket', Key: 'big.bin', Body: body },
      partSize: 5 * 1024 * 1024,
    });
    await upload.done();
    const response = await client().send(new GetObjectCommand({ Bucket: 'test-bucket', Key: 'big.bin' }));
    const bytes = await response.Body!.transformToByteArray();
    expect(bytes.length).to.equal(body.length);
    expect(Buffer.from(bytes).equals(body)).to.equal(true);
    const started = await client().send(
      new CreateMultipartUploadCommand({ Bucket: 'test-bucket', Key: 'x' }),
    );
    expect(started.UploadId).to.be.a('string');
  });

  const Bucket = 'test-bucket';

  it('stores streams of unknown length (aws-chunked bodies with a trailing CRC32)', async () => {
    const parts = [Buffer.alloc(70_000, 1), Buffer.from('middle'), Buffer.alloc(5, 9)];
    const seen: Record<string, string> = {};
    const watching = client();
    watching.middlewareStack.add(
      (next) => async (args) => {
        Object.assign(seen, (args.request as { headers: Record<string, string> }).headers);
        return next(args);
      },
      { step: 'finalizeRequest', priority: 'low', name: 'watch' },
    );
    const length = parts.reduce((sum, part) => sum + part.length, 0);
    await watching.send(
      new PutObjectCommand({ Bucket, Key: 'stream.bin', Body: Readable.from(parts), ContentLength: length }),
    );
    expect(seen['content-encoding']).to.match(/aws-chunked/);
    expect(seen['x-amz-trailer']).to.equal('x-amz-checksum-crc32');
    expect(Buffer.from(await store.get('stream.bin')).equals(Buffer.concat(parts))).to.equal(true);
  });

  it('refuses aws-chunked bodies that are malformed or whose trailing CRC32 does not match', async () => {
    const chunkedHeaders = {
      'content-encoding': 'aws-chunked',
      'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
    };
    const send = (key: string, body: string) => raw('PUT', `/${Bucket}/${key}`, chunkedHeaders, body);
    // CRC32 of "hello" is 0x3610a686, "NhCmhg==" in base64.
    const good = await send('chunked-good', '5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n');
    expect(good.status, good.text).to.equal(200);
    expect(Buffer.from(await store.get('chunked-good')).toString()).to.equal('hello');
    const wrong = await send('chunked-wrong', '5\r\nhello\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n');
    expect(wrong.status).to.equal(400);
    expect(wrong.text).to.match(/<Code>BadDigest<\/Code>/);
    const torn = await send('chunked-torn', '9\r\nhello');
    expect(torn.status).to.equal(400);
    expect(torn.text).to.match(/<Code>IncompleteBody<\/Code>/);
    expect(await store.head('chunked-wrong')).to.equal(undefined);
    expect(await store.head('chunked-torn')).to.equal(undefined);
  });

  it('refuses a body whose CRC32 or Content-MD5 does not match, and keeps the previous object', async () => {
    await store.put('guarded.txt', 'original');
    const wrongCrc = tamperingClient(client(), 'x-amz-checksum-crc32', 'AAAAAA==');
    const crc = await failure(
      wrongCrc.send(new PutObjectCommand({ Bucket, Key: 'guarded.txt', Body: 'changed' })),
    );
    expect(crc).to.include({ name: 'BadDigest', status: 400 });
    const wrongMd5 = tamperingClient(client(), 'content-md5', '1B2M2Y8AsgTpgAmY7PhCfg==');
    const md5 = await failure(
      wrongMd5.send(new PutObjectCommand({ Bucket, Key: 'guarded.txt', Body: 'changed' })),
    );
    expect(md5).to.include({ name: 'BadDigest', status: 400 });
    expect(Buffer.from(await store.get('guarded.txt')).toString()).to.equal('original');
  });

  it('keeps content type, user metadata and any key characters; zero-byte objects too', async () => {
    const key = 'odd/with space/ü+x=1&y%z.png';
    await client().send(
      new PutObjectCommand({
        Bucket,
        Key: key,
        Body: 'x',
        ContentType: 'image/png',
        Metadata: { source: 'test' },
      }),
    );
    const head = await client().send(new HeadObjectCommand({ Bucket, Key: key }));
    expect(head.ContentType).to.equal('image/png');
    expect(head.Metadata).to.deep.equal({ source: 'test' });
    expect(head.ETag).to.equal('"9dd4e461268c8034f5c8564e155c67a6"'); // MD5 of "x"
    const listed = await client().send(new ListObjectsV2Command({ Bucket, Prefix: 'odd/' }));
    expect(listed.Contents?.map((c) => c.Key)).to.deep.equal([key]);
    await store.put('empty', new Uint8Array(0));
    expect((await store.get('empty')).length).to.equal(0);
    expect((await store.head('empty'))?.size).to.equal(0);
  });

  it('lists with a delimiter (common prefixes) and start-after, in byte order', async () => {
    for (const key of ['tree/a/1', 'tree/a/2', 'tree/b/1', 'tree/c', 'tree/B']) await store.put(key, key);
    const top = await client().send(new ListObjectsV2Command({ Bucket, Prefix: 'tree/', Delimiter: '/' }));
    expect(top.CommonPrefixes?.map((p) => p.Prefix)).to.deep.equal(['tree/a/', 'tree/b/']);
    expect(top.Contents?.map((c) => c.Key)).to.deep.equal(['tree/B', 'tree/c']);
    expect(top.KeyCount).to.equal(4);
    const after = await client().send(
      new ListObjectsV2Command({ Bucket, Prefix: 'tree/', StartAfter: 'tree/a/2' }),
    );
    expect(after.Contents?.map((c) => c.Key)).to.deep.equal(['tree/b/1', 'tree/c']);
    const paged = await client().send(
      new ListObjectsV2Command({ Bucket, Prefix: 'tree/', Delimiter: '/', MaxKeys: 1 }),
    );
    expect(paged.CommonPrefixes ?? []).to.deep.equal([]);
    expect(paged.Contents?.map((c) => c.Key)).to.deep.equal(['tree/B']);
    const next = await client().send(
      new ListObjectsV2Command({
        Bucket,
        Prefix: 'tree/',
        Delimiter: '/',
        MaxKeys: 2,
        ContinuationToken: paged.NextContinuationToken,
      }),
    );
    expect(next.CommonPrefixes?.map((p) => p.Prefix)).to.deep.equal(['tree/a/', 'tree/b/']);
    expect(next.IsTruncated).to.equal(true);
  });

  it('deletes many objects at once, copies objects, and serves byte ranges', async () => {
    await store.put('copy/source.txt', 'abcdefgh', { contentType: 'text/plain' });
    await client().send(
      new CopyObjectCommand({ Bucket, Key: 'copy/target.txt', CopySource: `${Bucket}/copy/source.txt` }),
    );
    const copied = await client().send(
      new GetObjectCommand({ Bucket, Key: 'copy/target.txt', Range: 'bytes=2-4' }),
    );
    expect(copied.ContentType).to.equal('text/plain');
    expect(copied.ContentRange).to.equal('bytes 2-4/8');
    expect(await copied.Body!.transformToString()).to.equal('cde');
    const tail = await client().send(
      new GetObjectCommand({ Bucket, Key: 'copy/target.txt', Range: 'bytes=-3' }),
    );
    expect(await tail.Body!.transformToString()).to.equal('fgh');
    const deleted = await client().send(
      new DeleteObjectsCommand({
        Bucket,
        Delete: { Objects: [{ Key: 'copy/source.txt' }, { Key: 'copy/target.txt' }, { Key: 'copy/never' }] },
      }),
    );
    expect(deleted.Deleted?.map((d) => d.Key)).to.deep.equal([
      'copy/source.txt',
      'copy/target.txt',
      'copy/never',
    ]);
    expect(await store.head('copy/source.txt')).to.equal(undefined);
    expect(await store.head('copy/target.txt')).to.equal(undefined);
  });

  it('answers conditional reads and writes as S3 does', async () => {
    const put = await client().send(new PutObjectCommand({ Bucket, Key: 'cond.txt', Body: 'v1' }));
    const unchanged = await failure(
      client().send(new GetObjectCommand({ Bucket, Key: 'cond.txt', IfNoneMatch: put.ETag })),
    );
    expect(unchanged.status).to.equal(304);
    const stale = await failure(
      client().send(new GetObjectCommand({ Bucket, Key: 'cond.txt', IfMatch: '"0000"' })),
    );
    expect(stale).to.include({ name: 'PreconditionFailed', status: 412 });
    const exists = await failure(
      client().send(new PutObjectCommand({ Bucket, Key: 'cond.txt', Body: 'v2', IfNoneMatch: '*' })),
    );
    expect(exists).to.include({ name: 'PreconditionFailed', status: 412 });
    expect(Buffer.from(await store.get('cond.txt')).toString()).to.equal('v1');
  });

  it('says NotImplemented for an operation it does not serve, rather than answering wrongly', async () => {
    await store.put('tagged.txt', 'x');
    const tagging = await failure(client().send(new GetObjectTaggingCommand({ Bucket, Key: 'tagged.txt' })));
    expect(tagging).to.include({ name: 'NotImplemented', status: 501 });
    expect(tagging.message).to.match(/does not implement the "tagging" subresource/);
  });

  it('serves buckets: create, head, list; unknown ones are NoSuchBucket', async () => {
    await client().send(new CreateBucketCommand({ Bucket: 'second-bucket' }));
    await client().send(new HeadBucketCommand({ Bucket: 'second-bucket' }));
    const buckets = await client().send(new ListBucketsCommand({}));
    expect(buckets.Buckets?.map((b) => b.Name)).to.include.members(['test-bucket', 'second-bucket']);
    const missing = await failure(
      client().send(new GetObjectCommand({ Bucket: 'no-such-bucket', Key: 'k' })),
    );
    expect(missing).to.include({ name: 'NoSuchBucket', status: 404 });
    const noKey = await failure(client().send(new GetObjectCommand({ Bucket, Key: 'never/written' })));
    expect(noKey).to.include({ name: 'NoSuchKey', status: 404 });
  });

  it('checks multipart uploads as S3 does: part sizes, ETags, order, abort', async () => {
    const { UploadId } = await client().send(new CreateMultipartUploadCommand({ Bucket, Key: 'parts.bin' }));
    const small = await client().send(
      new UploadPartCommand({ Bucket, Key: 'parts.bin', UploadId, PartNumber: 1, Body: Buffer.alloc(10, 1) }),
    );
    const last = await client().send(
      new UploadPartCommand({ Bucket, Key: 'parts.bin', UploadId, PartNumber: 2, Body: Buffer.alloc(10, 2) }),
    );
    const complete = (parts: { PartNumber: number; ETag?: string | undefined }[]) =>
      client().send(
        new CompleteMultipartUploadCommand({
          Bucket,
          Key: 'parts.bin',
          UploadId,
          MultipartUpload: { Parts: parts },
        }),
      );
    expect(
      await failure(
        complete([
          { PartNumber: 1, ETag: small.ETag },
          { PartNumber: 2, ETag: last.ETag },
        ]),
      ),
    ).to.include({
      name: 'EntityTooSmall',
    });
    expect(
      await failure(
        complete([
          { PartNumber: 2, ETag: last.ETag },
          { PartNumber: 1, ETag: small.ETag },
        ]),
      ),
    ).to.include({
      name: 'InvalidPartOrder',
    });
    expect(await failure(complete([{ PartNumber: 1, ETag: '"0000"' }]))).to.include({ name: 'InvalidPart' });
    await client().send(new AbortMultipartUploadCommand({ Bucket, Key: 'parts.bin', UploadId }));
    const gone = await failure(
      client().send(new UploadPartCommand({ Bucket, Key: 'parts.bin', UploadId, PartNumber: 3, Body: 'x' })),
    );
    expect(gone).to.include({ name: 'NoSuchUpload', status: 404 });
    expect(await store.head('parts.bin')).to.equal(undefined);
  });

  it('stores nothing when the client goes away in the middle of an upload', async () => {
    const { port } = new URL(server.endpoint);
    await new Promise<void>((resolve) => {
      const put = request({
        host: '127.0.0.1',
        port,
        method: 'PUT',
        path: `/${Bucket}/abandoned.bin`,
        headers: { 'content-length': '100000' },
      });
      put.on('error', () => resolve());
      put.write(Buffer.alloc(50_000, 3), () => setTimeout(() => put.destroy(), 50));
      put.on('close', () => resolve());
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await store.head('abandoned.bin')).to.equal(undefined);
    expect(readdirSync(join(directory, '.tmp'))).to.deep.equal([]);
  });

  it('keeps every request inside its folder: no bucket name or key reaches outside, or into its metadata', async () => {
    await store.put('inside.txt', 'x');
    for (const path of [
      '/%2E%2E/%2E%2E/etc/passwd',
      '/..%2F..%2Fetc/passwd',
      `/${Bucket}/%2E%2E/%2E%2E/%2E%2E/etc/passwd`,
      `/${Bucket}/a/..%2F..%2F..%2Fetc%2Fpasswd`,
      `/.metadata/${Bucket}/inside.txt.json`,
      `/${Bucket}/%E0%A4%A`,
    ]) {
      const answer = await raw('GET', path);
      expect(answer.status, path).to.be.within(400, 404);
      expect(answer.text, path).to.not.match(/root:|"etag"/);
    }
    const escaping = await raw('PUT', `/${Bucket}/a/%2E%2E/%2E%2E/escaped.txt`, {}, 'x');
    expect(escaping.status).to.equal(400);
    expect(escaping.text).to.match(/<Code>InvalidArgument<\/Code>/);
  });

  it('closes the file of every GET, whether the client reads the body and hangs up or hangs up early', async function () {
    if (process.platform !== 'linux') this.skip(); // counts /proc/<pid>/fd
    await store.put('handles/big.bin', Buffer.alloc(4 * 1024 * 1024, 5));
    await store.put('handles/small.bin', Buffer.alloc(40_000, 6));
    const openFiles = () => readdirSync(`/proc/${server.pid}/fd`).length;
    const { port } = new URL(server.endpoint);
    /** One GET on its own connection; `early`: hang up at the first bytes of the body. */
    const get = async (key: string, early: boolean) => {
      const path = `/${Bucket}/${key}`;
      const headers = await signedHeaders(server, 'GET', path);
      await new Promise<void>((resolve) => {
        const sent = request({ host: '127.0.0.1', port, path, headers, agent: false }, (response) => {
          response.once('data', () => {
            if (early) sent.destroy();
          });
          response.on('end', () => sent.destroy());
          response.on('close', () => resolve());
        });
        sent.on('error', () => resolve());
        sent.end();
      });
    };
    await get('handles/small.bin', false); // the server's own descriptors settle first
    const before = openFiles();
    for (let round = 0; round < 100; round++)
      await Promise.all([
        get('handles/big.bin', true),
        get('handles/small.bin', false),
        get('handles/big.bin', false),
      ]);
    // Closing is asynchronous: give the server a moment, then every file must be closed again.
    let after = openFiles();
    for (let wait = 0; wait < 20 && after > before; wait++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      after = openFiles();
    }
    expect(after, `${after - before} descriptors left open after 300 GETs`).to.be.at.most(before);
  });

  describe('security: keys checked before any file is touched, signed requests only, no browser requests', () => {
    /** A file beside the store's folder that a `..` key would reach through the metadata folder. */
    const victim = () => join(outside, 'victim.json');
    beforeEach(() => writeFileSync(victim(), '{"keep":true}'));

    it('a DELETE whose key climbs out of the bucket leaves the outside file and answers InvalidArgument', async () => {
      // <store>/.metadata/test-bucket/../../../victim.json is <outside>/victim.json
      for (const key of [
        '..%2F..%2F..%2Fvictim',
        '%2E%2E/%2E%2E/%2E%2E/victim',
        'a/..%2F..%2F..%2F..%2Fvictim',
      ]) {
        const answer = await raw('DELETE', `/${Bucket}/${key}`);
        expect(answer.status, key).to.equal(400);
        expect(answer.text, key).to.match(/<Code>InvalidArgument<\/Code>/);
        expect(readFileSync(victim(), 'utf8'), key).to.equal('{"keep":true}');
      }
    });

    it('DeleteObjects refuses a batch with an escaping key per key, and malformed XML whole, touching nothing', async () => {
      await store.put('batch/kept.txt', 'x');
      const body = (keys: string[]) =>
        `<?xml version="1.0" encoding="UTF-8"?><Delete>${keys.map((k) => `<Object><Key>${k}</Key></Object>`).join('')}</Delete>`;
      const xmlHeaders = { 'content-type': 'application/xml' };
      const escaping = await raw('POST', `/${Bucket}?delete`, xmlHeaders, body(['../../../victim']));
      expect(escaping.status).to.equal(200);
      expect(escaping.text).to.match(/<Error><Key>..\/..\/..\/victim<\/Key><Code>InvalidArgument<\/Code>/);
      expect(readFileSync(victim(), 'utf8')).to.equal('{"keep":true}');
      for (const malformed of [
        '<Delete><Object><Key>batch/kept.txt</Key></Object>', // unclosed
        '<Delete><Object><Key>batch/kept.txt</Key></Object></Delete><Delete>',
        '<Delete></Delete>',
        '<Delete><Object><Key></Key></Object></Delete>',
        'batch/kept.txt',
      ]) {
        const answer = await raw('POST', `/${Bucket}?delete`, xmlHeaders, malformed);
        expect(answer.status, malformed).to.equal(400);
        expect(answer.text, malformed).to.match(/<Code>MalformedXML<\/Code>/);
      }
      expect(await store.head('batch/kept.txt')).to.not.equal(undefined);
    });

    it('refuses content types a web page can send without a CORS preflight, and requests marked cross-site', async () => {
      await store.put('browser/kept.txt', 'x');
      const body = '<Delete><Object><Key>browser/kept.txt</Key></Object></Delete>';
      // The Fetch standard's CORS-safelisted request content types.
      for (const type of [
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
      ]) {
        const answer = await raw('POST', `/${Bucket}?delete`, { 'content-type': type }, body);
        expect(answer.status, type).to.equal(400);
        expect(answer.text, type).to.match(/Content-Type .* is refused/);
      }
      for (const marks of [{ origin: 'https://example.org' }, { 'sec-fetch-site': 'cross-site' }]) {
        const answer = await raw('GET', `/${Bucket}/browser/kept.txt`, marks);
        expect(answer.status, JSON.stringify(marks)).to.equal(403);
      }
      expect(await store.head('browser/kept.txt')).to.not.equal(undefined);
    });

    it('refuses unsigned, wrongly signed, unknown-key, stale and expired requests as S3 does', async () => {
      await store.put('private.txt', 'secret bytes');
      const path = `/${Bucket}/private.txt`;
      // S3 "Error responses": AccessDenied, SignatureDoesNotMatch, InvalidAccessKeyId, RequestTimeTooSkewed.
      const anonymous = await unsigned('GET', path);
      expect(anonymous.status).to.equal(403);
      expect(anonymous.text).to.match(/<Code>AccessDenied<\/Code>/);
      const wrongSecret = await signedRequest(
        { endpoint: server.endpoint, credentials: { ...server.credentials, secretAccessKey: 'guessed' } },
        'GET',
        path,
      );
      expect(wrongSecret.status).to.equal(403);
      expect(wrongSecret.text).to.match(/<Code>SignatureDoesNotMatch<\/Code>/);
      const otherKey = await signedRequest(
        {
          endpoint: server.endpoint,
          credentials: { accessKeyId: 'SCONESLOCAL', secretAccessKey: 'scones-local-store' },
        },
        'GET',
        path,
      );
      expect(otherKey.text).to.match(/<Code>InvalidAccessKeyId<\/Code>/);
      const stale = await signedRequest(server, 'GET', path, {}, '', {
        signingDate: new Date(Date.now() - 20 * 60 * 1000),
      });
      expect(stale.text).to.match(/<Code>RequestTimeTooSkewed<\/Code>/);
      // A signed request replayed with another body: the signed x-amz-content-sha256 no longer matches.
      const replayed = await raw(
        'PUT',
        path,
        { 'x-amz-content-sha256': createHashHex('original') },
        'forged',
      );
      expect(replayed.status).to.equal(400);
      expect(replayed.text).to.match(/<Code>XAmzContentSHA256Mismatch<\/Code>/);
      for (const answer of [anonymous, wrongSecret, otherKey, stale])
        expect(answer.text).to.not.match(/secret bytes/);
      const destroyed = await unsigned('DELETE', path);
      expect(destroyed.status).to.equal(403);
      expect(Buffer.from(await store.get('private.txt')).toString()).to.equal('secret bytes');

      // Presigned URLs (query form) work while valid, and not after.
      const presigned = await unsigned('GET', await presignedPath(server, 'GET', path));
      expect(presigned.status, presigned.text).to.equal(200);
      expect(presigned.text).to.equal('secret bytes');
      const expired = await unsigned(
        'GET',
        await presignedPath(server, 'GET', path, {
          expiresIn: 60,
          signingDate: new Date(Date.now() - 120_000),
        }),
      );
      expect(expired.status).to.equal(403);
      expect(expired.text).to.match(/expired/);
    });
  });
});

describe('local object store start: recovery removes only its own leftovers, and says so', () => {
  it("keeps a user's files in the store folder, removes its own temporary files, and reports both on stderr", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const first = await startLocalObjectStore({ directory: dir, bucket: 'test-bucket', log: () => {} });
      await new S3ObjectStore(localS3Client(first, 'us-east-1'), 'test-bucket').put('staged.txt', 'staged');
      await first.stop();
      // A user drops a file into the bucket's folder; a killed store left a temporary file.
      mkdirSync(join(dir, 'test-bucket', 'notes'), { recursive: true });
      writeFileSync(join(dir, 'test-bucket', 'notes', 'mine.txt'), 'my notes');
      writeFileSync(join(dir, '.tmp', '0123abcd'), 'half an upload');

      let said = '';
      const second = await startLocalObjectStore({
        directory: dir,
        bucket: 'test-bucket',
        log: (text) => {
          said += text;
        },
      });
      try {
        expect(readFileSync(join(dir, 'test-bucket', 'notes', 'mine.txt'), 'utf8')).to.equal('my notes');
        expect(existsSync(join(dir, '.tmp', '0123abcd'))).to.equal(false);
        expect(said).to.match(
          /removed 1 files an interrupted run of the store left in .*\n {2}\.tmp\/0123abcd/,
        );
        expect(said).to.match(
          /kept 1 files in .* that are not objects the store wrote .*\n {2}test-bucket\/notes\/mine\.txt/,
        );
        const store = new S3ObjectStore(localS3Client(second, 'us-east-1'), 'test-bucket');
        expect(Buffer.from(await store.get('staged.txt')).toString()).to.equal('staged');
      } finally {
        await second.stop();
      }
    } finally {
      cleanup();
    }
  });
});
