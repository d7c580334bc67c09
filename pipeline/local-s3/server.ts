/**
 * Child-process entry of the local object store. It runs in its own process so that serving requests
 * uses the second core while the CLI computes, and so a CLI killed with -9 cannot take half a response
 * with it. It prints one JSON line when ready and exits when its stdin closes, so it never outlives the
 * process that started it (even after kill -9).
 */
import type { AddressInfo } from 'node:net';
import { FileObjectStore } from './files.js';
import { createObjectStoreServer } from './http.js';

const directory = process.env.SCONES_S3_DIRECTORY;
const bucket = process.env.SCONES_S3_BUCKET;
const accessKeyId = process.env.SCONES_S3_ACCESS_KEY_ID;
const secretAccessKey = process.env.SCONES_S3_SECRET_ACCESS_KEY;
if (
  directory === undefined ||
  bucket === undefined ||
  accessKeyId === undefined ||
  secretAccessKey === undefined
) {
  process.stderr.write(
    'local-s3 server: SCONES_S3_DIRECTORY, SCONES_S3_BUCKET, SCONES_S3_ACCESS_KEY_ID and SCONES_S3_SECRET_ACCESS_KEY are required\n',
  );
  process.exit(2);
}

const store = new FileObjectStore(directory);
const { removed, kept } = store.recover();
/** At most this many paths per message; the rest are counted. */
const LISTED = 20;
const listed = (paths: string[]) =>
  paths
    .slice(0, LISTED)
    .map((path) => `\n  ${path}`)
    .join('') + (paths.length > LISTED ? `\n  and ${paths.length - LISTED} more` : '');
if (removed.length > 0)
  process.stderr.write(
    `object store: removed ${removed.length} files an interrupted run of the store left in ${directory}:${listed(removed)}\n`,
  );
if (kept.length > 0)
  process.stderr.write(
    `object store: kept ${kept.length} files in ${directory} that are not objects the store wrote ` +
      `(no metadata describes them, so S3 clients do not see them; move them out, or upload them):${listed(kept)}\n`,
  );
store.createBucket(bucket);

const server = createObjectStoreServer(
  store,
  { accessKeyId, secretAccessKey },
  process.env.SCONES_S3_REGION || undefined,
);
server.keepAliveTimeout = 30_000;
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`${JSON.stringify({ ready: true, port })}\n`);
});
server.on('error', (error) => {
  process.stderr.write(`object store: ${error.message}\n`);
  process.exit(1);
});

const stop = () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
};
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
process.on('SIGINT', () => {
  // The parent handles Ctrl-C and closes our stdin when it has finished with us.
});
