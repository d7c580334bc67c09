import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { runCli, tempDir } from '../helpers/workspace.js';

describe('in GitHub Actions (GITHUB_ACTIONS=true)', function () {
  this.timeout(60_000);

  it('a stage writes step outputs, a job summary with the manifest link, log groups and annotations', async () => {
    const { dir, cleanup } = tempDir();
    const output = join(dir, 'github-output');
    const summary = join(dir, 'step-summary');
    writeFileSync(output, '');
    writeFileSync(summary, '');
    const saved = {
      GITHUB_OUTPUT: process.env.GITHUB_OUTPUT,
      GITHUB_STEP_SUMMARY: process.env.GITHUB_STEP_SUMMARY,
    };
    process.env.GITHUB_OUTPUT = output;
    process.env.GITHUB_STEP_SUMMARY = summary;
    const write = process.stdout.write.bind(process.stdout);
    let commands = '';
    process.stdout.write = ((chunk: string) => {
      commands += chunk;
      return true;
    }) as typeof process.stdout.write;
    try {
      const env = {
        GITHUB_ACTIONS: 'true',
        SCONES_DATA__SYNTHETIC__TRAIN_PER_CLASS: '5',
        SCONES_DATA__SYNTHETIC__TEST_PER_CLASS: '2',
      };
      const staged = await runCli(['stage-data', '--source', 'synthetic', '--run-id', 'gh-1'], {
        cwd: dir,
        env,
      });
      mkdirSync(join(dir, 'capture'));
      writeFileSync(join(dir, 'capture', 'x.jsonl'), 'garbage\n');
      const report = await runCli(['monitor-report', '--capture', 'capture', '--run-id', 'gh-2'], {
        cwd: dir,
        env,
      });
      process.stdout.write = write;
      expect(staged.code, staged.stderr).to.equal(0);
      expect(
        report.code,
        commands
          .split('\n')
          .filter((l) => l.startsWith('::error'))
          .join('\n'),
      ).to.equal(0);
      const outputs = readFileSync(output, 'utf8');
      expect(outputs).to.match(/dataset-digest<<ghadelimiter_[\w-]+\n[0-9a-f]{20}\n/);
      expect(outputs).to.match(/run-id<<ghadelimiter_[\w-]+\ngh-1\n/);
      expect(outputs).to.include('report-dir<<');
      const markdown = readFileSync(summary, 'utf8');
      expect(markdown).to.include('### stage-data');
      expect(markdown).to.include(
        `Run manifest: \`${join(dir, '.scones', 'runs', 'gh-1', 'manifest.json')}\``,
      );
      expect(markdown).to.include('### Monitor report');
      expect(commands).to.include('::group::stage-data');
      expect(commands).to.include('::endgroup::');
      expect(commands).to.match(/::warning::1 malformed capture lines/);
    } finally {
      process.stdout.write = write;
      process.env.GITHUB_OUTPUT = saved.GITHUB_OUTPUT;
      process.env.GITHUB_STEP_SUMMARY = saved.GITHUB_STEP_SUMMARY;
      if (saved.GITHUB_OUTPUT === undefined) delete process.env.GITHUB_OUTPUT;
      if (saved.GITHUB_STEP_SUMMARY === undefined) delete process.env.GITHUB_STEP_SUMMARY;
      cleanup();
    }
  });
});
