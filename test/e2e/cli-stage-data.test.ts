import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { pngBytes, writeListLayout } from '../helpers/fixtures.js';
import { runCli, tempDir } from '../helpers/workspace.js';

describe('scones stage-data (local backend, through the CLI)', function () {
  this.timeout(120_000);
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => {
    ({ dir, cleanup } = tempDir());
  });
  afterEach(() => cleanup());

  it('stages an images folder, prints the digest, records the manifest, and uploads nothing the second time', async () => {
    // Prepare
    writeListLayout(join(dir, 'images'), { trainPerClass: 40, testPerClass: 10, classes: 2 });
    // Act
    const first = await runCli(['stage-data', '--source', 'images:images', '--json'], { cwd: dir });
    const second = await runCli(['stage-data', '--source', 'images:images', '--json'], { cwd: dir });
    // Assess
    expect(first.code, first.stderr).to.equal(0);
    const record = JSON.parse(first.stdout) as {
      reused: boolean;
      outputs: { digest: string; counts: unknown; totals: unknown };
    };
    expect(record.reused).to.equal(false);
    // 10% of each class's training images are carved out as the validation split.
    expect(record.outputs.totals).to.deep.equal({ train: 72, validation: 8, test: 20 });
    expect(record.outputs.counts).to.deep.equal({
      train: { bicycle: 36, motorcycle: 36 },
      validation: { bicycle: 4, motorcycle: 4 },
      test: { bicycle: 10, motorcycle: 10 },
    });
    expect(first.stderr).to.include(`dataset ${record.outputs.digest}`);
    // Not a TTY: progress comes as plain lines, no escape codes.
    expect(first.stderr).to.match(/upload images: \d+\/100 images \(\d+%/);
    expect(first.stderr).to.not.include('\u001b[');

    expect(second.code, second.stderr).to.equal(0);
    const again = JSON.parse(second.stdout) as { reused: boolean; outputs: { digest: string } };
    expect(again.reused).to.equal(true);
    expect(again.outputs.digest).to.equal(record.outputs.digest);
    expect(second.stderr).to.include('nothing uploaded');
    expect(second.stderr).to.not.include('upload images:');

    const runId = /run (\S+) on the local backend/.exec(first.stderr)?.[1];
    const manifest = JSON.parse(readFileSync(join(dir, '.scones', 'runs', runId!, 'manifest.json'), 'utf8'));
    expect(manifest.schemaVersion).to.equal(1);
    expect(manifest.stages['stage-data'].outputs.digest).to.equal(record.outputs.digest);
    expect(existsSync(join(dir, '.scones', 'objects'))).to.equal(true);
  });

  it('fails with exit 1, names the file and line, and records nothing on a bad .lst', async () => {
    writeListLayout(join(dir, 'images'), { trainPerClass: 2, testPerClass: 1, classes: 2 });
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(dir, 'images', 'test.lst'), '0\t0\tgone.png\n');
    const result = await runCli(['stage-data', '--source', 'images:images', '--run-id', 'bad-run'], {
      cwd: dir,
    });
    expect(result.code).to.equal(1);
    expect(result.stderr).to.match(/test\.lst line 1: test\/gone\.png does not exist/);
    expect(existsSync(join(dir, '.scones', 'runs', 'bad-run', 'manifest.json'))).to.equal(false);
  });
});

describe('scones stage-data refuses datasets it cannot stage whole (through the CLI)', function () {
  this.timeout(120_000);
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => {
    ({ dir, cleanup } = tempDir());
  });
  afterEach(() => cleanup());

  function classFolders(layout: Record<string, Record<string, string[]>>): void {
    let seed = 1;
    for (const [split, classes] of Object.entries(layout))
      for (const [name, files] of Object.entries(classes)) {
        mkdirSync(join(dir, 'images', split, name), { recursive: true });
        for (const file of files)
          writeFileSync(join(dir, 'images', split, name, file), pngBytes(8, 8, seed++));
      }
  }
  const files = (n: number) => Array.from({ length: n }, (_, i) => `img${i}.png`);

  const cases: [string, Record<string, Record<string, string[]>>, RegExp][] = [
    [
      'a dataset of one class (the other class has no images)',
      { train: { bicycle: files(10) }, test: { bicycle: files(3) } },
      /the train split has no image of motorcycle; every split needs every class/,
    ],
    [
      'a test split missing a class',
      { train: { bicycle: files(10), motorcycle: files(10) }, test: { bicycle: files(3) } },
      /the test split has no image of motorcycle; every split needs every class: add test images of motorcycle/,
    ],
    [
      'an image whose name holds a tab, which a .lst file cannot carry',
      {
        train: { bicycle: [...files(10), 'bad\tname.png'], motorcycle: files(10) },
        test: { bicycle: files(3), motorcycle: files(3) },
      },
      // Refused as the folder is read, naming the file, before any image is decoded or uploaded.
      /images\/train\/bicycle\/bad\\tname\.png" has a tab or line break in its name.*rename the file/,
    ],
  ];
  for (const [name, layout, message] of cases)
    it(`refuses ${name} with exit 1, naming the problem, and marks nothing staged`, async () => {
      // Prepare
      classFolders(layout);
      // Act
      const result = await runCli(['stage-data', '--source', 'images:images', '--run-id', 'refused'], {
        cwd: dir,
      });
      // Assess
      expect(result.code, result.stderr).to.equal(1);
      expect(result.stderr).to.match(message);
      expect(existsSync(join(dir, '.scones', 'runs', 'refused', 'manifest.json'))).to.equal(false);
      const objects = join(dir, '.scones', 'objects');
      const staged = existsSync(objects)
        ? readdirSync(objects, { recursive: true, encoding: 'utf8' }).filter((f) =>
            f.endsWith('dataset.json'),
          )
        : [];
      expect(staged).to.deep.equal([]);
    });
});

describe('scones CLI usage', () => {
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => {
    ({ dir, cleanup } = tempDir());
  });
  afterEach(() => cleanup());

  const usage: [string, string[], RegExp][] = [
    ['an unknown flag', ['stage-data', '--bogus'], /unknown option '--bogus'/],
    ['an unknown command', ['deploy-everything'], /unknown command 'deploy-everything'/],
    ['a bad backend value', ['train', '--backend', 'gcp'], /argument 'gcp' is invalid.*local, aws/],
    ['a bad number', ['gate', '--min-accuracy', '2'], /--min-accuracy takes a number from 0 to 1, not "2"/],
    ['an invalid configuration value', ['config', '--set', 'train.epochs=-3'], /train\.epochs = -3/],
    ['a malformed --set', ['config', '--set', 'nonsense'], /--set nonsense: expected key=value/],
  ];
  for (const [name, args, message] of usage) {
    it(`rejects ${name} with exit 2 and a message naming it`, async () => {
      const result = await runCli(args, { cwd: dir });
      expect(result.code).to.equal(2);
      expect(result.stderr).to.match(message);
    });
  }

  it('shows --help on every command', async () => {
    for (const command of [
      'stage-data',
      'train',
      'evaluate',
      'gate',
      'deploy',
      'test-executions',
      'monitor-report',
      'run',
      'teardown',
      'config',
    ]) {
      const result = await runCli([command, '--help'], { cwd: dir });
      expect(result.code, command).to.equal(0);
      expect(result.stdout, command).to.include(`Usage: scones ${command}`);
      expect(result.stdout, command).to.include('--run-id');
    }
  });

  it('prints the effective configuration with its sources', async () => {
    const result = await runCli(['config', '--json', '--set', 'gate.minAccuracy=0.9'], {
      cwd: dir,
      env: { SCONES_TRAIN__EPOCHS: '4' },
    });
    expect(result.code).to.equal(0);
    const { config, origins } = JSON.parse(result.stdout);
    expect(config.gate.minAccuracy).to.equal(0.9);
    expect(origins['gate.minAccuracy']).to.equal('flag');
    expect(origins['train.epochs']).to.equal('env SCONES_TRAIN__EPOCHS');
    expect(config.train.epochs).to.equal(4);
    expect(config.backend).to.equal('local');
  });

  it('says when a stage needs an earlier one, naming the command to run', async () => {
    const result = await runCli(['train', '--run-id', 'empty-run'], { cwd: dir });
    expect(result.code).to.equal(1);
    expect(result.stderr).to.match(
      /train needs the output of stage-data, which run empty-run has not completed: run `scones stage-data --run-id empty-run` first/,
    );
  });
});
