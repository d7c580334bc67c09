import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { expect } from 'chai';
import { FileObjectStore } from '../../pipeline/local-s3/files.js';
import { parseManifest } from '../../pipeline/manifest.js';
import { runCli, tempDir } from '../helpers/workspace.js';
import { figures } from './figures.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'scones.mjs');
const CONFIG = `
data:
  source: synthetic
  synthetic: { trainPerClass: 120, testPerClass: 40, imageSize: 16, seed: 9 }
train: { epochs: 12, batchSize: 16, patience: 12 }
testExecutions: { count: 60, concurrency: 1 }
`;

/** Starts the CLI as its own process and resolves when its stderr matches `ready`. */
function startUntil(
  args: string[],
  cwd: string,
  ready: RegExp,
): Promise<{ child: ChildProcess; stderr: () => string }> {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, CI: 'true' },
  });
  let stderr = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`never saw ${ready} in:\n${stderr}`)), 120_000);
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (ready.test(stderr)) {
        clearTimeout(timer);
        resolve({ child, stderr: () => stderr });
      }
    });
    child.on('exit', () => {
      clearTimeout(timer);
      if (!ready.test(stderr)) reject(new Error(`exited before ${ready}:\n${stderr}`));
    });
  });
}

function kill9(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

/**
 * Every manifest parses, and nothing is recorded half made: each dataset with a dataset.json has every
 * image its train.lst names, and each model with metrics has its weights. Read through the store's own
 * notion of a committed object (as a restarted store would serve them). Returns what is recorded.
 */
async function assertConsistent(workDir: string): Promise<{ datasets: number; models: number }> {
  const runs = join(workDir, 'runs');
  for (const run of existsSync(runs) ? readdirSync(runs) : []) {
    const path = join(runs, run, 'manifest.json');
    if (existsSync(path)) parseManifest(readFileSync(path, 'utf8'), path);
  }
  const objects = join(workDir, 'objects');
  const recorded = { datasets: 0, models: 0 };
  if (!existsSync(objects)) return recorded;
  const store = new FileObjectStore(objects);
  const exists = (key: string) =>
    store.head('scones-artifacts', key).then(
      () => true,
      () => false,
    );
  const folders = (prefix: string) =>
    store
      .list('scones-artifacts', { prefix, delimiter: '/', maxKeys: 1000 })
      .then((page) => page.commonPrefixes);
  for (const dataset of await folders('datasets/')) {
    if (!(await exists(`${dataset}dataset.json`))) continue;
    recorded.datasets++;
    const lst = await text(store.read('scones-artifacts', `${dataset}train.lst`));
    for (const line of lst.trim().split('\n'))
      if (!(await exists(`${dataset}train/${line.split('\t')[2]}`))) figures.recordsLost++;
  }
  for (const model of await folders('models/')) {
    if (!(await exists(`${model}metrics.json`))) continue;
    recorded.models++;
    expect((await exists(`${model}model.json`)) && (await exists(`${model}weights.bin`)), model).to.equal(
      true,
    );
  }
  const deployment = join(workDir, 'deployment.json');
  if (existsSync(deployment)) JSON.parse(readFileSync(deployment, 'utf8'));
  return recorded;
}

describe('reliability: kill -9 in the middle of each stage, then re-run', function () {
  this.timeout(600_000);
  let dir: string;
  let cleanup: () => void;
  before(() => {
    ({ dir, cleanup } = tempDir());
    writeFileSync(join(dir, 'scones.config.yaml'), CONFIG);
  });
  after(() => cleanup());

  const points: [string, string[], RegExp][] = [
    ['stage-data', ['stage-data', '--run-id', 'crash'], /upload images: \d+\/320/],
    ['train', ['train', '--run-id', 'crash'], /epoch 2:/],
    ['deploy', ['deploy', '--run-id', 'crash'], /bundle filter-inferences/],
    ['test-executions', ['test-executions', '--run-id', 'crash'], /test executions: \d+\/60/],
  ];
  for (const [stage, args, ready] of points) {
    it(`${stage}: the manifest stays valid, nothing is half recorded, and the re-run completes`, async () => {
      const { child } = await startUntil(args, dir, ready);
      await kill9(child);
      figures.faultsInjected++;
      await assertConsistent(join(dir, '.scones'));
      const manifestPath = join(dir, '.scones', 'runs', 'crash', 'manifest.json');
      if (existsSync(manifestPath))
        expect(
          parseManifest(readFileSync(manifestPath, 'utf8'), manifestPath).stages[stage as 'train'],
        ).to.equal(undefined);
      // The lock of the killed process is stale: the re-run takes it over.
      const again = await runCli([...args, '--json'], { cwd: dir });
      expect(again.code, again.stderr).to.equal(0);
      const recorded = await assertConsistent(join(dir, '.scones'));
      // The check above must have had something to check.
      expect(recorded.datasets, 'datasets recorded after the re-run').to.be.at.least(1);
      if (stage !== 'stage-data')
        expect(recorded.models, 'models recorded after the re-run').to.be.at.least(1);
      const manifest = parseManifest(readFileSync(manifestPath, 'utf8'), manifestPath);
      expect(manifest.stages[stage as 'train']).to.not.equal(undefined);
      figures.faultsSurvived++;
    });
    if (stage === 'train') {
      // Deploy needs an evaluated model and a passed gate in the run.
      it('(evaluate and gate between train and deploy)', async () => {
        const evaluate = await runCli(['evaluate', '--run-id', 'crash'], { cwd: dir });
        expect(evaluate.code, evaluate.stderr).to.equal(0);
        const gate = await runCli(['gate', '--run-id', 'crash', '--min-accuracy', '0'], { cwd: dir });
        expect(gate.code, gate.stderr).to.equal(0);
      });
    }
  }

  it('a second run on the same work directory fails at once, naming the lock holder', async () => {
    const { child } = await startUntil(['train', '--run-id', 'crash', '--epochs', '11'], dir, /epoch 1:/);
    try {
      const started = Date.now();
      const second = await runCli(['stage-data', '--run-id', 'other'], { cwd: dir });
      expect(Date.now() - started).to.be.below(5000);
      expect(second.code).to.equal(1);
      expect(second.stderr).to.match(
        new RegExp(`another run holds the lock \\(pid ${child.pid}, run id crash, train since `),
      );
      figures.badInputsTried++;
      figures.badInputsClearErrors++;
    } finally {
      await kill9(child);
    }
  });
});
