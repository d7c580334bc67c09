import { CreateMultipartUploadCommand, GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { expect } from 'chai';
import {
  type LocalObjectStoreServer,
  localS3Client,
  startLocalObjectStore,
} from '../../pipeline/backends/local/object-store.js';
import { S3ObjectStore } from '../../pipeline/backends/s3-object-store.js';
import { mapConcurrent } from '../../pipeline/util/concurrency.js';
import { tempDir } from '../helpers/workspace.js';

describe('local object store through the real @aws-sdk/client-s3', () => {
  let server: LocalObjectStoreServer;
  let cleanup: () => void;
  let store: S3ObjectStore;
  const client = () => localS3Client(server.endpoint, 'us-east-1');

  before(async () => {
    const temp = tempDir();
    cleanup = temp.cleanup;
    server = await startLocalObjectStore({ directory: temp.dir, bucket: 'test-bucket' });
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
});
