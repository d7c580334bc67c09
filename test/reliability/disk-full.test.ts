import { existsSync, readdirSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { expect } from 'chai';
import { FileManifestStore } from '../../pipeline/backends/manifest-stores.js';
import { FileObjectStore } from '../../pipeline/local-s3/files.js';
import { createObjectStoreServer } from '../../pipeline/local-s3/http.js';
import { localS3Client } from '../../pipeline/local-s3/launcher.js';
import { newLocalCredentials } from '../../pipeline/local-s3/signature.js';
import { newManifest } from '../../pipeline/manifest.js';
import { fullDiskUnder } from '../helpers/full-disk.js';
import { tempDir } from '../helpers/workspace.js';
import { recordFaults } from './figures.js';

/** Every file under `dir`, relative to it. */
const filesUnder = (dir: string) =>
  existsSync(dir) ? readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort() : [];

describe('reliability: a full disk under the local paths (ENOSPC injected into the writes)', function () {
  this.timeout(60_000);
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => ({ dir, cleanup } = tempDir('disk-full-')));
  afterEach(() => cleanup());

  it('a manifest write names the manifest and what to do, and leaves the last good manifest and no temporary file', async () => {
    // Prepare: a run with one saved manifest.
    const runs = join(dir, 'runs');
    const manifests = new FileManifestStore(runs);
    const first = newManifest('run-1', 'local', 'digest-1');
    await manifests.save(first);
    const before = filesUnder(runs);
    // Act: the next save meets a full disk.
    const restore = fullDiskUnder(runs);
    const failure = await manifests
      .save(newManifest('run-1', 'local', 'digest-2'))
      .then(() => undefined)
      .catch((error: Error) => error)
      .finally(restore);
    // Assess
    const path = manifests.location('run-1');
    const message = failure?.message ?? '';
    const failed = recordFaults(1, {
      'the save fails': failure !== undefined,
      'the message names the manifest': message.includes(path),
      'the message says what to do': /no space left on the device: free space on it \(or set workDir/.test(
        message,
      ),
      'the last good manifest is kept': (await manifests.load('run-1'))?.configDigest === 'digest-1',
      'no temporary file is left': JSON.stringify(filesUnder(runs)) === JSON.stringify(before),
    });
    expect(failed, message).to.deep.equal([]);
  });

  describe('the local object store, through the S3 client', () => {
    let server: Server;
    let client: S3Client;
    let storeRoot: string;
    beforeEach(async () => {
      storeRoot = join(dir, 'objects');
      const credentials = newLocalCredentials();
      const store = new FileObjectStore(storeRoot);
      store.createBucket('bucket');
      server = createObjectStoreServer(store, credentials);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      client = localS3Client({ endpoint: `http://127.0.0.1:${port}`, credentials }, 'us-east-1', {
        // The SDK warns on the streamed request it cannot retry; that failure is the point here.
        logger: { trace: () => {}, debug: () => {}, info: () => {}, warn: () => {}, error: () => {} },
      });
    });
    afterEach(async () => {
      client.destroy();
      await new Promise((resolve) => server.close(resolve));
    });

    for (const [kind, body] of [
      ['a whole body', () => Buffer.from('new version')],
      ['a streamed body', () => Readable.from([Buffer.from('new '), Buffer.from('version')])],
    ] as const)
      it(`a PUT of ${kind} is refused with 507, not retried, naming the file and what to do; the old object is kept whole`, async () => {
        // Prepare
        await client.send(new PutObjectCommand({ Bucket: 'bucket', Key: 'data/a.png', Body: 'old version' }));
        const before = filesUnder(join(storeRoot, '.tmp'));
        // Act
        const restore = fullDiskUnder(storeRoot);
        const failure = await client
          .send(
            new PutObjectCommand({
              Bucket: 'bucket',
              Key: 'data/a.png',
              Body: body(),
              ContentLength: 'new version'.length,
            }),
          )
          .then(() => undefined)
          .catch((error: Error & { $metadata?: { httpStatusCode?: number; attempts?: number } }) => error)
          .finally(restore);
        // Assess
        const kept = await client.send(new GetObjectCommand({ Bucket: 'bucket', Key: 'data/a.png' }));
        const text = await kept.Body?.transformToString();
        const message = failure?.message ?? '';
        const failed = recordFaults(1, {
          'the PUT fails with 507 InsufficientStorage':
            failure?.name === 'InsufficientStorage' && failure.$metadata?.httpStatusCode === 507,
          // A streamed body is never retried by the SDK (it cannot be replayed), so no attempt count then.
          'it is not retried': (failure?.$metadata?.attempts ?? 1) === 1,
          // The file of `data/a.png` (pipeline/local-s3/keys.ts: a folder is named with its '/' as %2F).
          'the message names the file': message.includes(join(storeRoot, 'bucket', 'data%2F', 'a.png')),
          'the message says what to do': /no space left on the device: free space on it, or set workDir/.test(
            message,
          ),
          'the old object reads back whole': text === 'old version',
          'no temporary file is left':
            JSON.stringify(filesUnder(join(storeRoot, '.tmp'))) === JSON.stringify(before),
        });
        expect(failed, `${failure?.name}: ${message}`).to.deep.equal([]);
      });
  });
});
