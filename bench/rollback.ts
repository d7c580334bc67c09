/**
 * `scones rollback` back to the first model, timed as a whole CLI process (node start, store start,
 * redeploy with the model server's load check, history write), after two local runs on synthetic data
 * (a changed setting trains a second model). Target (issue 21): under 10 s.
 *   node --import tsx bench/rollback.ts
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { ROOT, record, scratchDir } from './common.js';

const dir = scratchDir('rollback');
writeFileSync(
  join(dir, 'scones.config.yaml'),
  [
    'data:',
    '  source: synthetic',
    '  synthetic: { trainPerClass: 40, testPerClass: 10, imageSize: 32, seed: 3 }',
    'train: { epochs: 2, batchSize: 16 }',
    'gate: { minAccuracy: 0, maxRegression: 1 }',
    'testExecutions: { count: 4 }',
    '',
  ].join('\n'),
);
const scones = (...args: string[]) =>
  execFileSync(process.execPath, [join(ROOT, 'bin', 'scones.mjs'), ...args], {
    cwd: dir,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });

scones('run');
scones('run', '--epochs', '3');
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
  measured: `scones rollback --to ${first} (whole CLI process, local backend, 32x32 synthetic model)`,
  seconds,
  targetSeconds: 10,
  cliStartSeconds: startSeconds,
  loadAverage: loadavg().map((x) => Math.round(x * 10) / 10),
  workDir: dir,
});
