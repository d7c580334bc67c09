/**
 * Child-process entry of the local object store (s3rver). It runs in its own process because s3rver
 * encrypts ListObjectsV2 continuation tokens with DES, which needs Node's `--openssl-legacy-provider`;
 * the parent starts this file with that flag. It prints one JSON line when ready and exits when its
 * stdin closes, so it never outlives the process that started it (even after kill -9).
 */
import S3rver from 's3rver';
import { recoverStore } from './store-recovery.js';

const directory = process.env.SCONES_S3_DIRECTORY;
const bucket = process.env.SCONES_S3_BUCKET;
const port = Number(process.env.SCONES_S3_PORT ?? '0');
if (directory === undefined || bucket === undefined) {
  process.stderr.write('object-store-server: SCONES_S3_DIRECTORY and SCONES_S3_BUCKET are required\n');
  process.exit(2);
}

const removed = recoverStore(directory);
if (removed.length > 0)
  process.stderr.write(
    `object store: removed ${removed.length} objects left incomplete by an interrupted run\n`,
  );

const server = new S3rver({
  address: '127.0.0.1',
  port,
  silent: true,
  directory,
  vhostBuckets: false,
  configureBuckets: [{ name: bucket }],
});
const address = await server.run();
process.stdout.write(`${JSON.stringify({ ready: true, port: address.port })}\n`);

const stop = () => {
  server.close().finally(() => process.exit(0));
};
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
process.on('SIGINT', () => {
  // The parent handles Ctrl-C and closes our stdin when it has finished with us.
});
