/**
 * `scones run --source images:../shared/data/cifar100-vehicles` from a clean work directory, then the
 * re-run, each as a whole CLI process (node start-up, module loading, store start: what a user waits
 * for at the shell). Targets: whole run under 120 s; re-run under 20 s.
 * `node --import tsx bench/e2e.ts [--smoke]` (--smoke: 40 synthetic images, one epoch, no accuracy floor).
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Quality } from '../pipeline/contracts/evaluation.js';
import type { Manifest } from '../pipeline/manifest.js';
import { ROOT, record, requireSharedImages, runArgs, SMOKE, scratchDir } from './common.js';

const images = requireSharedImages('e2e');
const dir = scratchDir('e2e');

async function run(): Promise<{ seconds: number; manifest: Manifest }> {
  const started = performance.now();
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [join(ROOT, 'bin', 'scones.mjs'), ...runArgs(images, SMOKE ? 1 : undefined), '--json'],
    { cwd: dir, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, CI: 'true' } },
  );
  const seconds = (performance.now() - started) / 1000;
  return { seconds, manifest: JSON.parse(stdout) as Manifest };
}

const first = await run();
const second = await run();
const total = Object.values(first.manifest.stages).reduce((a, s) => a + s.durationMs, 0);
const executions = first.manifest.stages['test-executions']?.outputs.summary;
const quality = first.manifest.stages.evaluate?.outputs.quality as Quality | undefined;
record('e2e', {
  command: 'node --import tsx bench/e2e.ts',
  firstRunSeconds: Math.round(first.seconds * 10) / 10,
  stageShare: Object.fromEntries(
    Object.entries(first.manifest.stages).map(([stage, s]) => [
      stage,
      `${(s.durationMs / 1000).toFixed(1)} s (${((s.durationMs / total) * 100).toFixed(0)}%)`,
    ]),
  ),
  validationAccuracy: first.manifest.stages.train?.outputs.validationAccuracy,
  testAccuracy: quality?.accuracy,
  testInterval95:
    quality === undefined ? undefined : [quality.accuracyInterval.low, quality.accuracyInterval.high],
  executions,
  executionsAccuracy: first.manifest.stages['monitor-report']?.outputs.accuracy,
  rerunSeconds: Math.round(second.seconds * 10) / 10,
  rerunReused: Object.entries(second.manifest.stages)
    .filter(([, s]) => s.reused)
    .map(([stage]) => stage),
  measured: 'each run as a child process `node bin/scones.mjs run ...`, from spawn to exit',
  targets: {
    firstRunSeconds: '<= 120',
    testAccuracy: '>= 0.90 (mean of three seeds: bench/train.ts)',
    rerunSeconds: '< 20',
  },
});
