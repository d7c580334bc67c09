/**
 * `scones rollback` back to the first model, timed as a whole CLI process (node start, store start,
 * redeploy with the model server's load check, history write), after two local runs on the real images
 * as a user would make them (`npm start`, then a run with a changed setting: another training seed).
 * Target (issue 21): under 10 s.
 *   node --import tsx bench/rollback.ts [--smoke]   (--smoke: 40 synthetic images, 2 epochs)
 */
import { execFileSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { ROOT, record, requireSharedImages, runArgs, SMOKE, scratchDir } from './common.js';

const images = requireSharedImages('rollback');
const dir = scratchDir('rollback');
const scones = (...args: string[]) =>
  execFileSync(process.execPath, [join(ROOT, 'bin', 'scones.mjs'), ...args], {
    cwd: dir,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });

const run = runArgs(images, SMOKE ? 2 : undefined);
scones(...run);
// The changed setting trains a second model; the gate may not hold it back (it is the rollback that is timed).
scones(...run, '--set', 'train.seed=8', '--max-regression', '1');
const models = JSON.parse(scones('models', '--json')) as { trainingId: string; live: boolean }[];
const first = models.at(-1)?.trainingId;
if (models.length !== 2 || first === undefined || models.at(-1)?.live)
  throw new Error(`expected two models with the newest live, got ${JSON.stringify(models)}`);
const timed = (...args: string[]) => {
  const started = process.hrtime.bigint();
  scones(...args);
  return Math.round((Number(process.hrtime.bigint() - started) / 1e9) * 100) / 100;
};
// The CLI's start alone (imports), measured beside it: on a loaded machine it is most of the figure.
const startSeconds = timed('--version');
const seconds = timed('rollback', '--to', first);
const after = JSON.parse(scones('models', '--json')) as { trainingId: string; live: boolean }[];
if (after[0]?.trainingId !== first || after[0]?.live !== true)
  throw new Error(`rollback did not put ${first} live: ${JSON.stringify(after)}`);
record('rollback', {
  command: 'node --import tsx bench/rollback.ts',
  measured: `scones rollback --to ${first} (whole CLI process, local backend, ${SMOKE ? 'synthetic' : 'the 1200 real'} images)`,
  seconds,
  targetSeconds: 10,
  cliStartSeconds: startSeconds,
  loadAverage: loadavg().map((x) => Math.round(x * 10) / 10),
  workDir: dir,
});
