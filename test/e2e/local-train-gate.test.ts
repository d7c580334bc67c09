import { expect } from 'chai';
import { PNG } from 'pngjs';
import { openLocalBackend } from '../../pipeline/backends/local/backend.js';
import {
  deserializeModel,
  imageToInput,
  MODEL_FILES,
  predictProbabilities,
} from '../../pipeline/backends/local/model.js';
import { readValidationPredictions } from '../../pipeline/backends/local/trainer.js';
import type { Config } from '../../pipeline/config.js';
import { StageFailedError } from '../../pipeline/errors.js';
import { newManifest } from '../../pipeline/manifest.js';
import type { Backend } from '../../pipeline/ports.js';
import { executeStage } from '../../pipeline/run.js';
import { parseLst } from '../../pipeline/util/lst.js';
import { captureReporter, tempDir, testConfig } from '../helpers/workspace.js';

describe('local trainer and gate (TensorFlow.js on the local object store)', function () {
  this.timeout(240_000);
  let cleanup: () => void;
  let config: Config;
  let backend: Backend;

  before(async () => {
    const temp = tempDir();
    cleanup = temp.cleanup;
    config = testConfig({
      workDir: temp.dir,
      'data.source': 'synthetic',
      'data.classes': ['red', 'green', 'blue'],
      'data.synthetic.trainPerClass': 60,
      'data.synthetic.testPerClass': 20,
      'data.synthetic.imageSize': 16,
      'train.epochs': 6,
      'train.batchSize': 16,
    });
    backend = await openLocalBackend(config);
  });
  after(async () => {
    await backend.close();
    cleanup();
  });

  function withTrain(overrides: Partial<Config['train']>): Config {
    return { ...config, train: { ...config.train, ...overrides } };
  }

  async function stageAndTrain(runId: string, overrides: Partial<Config['train']> = {}) {
    const { reporter, stream } = captureReporter();
    const runConfig = withTrain(overrides);
    let manifest = newManifest(runId, 'local', 'test');
    manifest = (await executeStage('stage-data', { config: runConfig, backend, reporter, manifest }))
      .manifest;
    const trained = await executeStage('train', { config: runConfig, backend, reporter, manifest });
    return { ...trained, log: stream };
  }

  it('learns a synthetic set to >= 0.95 validation accuracy in seconds, and saves a loadable model', async () => {
    // Act
    const started = Date.now();
    const { record, manifest, log } = await stageAndTrain('train-1');
    const seconds = (Date.now() - started) / 1000;
    // Assess
    const model = record.outputs;
    expect(model.validationAccuracy).to.be.at.least(0.95);
    expect(seconds).to.be.below(120);
    expect(model.epochs.length).to.be.within(1, 6);
    expect(model.modelUri).to.equal(`s3://${config.bucket}/models/${model.trainingId}/`);
    expect(log.text).to.match(/epoch 1: loss [\d.]+ acc [\d.]+ val_acc [\d.]+/);
    expect(manifest.stages.train?.reused).to.equal(false);

    // The saved model, loaded back from the store, predicts exactly as the in-memory one did.
    const prefix = `models/${model.trainingId}/`;
    const loaded = await deserializeModel({
      modelJson: Buffer.from(await backend.store.get(`${prefix}${MODEL_FILES.modelJson}`)).toString(),
      weights: await backend.store.get(`${prefix}${MODEL_FILES.weights}`),
    });
    const dataset = manifest.stages['stage-data']!.outputs as { prefix: string };
    const entries = parseLst(
      Buffer.from(await backend.store.get(`${dataset.prefix}validation.lst`)).toString(),
      'validation.lst',
    );
    const inputs = await Promise.all(
      entries.map(async (e) => {
        const png = PNG.sync.read(
          Buffer.from(await backend.store.get(`${dataset.prefix}validation/${e.path}`)),
        );
        return imageToInput({ width: png.width, height: png.height, data: png.data }, 16);
      }),
    );
    const reloaded = predictProbabilities(loaded, inputs, 16);
    const saved = await readValidationPredictions(backend.store, prefix);
    for (const [i, p] of reloaded.entries()) {
      for (const [k, v] of p.entries()) expect(v).to.be.closeTo(saved.probabilities[i]![k]!, 1e-6);
    }
  });

  it('reuses a completed training with the same id: the second train trains nothing', async () => {
    const { record, log } = await stageAndTrain('train-2');
    expect(record.reused).to.equal(true);
    expect(log.text).to.match(/already completed .*not retraining/);
    expect(log.text).to.not.match(/epoch 1:/);
  });

  it('gives the same metrics for the same seed, and others for another seed', async () => {
    const first = await stageAndTrain('seed-a', { seed: 99, epochs: 2 });
    await backend.store.delete(`models/${first.record.outputs.trainingId}/${MODEL_FILES.metrics}`);
    const again = await stageAndTrain('seed-b', { seed: 99, epochs: 2 });
    expect(again.record.reused).to.equal(false);
    expect(again.record.outputs.epochs.map(({ seconds: _, ...m }) => m)).to.deep.equal(
      first.record.outputs.epochs.map(({ seconds: _, ...m }) => m),
    );
    const other = await stageAndTrain('seed-c', { seed: 100, epochs: 2 });
    expect(other.record.outputs.epochs.map((e) => e.loss)).to.not.deep.equal(
      first.record.outputs.epochs.map((e) => e.loss),
    );
  });

  it('the test split never reaches training or selection: corrupting every test image after staging leaves the trained model identical', async () => {
    // Prepare: a trained model, then every test image and the test list replaced by bytes that do not decode
    const first = await stageAndTrain('isolation-a', { seed: 41, epochs: 2 });
    const trainingId = first.record.outputs.trainingId;
    const prefix = `models/${trainingId}/`;
    const weightsBefore = Buffer.from(await backend.store.get(`${prefix}${MODEL_FILES.weights}`));
    const dataset = first.manifest.stages['stage-data']!.outputs as { prefix: string };
    const testKeys: string[] = [];
    for await (const object of backend.store.list(`${dataset.prefix}test/`)) testKeys.push(object.key);
    expect(testKeys.length).to.equal(60);
    // The other tests use the same dataset: keep the originals to put back.
    const originals = new Map<string, Uint8Array>();
    for (const key of [...testKeys, `${dataset.prefix}test.lst`])
      originals.set(key, await backend.store.get(key));
    for (const key of testKeys) await backend.store.put(key, 'not a png');
    await backend.store.put(`${dataset.prefix}test.lst`, '0\t0\tno-such-image.png\n');
    await backend.store.delete(`${prefix}${MODEL_FILES.metrics}`);
    // Act: train again from scratch with the same inputs
    const { reporter } = captureReporter();
    const again = await executeStage('train', {
      config: withTrain({ seed: 41, epochs: 2 }),
      backend,
      reporter,
      manifest: first.manifest,
    });
    // Assess: same id, same weights byte for byte, same selection figures
    expect(again.record.reused).to.equal(false);
    expect(again.record.outputs.trainingId).to.equal(trainingId);
    const weightsAfter = Buffer.from(await backend.store.get(`${prefix}${MODEL_FILES.weights}`));
    expect(weightsAfter.equals(weightsBefore)).to.equal(true);
    expect(again.record.outputs.epochs.map(({ seconds: _, ...m }) => m)).to.deep.equal(
      first.record.outputs.epochs.map(({ seconds: _, ...m }) => m),
    );
    // ...while the evaluate stage, which does read the test split, fails on it.
    let failure: unknown;
    try {
      await executeStage('evaluate', { config, backend, reporter, manifest: again.manifest });
    } catch (error) {
      failure = error;
    }
    expect(String(failure)).to.match(/no-such-image\.png|does not exist|NoSuchKey|not found/i);
    for (const [key, body] of originals) await backend.store.put(key, body);
  });

  it('evaluate scores the model once on the test split, records what it measured, and reuses it the second time', async () => {
    const { reporter, stream } = captureReporter();
    const trained = await stageAndTrain('evaluate-1');
    const first = await executeStage('evaluate', { config, backend, reporter, manifest: trained.manifest });
    const evaluation = first.record.outputs;
    expect(first.record.reused).to.equal(false);
    expect(evaluation.quality.split).to.equal('test');
    expect(evaluation.quality.count).to.equal(60);
    const matrixTotal = evaluation.quality.confusionMatrix.flat().reduce((a, b) => a + b, 0);
    expect(matrixTotal).to.equal(60);
    const diagonal = evaluation.quality.confusionMatrix.reduce((sum, row, i) => sum + (row[i] ?? 0), 0);
    expect(evaluation.quality.accuracy).to.equal(diagonal / 60);
    const lines = Buffer.from(
      await backend.store.get(evaluation.predictionsUri!.replace(`s3://${config.bucket}/`, '')),
    )
      .toString()
      .split('\n');
    expect(lines).to.have.length(60);
    expect(first.result.summary).to.match(
      /test accuracy [\d.]+ \(95% interval [\d.]+-[\d.]+\) on 60 held-out images/,
    );
    // Every training image scored out of fold, stored beside the test predictions, chosen on with validation.
    const trainCount = (trained.manifest.stages['stage-data']!.outputs as { totals: { train: number } })
      .totals.train;
    expect(evaluation.automation?.outOfFold?.count).to.equal(trainCount);
    const outOfFoldLines = Buffer.from(
      await backend.store.get(evaluation.outOfFoldPredictionsUri!.replace(`s3://${config.bucket}/`, '')),
    )
      .toString()
      .split('\n');
    expect(outOfFoldLines).to.have.length(trainCount);
    expect(first.result.summary).to.match(
      /chosen on \d+ validation images and \d+ out-of-fold training images/,
    );
    const second = await executeStage('evaluate', { config, backend, reporter, manifest: first.manifest });
    expect(second.record.reused).to.equal(true);
    expect(second.record.outputs).to.deep.equal(evaluation);
    expect(stream.text).to.include('already completed: not scoring again');
  });

  it('gate passes the good model and rejects a one-epoch model at --min-accuracy 0.99, recording nothing', async () => {
    const { reporter } = captureReporter();
    const good = await stageAndTrain('gate-good');
    const goodEvaluated = await executeStage('evaluate', {
      config,
      backend,
      reporter,
      manifest: good.manifest,
    });
    const passed = await executeStage('gate', {
      config,
      backend,
      reporter,
      manifest: goodEvaluated.manifest,
    });
    expect(passed.record.outputs.passed).to.equal(true);
    expect(passed.record.outputs.accuracy).to.equal(goodEvaluated.record.outputs.quality.accuracy);

    const weakTrained = await stageAndTrain('gate-weak', { epochs: 1, learningRate: 0.00001, seed: 3 });
    const weak = await executeStage('evaluate', {
      config,
      backend,
      reporter,
      manifest: weakTrained.manifest,
    });
    const strict = { ...config, gate: { ...config.gate, minAccuracy: 0.99 } };
    expect(weak.record.outputs.quality.accuracy).to.be.below(0.99);
    try {
      await executeStage('gate', { config: strict, backend, reporter, manifest: weak.manifest });
      expect.fail('the gate passed a weak model');
    } catch (error) {
      expect(error).to.be.instanceOf(StageFailedError);
      expect((error as Error).message).to.match(
        /gate rejected model t-\w+: test accuracy [\d.]+ is below the minimum 0\.9900.*--force.*scones teardown/,
      );
    }
    const stored = await backend.manifests.load('gate-weak');
    expect(stored?.stages.gate).to.equal(undefined);

    const forced = { ...strict, gate: { ...strict.gate, force: true } };
    const { reporter: warned, stream } = captureReporter();
    const overridden = await executeStage('gate', {
      config: forced,
      backend,
      reporter: warned,
      manifest: weak.manifest,
    });
    expect(overridden.record.outputs).to.include({ passed: true, forced: true });
    expect(stream.text).to.match(/warning: gate overridden with --force/);
  });
});
