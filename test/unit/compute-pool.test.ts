import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { backboneFeatures } from '../../pipeline/backends/local/backbone.js';
import { ComputePool } from '../../pipeline/backends/local/compute-pool.js';
import { trainHead } from '../../pipeline/backends/local/head.js';
import { headProbabilities } from '../../pipeline/backends/local/model.js';
import { initTensorflow } from '../../pipeline/backends/local/tf.js';
import { extractFeatures } from '../../pipeline/backends/local/trainer.js';
import { createReporter } from '../../pipeline/console-reporter.js';
import { SconesError } from '../../pipeline/errors.js';
import { seededRandom } from '../../pipeline/util/random.js';
import { tempDir } from '../helpers/workspace.js';

const SIDE = 8;
const quiet = createReporter({ env: { CI: 'true' }, stream: { write: () => true } as never });
const bytes = (rows: Float32Array[]) => Buffer.concat(rows.map((row) => Buffer.from(row.buffer)));

describe('the compute pool (worker threads)', function () {
  this.timeout(120_000);
  before(() => initTensorflow());

  it('gives the backbone features this thread gives, byte for byte, over several chunks and workers', async () => {
    const random = seededRandom(3);
    const inputs = Array.from({ length: 70 }, () =>
      Float32Array.from({ length: SIDE * SIDE * 3 }, () => random()),
    );
    let ticked = 0;
    const tick = (n = 1) => {
      ticked += n;
    };
    const pooled = await extractFeatures(inputs, SIDE, true, { tick });
    expect(ticked).to.equal(70);
    expect(bytes(pooled.plain).equals(bytes(backboneFeatures(inputs, SIDE, false)))).to.equal(true);
    expect(bytes(pooled.mirrored).equals(bytes(backboneFeatures(inputs, SIDE, true)))).to.equal(true);
    const plainOnly = await extractFeatures(inputs.slice(0, 3), SIDE, false, { tick() {} });
    expect(plainOnly.mirrored).to.deep.equal([]);
  });

  it('lets a process that used it exit by itself, with nothing of the workers on stdout', () => {
    // A worker whose stdout was captured held the process open after a whole run (2026-12-04).
    const script = `
      const { ComputePool } = await import(${JSON.stringify(new URL('../../pipeline/backends/local/compute-pool.ts', import.meta.url).href)});
      const pool = new ComputePool(2);
      const input = new Float32Array(${SIDE * SIDE * 3}).fill(0.5);
      await Promise.all([pool.features([input], ${SIDE}, true), pool.features([input], ${SIDE}, false)]);
      process.stdout.write('done');`;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(child.signal, 'killed by the timeout: the process did not exit').to.equal(null);
    expect(child.status, child.stderr).to.equal(0);
    expect(child.stdout).to.equal('done');
  });

  it('fails the job a dying worker held, naming it and what to do, and gives the next job to a new worker', async () => {
    // A stand-in worker that exits on a job of no images and answers the others.
    const { dir, cleanup } = tempDir('pool-');
    try {
      const path = join(dir, 'dying-worker.mjs');
      writeFileSync(
        path,
        `import { parentPort } from 'node:worker_threads';
        parentPort.on('message', ({ id, job }) => {
          if (job.inputs.length === 0) process.exit(3);
          parentPort.postMessage({ id, ok: true, result: { plain: job.inputs, mirrored: [] } });
        });`,
      );
      const pool = new ComputePool(1, () => ({ path, execArgv: [] }));
      const input = new Float32Array([1, 2, 3]);
      const [dying, next] = await Promise.allSettled([
        pool.features([], SIDE, false),
        pool.features([input], SIDE, false),
      ]);
      expect(dying.status).to.equal('rejected');
      const reason = (dying as PromiseRejectedResult).reason as Error;
      expect(reason).to.be.instanceOf(SconesError);
      expect(reason.message).to.equal(
        "a compute worker stopped (exit code 3) while computing the backbone's features of 0 images: " +
          'run the command again; if it stops again, run it with SCONES_DEBUG=1 and report what it prints',
      );
      expect(next.status).to.equal('fulfilled');
      expect((next as PromiseFulfilledResult<{ plain: Float32Array[] }>).value.plain).to.deep.equal([input]);
    } finally {
      cleanup();
    }
  });

  it('trains a head as trainHead does here, and reports a SconesError with its message and exit code', async () => {
    const random = seededRandom(9);
    const labelled = (count: number) => {
      const labels = Array.from({ length: count }, (_, i) => i % 2);
      const rows = labels.map((label) => Float32Array.from({ length: 16 }, () => random() + label * 0.3));
      return { features: { plain: rows, mirrored: rows }, labels };
    };
    const train = labelled(60);
    const validation = labelled(20);
    const heldOut = labelled(10).features;
    const hp = {
      epochs: 6,
      batchSize: 16,
      learningRate: 0.01,
      patience: 3,
      seed: 4,
      augment: true,
      side: SIDE,
      l2: 0.01,
      scales: 2,
      crossFitFolds: 0,
    };
    const pool = new ComputePool(2);
    const pooled = await pool.head({ train, validation, heldOut, hp, classes: 2, label: 'head' });
    const here = await trainHead(train, validation, hp, 2, quiet);
    try {
      expect(pooled.best).to.deep.equal(here.best);
      expect(pooled.probabilities).to.deep.equal(headProbabilities(here.model, heldOut));
    } finally {
      here.model.dispose();
    }
    const empty = { features: { plain: [], mirrored: [] }, labels: [] };
    const error = await pool
      .head({ train, validation: empty, heldOut, hp, classes: 2, label: 'head' })
      .catch((e: Error) => e);
    expect(error).to.be.instanceOf(SconesError);
    expect((error as SconesError).exitCode).to.equal(1);
    expect((error as Error).message).to.match(/validation split has no images/);
    expect((error as Error).stack, 'the stack of the worker code that threw').to.match(/head\.ts/);
  });
});
