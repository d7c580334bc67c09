/**
 * How long `scones` takes as a user waits for it, whole process from spawn to exit: `scones --version`
 * (median of 5) and `scones run --source images:../shared/data/cifar100-vehicles` with nothing changed
 * (median of 3), after one first run (it trains: about 100 s on this machine) in a work directory that
 * the re-runs reuse. Targets: --version <= 1 s; the unchanged re-run <= 5 s.
 *   node --import tsx bench/cli-start.ts [WORK_DIR] [--smoke]
 * WORK_DIR keeps the first run between invocations (a scratch folder otherwise). --smoke: 40 synthetic
 * images, one epoch, one timing each.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { ARGS, ROOT, record, requireSharedImages, SMOKE, scratchDir } from './common.js';

const images = requireSharedImages('cli-start');
const dir = ARGS[0] ?? scratchDir('cli-start');
const runArgs = [
  'run',
  '--source',
  `images:${images}`,
  '--json',
  ...(SMOKE ? ['--epochs', '1', '--min-accuracy', '0', '--count', '2'] : []),
];
type Manifest = { stages: Record<string, { reused: boolean }> };

/** Seconds from spawn to exit of `node bin/scones.mjs ARGS`, and its stdout. */
function scones(args: string[]): { seconds: number; stdout: string } {
  const started = performance.now();
  const stdout = execFileSync(process.execPath, [join(ROOT, 'bin', 'scones.mjs'), ...args], {
    cwd: dir,
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, CI: 'true' },
    stdio: ['ignore', 'pipe', 'ignore'],
  }).toString();
  return { seconds: (performance.now() - started) / 1000, stdout };
}
const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
const round = (seconds: number) => Math.round(seconds * 100) / 100;

// The first start after a source changed compiles the CLI (scripts/build-cli.mjs): not what is measured.
const firstStart = scones(['--version']);
const version = Array.from({ length: SMOKE ? 1 : 5 }, () => scones(['--version']).seconds);
const first = scones(runArgs);
const reruns = Array.from({ length: SMOKE ? 1 : 3 }, () => scones(runArgs));
const notReused = Object.entries((JSON.parse(reruns.at(-1)?.stdout ?? '{}') as Manifest).stages)
  .filter(([, stage]) => !stage.reused)
  .map(([name]) => name);
record('cli-start', {
  command: 'node --import tsx bench/cli-start.ts',
  measured: 'each command a child process `node bin/scones.mjs ...`, from spawn to exit',
  node: process.version,
  firstStartSeconds: round(firstStart.seconds),
  versionSeconds: { median: round(median(version)), max: round(Math.max(...version)), runs: version.length },
  firstRunSeconds: round(first.seconds),
  rerunSeconds: {
    median: round(median(reruns.map((r) => r.seconds))),
    max: round(Math.max(...reruns.map((r) => r.seconds))),
    runs: reruns.length,
  },
  rerunStagesNotReused: notReused,
  targets: { versionSeconds: '<= 1', rerunSeconds: '<= 5' },
});
