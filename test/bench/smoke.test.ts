import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect } from 'chai';

const ROOT = join(import.meta.dirname, '..', '..');

/** Runs `bench/<name>.ts --smoke` as `npm run bench` would run the full one: its own process, through tsx. */
function smoke(name: string): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'bench', `${name}.ts`), '--smoke'],
    {
      cwd: ROOT,
      env: { ...process.env, CI: 'true' },
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

// Every bench, on tiny sizes: a bench that no longer runs on the current code fails here, not months
// later in `npm run bench`. The figures are not checked (tiny sizes measure nothing), only that each
// bench runs to its record, which it writes last.
describe('benchmarks, smoke runs (bench/*.ts --smoke)', function () {
  this.timeout(300_000);

  for (const name of [
    'monitor-report',
    'stage-data',
    'train',
    'endpoint',
    'e2e',
    'cli-start',
    'rollback',
    'kfold',
  ]) {
    it(`bench/${name}.ts runs to its record`, () => {
      const run = smoke(name);
      expect(run.status, run.stderr).to.equal(0);
      const last = JSON.parse(run.stdout.trim().split('\n').at(-1) as string) as Record<string, unknown>;
      expect(last).to.include({ smoke: true, benchmark: name });
    });
  }

  it('bench/report-screenshot.ts checks the report of a run, or says why it cannot', () => {
    const run = smoke('report-screenshot');
    expect(run.status, run.stderr).to.equal(0);
    // Where no Chromium can be had, the bench says so; everywhere else it checks a page.
    if (!/report-screenshot: skipped, (no chromium|apt-get)/.test(run.stdout))
      expect(run.stdout).to.match(/"smoke":true,"benchmark":"report-screenshot"/);
  });

  it('bench/fuzz-store.ts runs its sequences against the store', () => {
    const run = smoke('fuzz-store');
    expect(run.status, run.stderr).to.equal(0);
    const outcome = JSON.parse(run.stdout.trim().split('\n').at(-1) as string) as { runs: number };
    expect(outcome.runs).to.equal(20);
  });

  it('bench/png-bomb.ts decodes a large PNG through the endpoint path', () => {
    const run = smoke('png-bomb');
    expect(run.status, run.stderr).to.equal(0);
    expect(JSON.parse(run.stdout.trim().split('\n').at(-1) as string)).to.include({ side: 256, mode: 'new' });
  });
});
