/**
 * Mutation check of the roles' permissions: removes each single granted action from each IAM policy in
 * cloudformation/bootstrap.yaml and workflow.yaml (roles' inline policies and the workflow roles' boundary),
 * one at a time, and runs the IAM proofs (test/iam/least-privilege.test.ts) against the roles so weakened.
 * A removal is caught when at least one proof fails; every grant should be caught, or it is not needed.
 *
 * Usage: node --import tsx scripts/mutate-permissions.ts [filter]
 * (filter: only mutations whose description contains it, e.g. DeployRole). Exit code 1 if any is uncaught,
 * 2 if the proofs already fail on the templates as written (they run first, in the same process).
 * All mutations run in one mocha process (the recorded scenarios are shared; only the roles change).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { allMutations, describeMutation } from '../test/iam/roles.js';

const filter = process.argv[2] ?? '';
const mutations = allMutations().filter((m) => describeMutation(m).includes(filter));
const dir = mkdtempSync(join(tmpdir(), 'scones-mutations-'));
const input = join(dir, 'mutations.json');
const report = join(dir, 'report.json');
writeFileSync(input, JSON.stringify(mutations));
const started = Date.now();
try {
  execFileSync(
    'npx',
    [
      'mocha',
      '--no-config',
      '--node-option',
      'import=tsx',
      '--node-option',
      'no-experimental-require-module',
      '--require',
      'test/aws-models/request-check.ts',
      '--timeout',
      '120000',
      '--reporter',
      'json',
      '--reporter-option',
      `output=${report}`,
      'test/iam/least-privilege.test.ts',
    ],
    { env: { ...process.env, SCONES_IAM_MUTATIONS: input }, stdio: ['ignore', 'ignore', 'inherit'] },
  );
} catch {
  // mocha exits non-zero when any proof fails, which is what a caught mutation is.
}
const { failures, stats } = JSON.parse(readFileSync(report, 'utf8')) as {
  failures: { fullTitle: string }[];
  stats: { tests: number };
};
const baseline = failures.filter((f) => !f.fullTitle.includes(' removed)'));
if (baseline.length > 0) {
  process.stderr.write(
    `the IAM proofs fail on the templates as written, so no removal can be judged:\n${baseline.map((f) => `  ${f.fullTitle}`).join('\n')}\n`,
  );
  process.exit(2);
}
const uncaught = mutations.filter(
  (m) => !failures.some((f) => f.fullTitle.includes(`, ${describeMutation(m)} removed)`)),
);
const caught = mutations.length - uncaught.length;
process.stdout.write(
  `${[
    `${caught} of ${mutations.length} single-action removals caught by the IAM proofs`,
    `(${new Date().toISOString().slice(0, 10)}, node --import tsx scripts/mutate-permissions.ts${filter ? ` ${filter}` : ''};`,
    `${stats.tests} proofs run in ${Math.round((Date.now() - started) / 1000)} s)`,
    ...uncaught.map((m) => `  uncaught: ${describeMutation(m)}`),
  ].join('\n')}\n`,
);
process.exit(uncaught.length === 0 ? 0 : 1);
