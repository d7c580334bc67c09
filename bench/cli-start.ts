/**
 * How long `scones` takes as a user waits for it, whole process from spawn to exit: `scones --version`
 * (median of 5) and `scones run --source images:../shared/data/cifar100-vehicles` with nothing changed
 * (median of 3), after one first run (it trains: about 40 s on this machine) in a work directory that
 * the re-runs reuse. Targets: --version <= 1 s; the unchanged re-run <= 5 s.
 *   node --import tsx bench/cli-start.ts [WORK_DIR] [--smoke]
 * WORK_DIR keeps the first run between invocations (a scratch folder otherwise). --smoke: 40 synthetic
 * images, one epoch, one timing each.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { getPriority, loadavg } from 'node:os';
import { join } from 'node:path';
import { ARGS, ROOT, record, requireSharedImages, round, runArgs, SMOKE, scratchDir } from './common.js';

const images = requireSharedImages('cli-start');
const dir = ARGS[0] ?? scratchDir('cli-start');
const hadRun = existsSync(join(dir, '.scones', 'runs'));
const sconesRun = [...runArgs(images, SMOKE ? 1 : undefined), '--json'];
type Manifest = { stages: Record<string, { reused: boolean }> };

/**
 * CPU seconds (user + system) of the child processes this one has waited for, from /proc/self/stat (0
 * where there is none): what the command cost, less sensitive than wall time to a busy machine.
 */
function childrenCpuSeconds(): number {
  if (!existsSync('/proc/self/stat')) return 0;
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]?.split(' ') ?? [];
  // cutime and cstime are fields 16 and 17 of the whole line, 14 and 15 after "pid (comm) ".
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

/** Seconds from spawn to exit of `node bin/scones.mjs ARGS`, its CPU seconds and its stdout. */
function scones(args: string[]): { seconds: number; cpuSeconds: number; stdout: string } {
  const cpuBefore = childrenCpuSeconds();
  const started = performance.now();
  const stdout = execFileSync(process.execPath, [join(ROOT, 'bin', 'scones.mjs'), ...args], {
    cwd: dir,
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, CI: 'true' },
    stdio: ['ignore', 'pipe', 'ignore'],
  }).toString();
  const seconds = (performance.now() - started) / 1000;
  return { seconds, cpuSeconds: childrenCpuSeconds() - cpuBefore, stdout };
}
const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
/** Median and maximum wall seconds, and the median CPU seconds, over the runs of one command. */
const figures = (runs: { seconds: number; cpuSeconds: number }[]) => ({
  median: round(median(runs.map((r) => r.seconds))),
  max: round(Math.max(...runs.map((r) => r.seconds))),
  medianCpuSeconds: round(median(runs.map((r) => r.cpuSeconds))),
  runs: runs.length,
});

// The first start after a source changed compiles the CLI (scripts/build-cli.mjs): not what is measured.
const firstStart = scones(['--version']);
const loadBefore = loadavg()[0] as number;
const version = Array.from({ length: SMOKE ? 1 : 5 }, () => scones(['--version']));
const first = scones(sconesRun);
const reruns = Array.from({ length: SMOKE ? 1 : 3 }, () => scones(sconesRun));
const notReused = Object.entries((JSON.parse(reruns.at(-1)?.stdout ?? '{}') as Manifest).stages)
  .filter(([, stage]) => !stage.reused)
  .map(([name]) => name);
record('cli-start', {
  command: 'node --import tsx bench/cli-start.ts',
  measured: 'each command a child process `node bin/scones.mjs ...`, from spawn to exit',
  node: process.version,
  firstStartSeconds: round(firstStart.seconds),
  versionSeconds: figures(version),
  // With a WORK_DIR that already held a run, the "first" run is one more re-run.
  firstRunSeconds: hadRun ? `not measured: ${dir} held a run` : round(first.seconds),
  rerunSeconds: figures(reruns),
  loadAverage1mBeforeAndAfter: [round(loadBefore), round(loadavg()[0] as number)],
  // The nice value the commands ran at (0 unless started under `nice`): on a busy machine, a lower one
  // gives them the share of the cores an idle machine would.
  niceness: getPriority(),
  rerunStagesNotReused: notReused,
  targets: { versionSeconds: '<= 1', rerunSeconds: '<= 5' },
});
