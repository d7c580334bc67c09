/**
 * Stages the 1200 real images into a fresh local store, compares with uploading the same files one at a
 * time with the same client in the same run, and times a re-run (digest hit).
 * Targets: at least 4x the one-at-a-time rate; re-run under 1 s.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { localS3Client, startLocalObjectStore } from '../pipeline/backends/local/object-store.js';
import { S3ObjectStore } from '../pipeline/backends/s3-object-store.js';
import { runCli } from '../test/helpers/workspace.js';
import { record, requireSharedImages, scratchDir } from './common.js';

const images = requireSharedImages('stage-data');
const dir = scratchDir('stage-data');
const files = ['train', 'test'].flatMap((split) =>
  readdirSync(join(images, split)).map((f) => join(images, split, f)),
);

const started = performance.now();
const first = await runCli(['stage-data', '--source', `images:${images}`, '--json'], { cwd: dir });
const stagedSeconds = (performance.now() - started) / 1000;
if (first.code !== 0) throw new Error(first.stderr);
const rerunStart = performance.now();
const again = await runCli(['stage-data', '--source', `images:${images}`, '--json'], { cwd: dir });
const rerunSeconds = (performance.now() - rerunStart) / 1000;
if (!JSON.parse(again.stdout).reused) throw new Error('the re-run did not reuse the dataset');

// The same files, one PutObject at a time, through the same kind of client and store.
const server = await startLocalObjectStore({
  directory: join(dir, 'sequential'),
  bucket: 'scones-artifacts',
});
const store = new S3ObjectStore(localS3Client(server.endpoint, 'us-east-1'), 'scones-artifacts');
const sequentialStart = performance.now();
for (const [i, file] of files.entries())
  await store.put(`sequential/${i}.png`, readFileSync(file), { contentType: 'image/png' });
const sequentialSeconds = (performance.now() - sequentialStart) / 1000;
await server.stop();

// The stage's own upload phase, from its progress line ("upload images: done in Xs").
const uploadSeconds = Number(/upload images: done in ([\d.]+)s/.exec(first.stderr)?.[1]);
record('stage-data', {
  command: 'node --import tsx bench/stage-data.ts',
  images: files.length,
  stageSeconds: round(stagedSeconds),
  uploadSeconds,
  concurrentImagesPerSecond: round(files.length / uploadSeconds),
  sequentialImagesPerSecond: round(files.length / sequentialSeconds),
  speedup: round(sequentialSeconds / uploadSeconds),
  rerunSeconds: round(rerunSeconds),
  targets: { speedup: '>= 4', rerunSeconds: '< 1 (stage time, excluding CLI and store start)' },
  rerunStageSeconds: JSON.parse(again.stdout).durationMs / 1000,
});

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
