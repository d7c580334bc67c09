import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { expect } from 'chai';
import {
  type LocalObjectStoreServer,
  localS3Client,
  startLocalObjectStore,
} from '../../pipeline/backends/local/object-store.js';
import { tempDir } from '../helpers/workspace.js';
import { figures } from './figures.js';

const BUCKET = 'crash-bucket';
const md5 = (bytes: Uint8Array) => createHash('md5').update(bytes).digest('hex');

/** Per key: the version the store acknowledged last, and the one in flight when it was killed. */
interface KeyHistory {
  acknowledged?: string;
  inFlight?: string;
}

/** Overwrites each key again and again, one write per key at a time, until the store goes away. */
async function writeUntilKilled(
  server: LocalObjectStoreServer,
  keys: string[],
  histories: Map<string, KeyHistory>,
  acknowledgedWrites: { count: number },
  killed: { value: boolean },
): Promise<void> {
  // One attempt per request: after the kill a retry would only meet a closed port.
  const client = localS3Client(server, 'us-east-1', {
    maxAttempts: 1,
    // A request whose connection the kill cuts must fail, not wait for ever.
    requestHandler: { requestTimeout: 5000, connectionTimeout: 2000 },
    // The SDK warns on every streamed request the kill cuts short; those failures are the point here.
    logger: { trace: () => {}, debug: () => {}, info: () => {}, warn: () => {}, error: () => {} },
  });
  await Promise.all(
    keys.map(async (key, index) => {
      const history = histories.get(key) ?? {};
      histories.set(key, history);
      for (;;) {
        // Sizes from 1 KiB to 600 KiB, and every fifth key streamed (aws-chunked), so kills land inside
        // a body, between the bytes and the metadata, and between requests.
        const body = randomBytes(1024 + Math.floor(Math.random() * 600 * 1024));
        history.inFlight = md5(body);
        try {
          await client.send(
            new PutObjectCommand({
              Bucket: BUCKET,
              Key: key,
              Body: index % 5 === 0 ? Readable.from([body.subarray(0, 512), body.subarray(512)]) : body,
              ContentLength: body.length,
            }),
          );
        } catch (error) {
          if (killed.value) return; // the store is gone
          throw new Error(`${key}: a write failed before the kill`, { cause: error });
        }
        history.acknowledged = history.inFlight;
        delete history.inFlight;
        acknowledgedWrites.count++;
      }
    }),
  );
}

describe('reliability: the local object store killed with -9 in the middle of writes', function () {
  this.timeout(180_000);

  it('restarts with every object whole: the last acknowledged version or the one in flight, never torn, none lost', async () => {
    const { dir, cleanup } = tempDir();
    const keys = Array.from({ length: 20 }, (_, i) => `objects/${i % 4}/key-${i}.bin`);
    const histories = new Map<string, KeyHistory>();
    try {
      for (let cycle = 0; cycle < 4; cycle++) {
        const server = await startLocalObjectStore({ directory: dir, bucket: BUCKET });
        const acknowledgedWrites = { count: 0 };
        const killed = { value: false };
        let failed: unknown;
        const writing = writeUntilKilled(server, keys, histories, acknowledgedWrites, killed).catch(
          (error: unknown) => {
            failed = error;
          },
        );
        // Kill once a good number of writes have landed, at a moment that varies from cycle to cycle.
        while (acknowledgedWrites.count < 60 + cycle * 25 && failed === undefined)
          await new Promise((r) => setTimeout(r, 5));
        if (failed !== undefined) throw failed;
        await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 20)));
        killed.value = true;
        process.kill(server.pid as number, 'SIGKILL');
        figures.faultsInjected++;
        await writing;
        await server.stop();

        const restarted = await startLocalObjectStore({ directory: dir, bucket: BUCKET });
        try {
          const client = localS3Client(restarted, 'us-east-1');
          for (const key of keys) {
            const history = histories.get(key) ?? {};
            const allowed = [history.acknowledged, history.inFlight].filter((v) => v !== undefined);
            let found: { bytes: Uint8Array; etag: string } | undefined;
            try {
              const object = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
              found = { bytes: await object.Body!.transformToByteArray(), etag: object.ETag ?? '' };
            } catch (error) {
              if ((error as Error).name !== 'NoSuchKey') throw error;
            }
            if (found === undefined) {
              if (history.acknowledged !== undefined) figures.recordsLost++;
              expect(history.acknowledged, `${key}: an acknowledged write was lost`).to.equal(undefined);
              continue;
            }
            const actual = md5(found.bytes);
            expect(found.etag, `${key}: the ETag describes the bytes served`).to.equal(`"${actual}"`);
            expect(allowed, `${key}: the bytes are a version that was written`).to.include(actual);
            // What the store now holds is what the next cycle must keep.
            histories.set(key, { acknowledged: actual });
          }
        } finally {
          await restarted.stop();
        }
        figures.faultsSurvived++;
      }
    } finally {
      cleanup();
    }
  });
});
