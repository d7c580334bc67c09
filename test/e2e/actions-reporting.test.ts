import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { ActionsReporter } from '../../pipeline/console-reporter.js';
import { Capture, runCli, tempDir } from '../helpers/workspace.js';

type RunnerFile = 'GITHUB_OUTPUT' | 'GITHUB_STEP_SUMMARY';
const setRunnerFile = (name: RunnerFile, value: string | undefined) => {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
};

/**
 * Runs `work` with the runner's files as given (undefined: unset) and the process's real stdout captured,
 * where @actions/core would write a workflow command; restores both, and returns that stdout.
 */
async function onRunner(
  files: Record<RunnerFile, string | undefined>,
  work: () => Promise<void>,
): Promise<string> {
  const saved = {
    GITHUB_OUTPUT: process.env.GITHUB_OUTPUT,
    GITHUB_STEP_SUMMARY: process.env.GITHUB_STEP_SUMMARY,
  };
  for (const [name, value] of Object.entries(files)) setRunnerFile(name as RunnerFile, value);
  const write = process.stdout.write.bind(process.stdout);
  let stdout = '';
  process.stdout.write = ((chunk: string) => {
    stdout += chunk;
    return true;
  }) as typeof process.stdout.write;
  try {
    await work();
  } finally {
    process.stdout.write = write;
    for (const [name, value] of Object.entries(saved)) setRunnerFile(name as RunnerFile, value);
  }
  return stdout;
}

describe('in GitHub Actions (GITHUB_ACTIONS=true)', function () {
  this.timeout(60_000);
  // @actions/core keeps the job summary's path from its first write: one file for every test here.
  const summaryDir = tempDir();
  const summary = join(summaryDir.dir, 'step-summary');
  after(() => summaryDir.cleanup());

  it('a stage writes step outputs, a job summary with the manifest link, log groups and annotations', async () => {
    const { dir, cleanup } = tempDir();
    const output = join(dir, 'github-output');
    writeFileSync(output, '');
    writeFileSync(summary, '');
    try {
      const env = {
        GITHUB_ACTIONS: 'true',
        SCONES_DATA__SYNTHETIC__TRAIN_PER_CLASS: '5',
        SCONES_DATA__SYNTHETIC__TEST_PER_CLASS: '2',
      };
      let staged = { code: -1, stdout: '', stderr: '' };
      let report = staged;
      let failed = staged;
      const commands = await onRunner({ GITHUB_OUTPUT: output, GITHUB_STEP_SUMMARY: summary }, async () => {
        staged = await runCli(['stage-data', '--source', 'synthetic', '--run-id', 'gh-1'], { cwd: dir, env });
        mkdirSync(join(dir, 'capture'));
        writeFileSync(join(dir, 'capture', 'x.jsonl'), 'garbage\n');
        report = await runCli(['monitor-report', '--capture', 'capture', '--run-id', 'gh-2'], {
          cwd: dir,
          env,
        });
        // A failing stage with --json: its stdout is the error document alone, the annotation on stderr.
        // (runCli keeps the CLI's stdout apart from process.stdout: the `commands` check below is the one
        // that catches a workflow command written to the real stdout.)
        failed = await runCli(['evaluate', '--run-id', 'gh-none', '--json'], { cwd: dir, env });
      });
      expect(failed.code).to.equal(1);
      expect(JSON.parse(failed.stdout).error.stage).to.equal('evaluate');
      expect(failed.stderr).to.match(/^::error::/m);
      expect(staged.code, staged.stderr).to.equal(0);
      expect(report.code, report.stderr).to.equal(0);
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
      // Workflow commands go to stderr with the logs: stdout stays for --json's one document.
      expect(commands).to.not.include('::');
      expect(staged.stderr).to.include('::group::stage-data');
      expect(staged.stderr).to.include('::endgroup::');
      expect(report.stderr).to.match(/::warning::1 malformed capture lines/);
    } finally {
      cleanup();
    }
  });

  it('the train and evaluate job summaries state what the job would cost on AWS, from the records the run wrote', async () => {
    const { dir, cleanup } = tempDir();
    writeFileSync(summary, '');
    const output = join(dir, 'github-output');
    writeFileSync(output, '');
    try {
      const env = {
        GITHUB_ACTIONS: 'true',
        SCONES_DATA__SOURCE: 'synthetic',
        SCONES_DATA__SYNTHETIC__TRAIN_PER_CLASS: '10',
        SCONES_DATA__SYNTHETIC__TEST_PER_CLASS: '3',
        SCONES_DATA__SYNTHETIC__IMAGE_SIZE: '8',
        SCONES_TRAIN__EPOCHS: '1',
      };
      const commands = await onRunner({ GITHUB_OUTPUT: output, GITHUB_STEP_SUMMARY: summary }, async () => {
        for (const stage of ['stage-data', 'train', 'evaluate']) {
          const result = await runCli([stage, '--run-id', 'gh-cost'], { cwd: dir, env });
          expect(result.code, result.stderr).to.equal(0);
        }
      });
      expect(commands).to.not.include('::');
      const manifest = JSON.parse(
        readFileSync(join(dir, '.scones', 'runs', 'gh-cost', 'manifest.json'), 'utf8'),
      ) as { stages: { train: { outputs: { durationSeconds: number } } } };
      const hours = manifest.stages.train.outputs.durationSeconds / 3600;
      const markdown = readFileSync(summary, 'utf8');
      expect(markdown).to.include(
        `Training would cost on AWS (configured types, the local duration as a stand-in): 1 x ml.g4dn.xlarge, ${hours.toFixed(3)} instance-hours at $0.736/h`,
      );
      expect(markdown).to.include('at most $0.74 if it ran to train.sagemaker.maxRuntimeSeconds (3600 s)');
      // No Batch Transform price is in the snapshot: the line says so rather than guess.
      expect(markdown).to.match(
        /Evaluation would cost on AWS \(configured types, the local duration as a stand-in\): 2 Batch Transform jobs on ml\.m5\.large: no price for ml\.m5\.large in us-east-1 in the snapshot \(retrieved \d{4}-\d{2}-\d{2}\); run scripts\/refresh-prices\.ts\./,
      );
    } finally {
      cleanup();
    }
  });

  it('workflow commands are escaped as the runner reads them, a group ends when its work throws, and no runner files means no stdout', async () => {
    const stream = new Capture();
    const reporter = new ActionsReporter({ stream });
    reporter.warn('50% of\r\nthe lines');
    await reporter
      .group('train', async () => {
        throw new Error('stopped');
      })
      .catch(() => undefined);
    expect(stream.text).to.equal('::warning::50%25 of%0D%0Athe lines\n::group::train\n::endgroup::\n');
    const stdout = await onRunner({ GITHUB_OUTPUT: undefined, GITHUB_STEP_SUMMARY: undefined }, async () => {
      reporter.output('training-id', 't-1');
      await reporter.summary('### train');
    });
    expect(stdout).to.equal('');
    expect(reporter.outputs.get('training-id')).to.equal('t-1');
  });
});
