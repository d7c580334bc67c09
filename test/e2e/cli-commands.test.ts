import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { expect } from 'chai';
import { localPaths } from '../../pipeline/backends/local/index.js';
import { type CliIo, main } from '../../pipeline/cli.js';
import { PlainReporter, TtyReporter } from '../../pipeline/console-reporter.js';
import { Capture, runCli, tempDir } from '../helpers/workspace.js';

const PACKAGE = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as {
  version: string;
};

/** Runs the CLI with a terminal on stdin that answers `answer`. */
async function runCliAnswering(args: string[], cwd: string, answer: string) {
  const stdin = Object.assign(new PassThrough(), { isTTY: true });
  stdin.end(`${answer}\n`);
  const stdout = new Capture();
  const stderr = new Capture();
  const io: CliIo = { stdout, stderr, stdin, cwd, env: { PATH: process.env.PATH, HOME: process.env.HOME } };
  const code = await main(args, io);
  return { code, stdout: stdout.text, stderr: stderr.text };
}

describe('CLI commands and run bookkeeping', function () {
  this.timeout(120_000);
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => {
    ({ dir, cleanup } = tempDir());
  });
  afterEach(() => cleanup());

  it('`scones` with no arguments prints the help on stderr and exits 2', async () => {
    const result = await runCli([], { cwd: dir });
    expect(result.code).to.equal(2);
    expect(result.stderr).to.include('Usage: scones [options] [command]');
    expect(result.stderr).to.include('stage-data');
    expect(result.stdout).to.equal('');
  });

  it('--version prints the package version and exits 0', async () => {
    const result = await runCli(['--version'], { cwd: dir });
    expect(result.code).to.equal(0);
    expect(result.stdout.trim()).to.equal(PACKAGE.version);
  });

  it('a failing stage with --json prints an error document on stdout', async () => {
    const result = await runCli(['train', '--run-id', 'empty-run', '--json'], { cwd: dir });
    expect(result.code).to.equal(1);
    const document = JSON.parse(result.stdout) as {
      error: { stage: string; message: string; exitCode: number };
    };
    expect(document.error.stage).to.equal('train');
    expect(document.error.exitCode).to.equal(1);
    expect(document.error.message).to.match(/train needs the output of stage-data/);
  });

  it('a configuration error with --json names the command and exit code 2', async () => {
    const result = await runCli(['run', '--json', '--set', 'gate.minAcuracy=0.5'], { cwd: dir });
    expect(result.code).to.equal(2);
    const document = JSON.parse(result.stdout) as {
      error: { stage: string; message: string; exitCode: number };
    };
    expect(document.error).to.include({ stage: 'run', exitCode: 2 });
    expect(document.error.message).to.match(/unknown key gate\.minAcuracy: did you mean gate\.minAccuracy\?/);
  });

  it('`config --json` says where each value came from, and lists ignored SCONES_* variables', async () => {
    writeFileSync(join(dir, 'scones.config.yaml'), 'train:\n  patience: 3\n');
    const result = await runCli(['config', '--json', '--set', 'deploy.threshold=0.5'], {
      cwd: dir,
      env: { SCONES_GATE__MIN_ACCURACY: '0.6', SCONES_DEBUG: '1' },
    });
    expect(result.code, result.stderr).to.equal(0);
    const { config, origins, ignoredEnvironment } = JSON.parse(result.stdout);
    expect(config.train.patience).to.equal(3);
    expect(origins).to.include({
      'train.patience': 'file scones.config.yaml',
      'gate.minAccuracy': 'env SCONES_GATE__MIN_ACCURACY',
      'deploy.threshold': 'flag',
      'train.epochs': 'default',
    });
    expect(ignoredEnvironment).to.deep.equal(['SCONES_DEBUG']);
  });

  it('`--capture` on a folder with no .jsonl files says so and exits 1', async () => {
    mkdirSync(join(dir, 'empty-capture'));
    writeFileSync(join(dir, 'empty-capture', 'notes.txt'), 'not capture');
    const result = await runCli(['monitor-report', '--capture', 'empty-capture'], { cwd: dir });
    expect(result.code).to.equal(1);
    expect(result.stderr).to.match(/--capture .*empty-capture holds no \.jsonl files/);
  });

  it('`monitor-report --capture` writes its report in capture-reports/, creates no run, and lists the reports', async () => {
    mkdirSync(join(dir, 'capture'));
    const line = JSON.stringify({
      captureData: { endpointOutput: { data: '[0.9,0.1]', encoding: 'JSON' } },
      eventMetadata: { eventId: 'e', inferenceTime: '2026-11-23T10:00:00Z' },
      eventVersion: '0',
    });
    writeFileSync(join(dir, 'capture', 'a.jsonl'), `${line}\n`);
    const first = await runCli(['monitor-report', '--capture', 'capture', '--json'], { cwd: dir });
    const second = await runCli(['monitor-report', '--capture', 'capture', '--run-id', 'mine'], { cwd: dir });
    expect(first.code, first.stderr).to.equal(0);
    expect(second.code, second.stderr).to.equal(0);
    const reports = readdirSync(join(dir, '.scones', 'capture-reports')).sort();
    expect(reports).to.have.length(2).and.include('mine');
    expect(existsSync(join(dir, '.scones', 'capture-reports', 'mine', 'report.html'))).to.equal(true);
    expect(JSON.parse(first.stdout).outputs.reportDir).to.match(/capture-reports/);
    expect(second.stderr).to.include(
      `reports on outside capture in ${join(dir, '.scones', 'capture-reports')}: ${reports.join(', ')}`,
    );
    expect(existsSync(join(dir, '.scones', 'runs'))).to.equal(false);
    // No pipeline run exists for a later stage to continue.
    const later = await runCli(['train'], { cwd: dir });
    expect(later.code).to.equal(1);
    expect(later.stderr).to.match(/no run to continue/);
  });

  describe('teardown', () => {
    function workDirWithRuns(): { deployment: string; runs: string } {
      const paths = localPaths(join(dir, '.scones'));
      mkdirSync(paths.runs, { recursive: true });
      for (const [i, run] of ['old-1', 'old-2', 'new-3'].entries()) {
        mkdirSync(join(paths.runs, run));
        writeFileSync(join(paths.runs, run, 'manifest.json'), '{}');
        const at = new Date(Date.UTC(2026, 0, 1 + i));
        utimesSync(join(paths.runs, run), at, at);
      }
      writeFileSync(paths.deployment, '{}');
      return { deployment: paths.deployment, runs: paths.runs };
    }

    it('answering "n" removes nothing and exits 0', async () => {
      const { deployment } = workDirWithRuns();
      const result = await runCliAnswering(['teardown'], dir, 'n');
      expect(result.code, result.stderr).to.equal(0);
      expect(result.stderr).to.match(/This removes:\n {2}- the local deployment/);
      expect(result.stderr).to.include('nothing removed');
      expect(existsSync(deployment)).to.equal(true);
    });

    it('without a terminal prints what it would remove and asks for --yes (exit 2)', async () => {
      const { deployment } = workDirWithRuns();
      const result = await runCli(['teardown', '--keep-runs', '1'], { cwd: dir });
      expect(result.code).to.equal(2);
      expect(result.stderr).to.match(
        /teardown would remove:\n {2}- run old-2 .*\n {2}- run old-1 .*\nno terminal to ask: pass --yes/,
      );
      expect(existsSync(deployment)).to.equal(true);
    });

    it('--keep-runs N removes the old runs only; the deployment goes only with --include-deployment', async () => {
      const { deployment, runs } = workDirWithRuns();
      const pruned = await runCli(['teardown', '--keep-runs', '1', '--yes'], { cwd: dir });
      expect(pruned.code, pruned.stderr).to.equal(0);
      expect(readdirSync(runs)).to.deep.equal(['new-3']);
      expect(existsSync(deployment)).to.equal(true);
      const all = await runCliAnswering(['teardown', '--keep-runs', '0', '--include-deployment'], dir, 'y');
      expect(all.code, all.stderr).to.equal(0);
      expect(readdirSync(runs)).to.deep.equal([]);
      expect(existsSync(deployment)).to.equal(false);
    });
  });

  it('outside a terminal, a count of fast steps prints a line per quarter, however few the steps', () => {
    const stream = new Capture();
    const progress = new PlainReporter({ stream, now: () => 0 }).progress('read test images', 40, 'images');
    for (let i = 0; i < 40; i++) progress.tick();
    expect(stream.text.trim().split('\n')).to.have.length(4);
  });

  it('in a terminal, every epoch keeps its line, and the ETA counts early stopping', () => {
    const stream = new Capture();
    stream.isTTY = true;
    let now = 0;
    const reporter = new TtyReporter({ stream, now: () => now });
    const progress = reporter.progress('train', 30, 'epochs');
    for (let epoch = 1; epoch <= 3; epoch++) {
      now += 10_000;
      // best epoch 1, patience 3: at most 3 - (epoch - 1) epochs to come
      progress.tick(1, `epoch ${epoch}: loss 0.5 acc 0.8 val_acc 0.7`, 3 - (epoch - 1));
    }
    progress.done('best epoch 1');
    const lines = stream.text.split('\n');
    for (let epoch = 1; epoch <= 3; epoch++)
      expect(lines.some((l) => l.includes(`epoch ${epoch}: loss 0.5 acc 0.8 val_acc 0.7`))).to.equal(true);
    // After epoch 3, 1 epoch at most remains at 10 s each, not the 27 of the maximum.
    expect(stream.text).to.match(/train: 3\/30 epochs \(10%, 6\.0 epochs\/min, ETA <= 10s\)/);
    expect(stream.text.includes('\u001b['), 'no escape codes: no bar').to.equal(false);
  });
});

describe('the scones command on an older Node', () => {
  // Debian's Node 20 on this machine: npm scripts run the pinned Node 24, but `node bin/scones.mjs` typed in
  // a shell takes the system's. Where no older Node is installed there is nothing to refuse.
  const OLD_NODE = '/usr/bin/node';
  it('refuses with exit 2, naming the floor and how to run it, before any stage starts', function () {
    const version = existsSync(OLD_NODE)
      ? spawnSync(OLD_NODE, ['--version'], { encoding: 'utf8' }).stdout.trim()
      : '';
    const floor = Number(
      /\d+/.exec(
        JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')).engines.node,
      )?.[0],
    );
    if (!/^v\d+/.test(version) || Number(version.slice(1).split('.')[0]) >= floor) this.skip();
    const run = spawnSync(
      OLD_NODE,
      [join(import.meta.dirname, '..', '..', 'bin', 'scones.mjs'), '--version'],
      {
        encoding: 'utf8',
      },
    );
    expect(run.status).to.equal(2);
    expect(run.stderr).to.include(`scones: Node ${version} is older than ${floor}`);
    expect(run.stderr).to.include('npm start, npx scones');
    expect(run.stdout).to.equal('');
  });
});
