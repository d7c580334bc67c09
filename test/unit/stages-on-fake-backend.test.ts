import { expect } from 'chai';
import { newManifest, type TrainRecord, withStage } from '../../pipeline/manifest.js';
import type { DeployRequest, ScoredImage } from '../../pipeline/ports.js';
import { deploy } from '../../pipeline/stages/deploy.js';
import { evaluate } from '../../pipeline/stages/evaluate.js';
import type { Champion } from '../../pipeline/stages/gate.js';
import { gate } from '../../pipeline/stages/gate.js';
import {
  fakeDataset as dataset,
  fakeBackend,
  fakeDeployment,
  ScriptedEvaluator,
} from '../helpers/fake-backend.js';
import { captureReporter, testConfig } from '../helpers/workspace.js';

const model: TrainRecord = {
  trainingId: 't-1',
  trainer: 'fake/1',
  modelUri: 's3://fake-bucket/models/t-1/',
  validationAccuracy: 0.9,
  epochs: [],
  durationSeconds: 1,
  datasetDigest: 'd-1',
  hyperparameters: {},
};

/** Three of four test images right: accuracy 0.75. */
const predictions: ScoredImage[] = [
  { path: 'a.png', label: 0, probabilities: [0.9, 0.1] },
  { path: 'b.png', label: 0, probabilities: [0.2, 0.8] },
  { path: 'c.png', label: 1, probabilities: [0.3, 0.7] },
  { path: 'd.png', label: 1, probabilities: [0.1, 0.9] },
];

const section = <T>(outputs: T) => ({
  inputsDigest: 'x',
  startedAt: '2026-11-23T00:00:00.000Z',
  finishedAt: '2026-11-23T00:00:01.000Z',
  durationMs: 1000,
  reused: false,
  outputs,
});

function trainedRun() {
  const manifest = newManifest('run-1', 'local', '');
  return withStage(withStage(manifest, 'stage-data', section(dataset)), 'train', section(model));
}

describe('stages on the fake backend (ports in memory)', () => {
  it('evaluate scores the test split once, records accuracy from the predictions, and reuses the record', async () => {
    const evaluator = new ScriptedEvaluator(predictions);
    const backend = fakeBackend({ evaluator });
    const context = {
      config: testConfig({}),
      backend,
      reporter: captureReporter().reporter,
      runId: 'run-1',
      manifest: trainedRun(),
    };
    const first = await evaluate(context);
    expect(first.reused).to.equal(false);
    expect(first.outputs.quality.accuracy).to.equal(0.75);
    expect(first.outputs.quality.confusionMatrix).to.deep.equal([
      [1, 1],
      [0, 2],
    ]);
    const stored = [...backend.store.objects.keys()].filter((key) => key.startsWith('evaluations/'));
    expect(stored).to.have.length(3);

    const second = await evaluate(context);
    expect(second.reused).to.equal(true);
    expect(second.outputs.quality.accuracy).to.equal(0.75);
    expect(evaluator.requests).to.have.length(1);
  });

  it('evaluate fails naming the counts when the evaluator scores fewer images than the test split holds', async () => {
    const backend = fakeBackend({ evaluator: new ScriptedEvaluator(predictions.slice(0, 3)) });
    const error = await evaluate({
      config: testConfig({}),
      backend,
      reporter: captureReporter().reporter,
      runId: 'run-1',
      manifest: trainedRun(),
    }).catch((e: Error) => e);
    expect((error as Error).message).to.match(
      /predictions of the test images of dataset d-1 hold 3 predictions for 4 images/,
    );
    expect([...backend.store.objects.keys()]).to.deep.equal([]);
  });

  async function gateWith(champion: Champion | undefined, minAccuracy = 0.7) {
    const backend = fakeBackend({
      evaluator: new ScriptedEvaluator(predictions),
      ...(champion
        ? {
            deployment: fakeDeployment({
              trainingId: champion.trainingId,
              evaluation: {
                accuracy: champion.accuracy,
                testSplitDigest: champion.testSplitDigest ?? '',
                datasetDigest: '',
              },
            }),
          }
        : {}),
    });
    const config = testConfig({ gate: { minAccuracy, maxRegression: 0.01 } });
    const reporter = captureReporter().reporter;
    const evaluated = await evaluate({ config, backend, reporter, runId: 'run-1', manifest: trainedRun() });
    const manifest = withStage(trainedRun(), 'evaluate', section(evaluated.outputs));
    return gate({ config, backend, reporter, runId: 'run-1', manifest });
  }

  it('gate passes the evaluated accuracy over the minimum when nothing is deployed', async () => {
    const result = await gateWith(undefined);
    expect(result.outputs).to.include({ passed: true, forced: false, accuracy: 0.75 });
  });

  it('gate rejects a model worse than the champion on the same test split, naming both figures', async () => {
    const error = await gateWith({ trainingId: 't-0', accuracy: 0.9, testSplitDigest: 'split-1' }).catch(
      (e: Error) => e,
    );
    expect((error as Error).message).to.match(
      /gate rejected model t-1: .*0\.7500.*worse than the champion t-0 \(0\.9000/,
    );
  });

  it('gate ignores a champion scored on another test split: only the minimum applies', async () => {
    const result = await gateWith({ trainingId: 't-0', accuracy: 0.99, testSplitDigest: 'split-other' });
    expect(result.outputs.passed).to.equal(true);
    expect(result.outputs.reasons.join('\n')).to.include('not comparable');
  });

  it('gate rejects the evaluated accuracy below the minimum', async () => {
    const error = await gateWith(undefined, 0.8).catch((e: Error) => e);
    expect((error as Error).message).to.include('test accuracy 0.7500 is below the minimum 0.8000');
  });
});

describe('the threshold chosen on the fake backend', () => {
  /** Validation: right at 0.95 and 0.85, wrong at 0.75: the target 0.97 is first reached (as measured) at 0.85. */
  const validation: ScoredImage[] = [
    { path: 'v1.png', label: 0, probabilities: [0.95, 0.05] },
    { path: 'v2.png', label: 1, probabilities: [0.15, 0.85] },
    { path: 'v3.png', label: 0, probabilities: [0.25, 0.75] },
    { path: 'v4.png', label: 1, probabilities: [0.05, 0.95] },
  ];
  const evaluateWith = async (test: ScoredImage[], deploy: Record<string, unknown> = {}) => {
    const backend = fakeBackend({ evaluator: new ScriptedEvaluator(test, validation) });
    const config = testConfig({ deploy });
    const reporter = captureReporter().reporter;
    return evaluate({ config, backend, reporter, runId: 'run-1', manifest: trainedRun() });
  };

  it('is chosen on the validation predictions only: another test split does not move it, only its held-out result', async () => {
    const flipped = predictions.map((p) => ({ ...p, probabilities: [...p.probabilities].reverse() }));
    const [a, b] = [await evaluateWith(predictions), await evaluateWith(flipped)];
    expect(a.outputs.automation).to.include({ chosenThreshold: 0.85, threshold: 0.85, basis: 'measured' });
    expect(b.outputs.automation?.chosenThreshold).to.equal(0.85);
    expect(a.outputs.automation?.validation).to.include({ kept: 3, automationRate: 0.75, keptAccuracy: 1 });
    // Held out at 0.85: a (0.9 right), d (0.9 right) kept; flipped: b (0.8) and c (0.7) fall under it.
    expect(a.outputs.automation?.heldOut).to.include({ kept: 2, automationRate: 0.5, keptAccuracy: 1 });
    expect(b.outputs.automation?.heldOut).to.include({ kept: 2, keptAccuracy: 0 });
  });

  it('is chosen on the validation and out-of-fold predictions together, and chosen the same when the evaluation is reused', async () => {
    // 16 training images scored out of fold: 12 right at 0.95, 4 wrong at 0.85. Pooled with validation,
    // 0.85 keeps 15 right of 19 (0.79); 0.95 keeps 14 of 14, the lowest to reach 0.97 as measured.
    const outOfFold: ScoredImage[] = Array.from({ length: 16 }, (_, i) => ({
      path: `t${i}.png`,
      label: i < 12 ? 0 : 1,
      probabilities: i < 12 ? [0.95, 0.05] : [0.85, 0.15],
    }));
    const backend = fakeBackend({ evaluator: new ScriptedEvaluator(predictions, validation, outOfFold) });
    const config = testConfig({});
    const { reporter, stream } = captureReporter();
    const first = await evaluate({ config, backend, reporter, runId: 'run-1', manifest: trainedRun() });
    expect(first.outputs.automation).to.include({ chosenThreshold: 0.95, basis: 'measured' });
    expect(first.outputs.automation?.outOfFold).to.include({ split: 'out-of-fold', count: 16, kept: 12 });
    expect(first.outputs.automation?.validation).to.include({ count: 4, kept: 2 });
    expect(first.summary).to.include('chosen on 4 validation images and 16 out-of-fold training images');
    const again = await evaluate({ config, backend, reporter, runId: 'run-2', manifest: trainedRun() });
    expect(stream.text).to.include('already completed: not scoring again');
    expect(again.outputs.automation).to.deep.equal(first.outputs.automation);
    // A damaged stored file is named, not read as predictions.
    const key = first.outputs.outOfFoldPredictionsUri?.replace(/^s3:\/\/[^/]+\//, '') as string;
    await backend.store.put(key, '{"path":"t0.png","label":0}\n');
    const error = await evaluate({ config, backend, reporter, runId: 'run-3', manifest: trainedRun() }).catch(
      (e: Error) => e,
    );
    expect((error as Error).message).to.match(/out-of-fold-predictions\.jsonl line 1 is not a scored image/);
  });

  it('chooses on validation alone when the model was trained on another dataset (--reuse-last-model), whose training images may be test images here', async () => {
    const outOfFold = Array.from({ length: 16 }, (_, i) => ({
      path: `t${i}.png`,
      label: 1,
      probabilities: [0.99, 0.01],
    }));
    const backend = fakeBackend({ evaluator: new ScriptedEvaluator(predictions, validation, outOfFold) });
    const { reporter, stream } = captureReporter();
    const manifest = withStage(
      withStage(newManifest('run-1', 'local', ''), 'stage-data', section(dataset)),
      'train',
      section({ ...model, datasetDigest: 'd-other' }),
    );
    const result = await evaluate({ config: testConfig({}), backend, reporter, runId: 'run-1', manifest });
    expect(result.outputs.automation).to.include({ chosenThreshold: 0.85, basis: 'measured' });
    expect(result.outputs.automation?.outOfFold).to.equal(undefined);
    expect(result.outputs.outOfFoldPredictionsUri).to.equal(undefined);
    expect(stream.text).to.include('was trained on dataset d-other, not d-1');
  });

  it('refuses out-of-fold predictions that do not cover the training split, naming both counts', async () => {
    const backend = fakeBackend({
      evaluator: new ScriptedEvaluator(predictions, validation, validation),
    });
    const error = await evaluate({
      config: testConfig({}),
      backend,
      reporter: captureReporter().reporter,
      runId: 'run-1',
      manifest: trainedRun(),
    }).catch((e: Error) => e);
    expect((error as Error).message).to.match(
      /out-of-fold predictions saved with model t-1 .* hold 4 predictions for 16 images: delete the model's folder/,
    );
  });

  it('refuses predictions with another class count or a label beyond the classes, and a reused file cut short', async () => {
    const reporter = captureReporter().reporter;
    const run = (evaluator: ScriptedEvaluator, backend = fakeBackend({ evaluator })) =>
      evaluate({ config: testConfig({}), backend, reporter, runId: 'run-1', manifest: trainedRun() }).catch(
        (e: Error) => e,
      );
    const threeClasses = Array.from({ length: 16 }, (_, i) => ({
      path: `t${i}.png`,
      label: 0,
      probabilities: [0.5, 0.3, 0.2],
    }));
    expect(
      ((await run(new ScriptedEvaluator(predictions, validation, threeClasses))) as Error).message,
    ).to.match(/prediction 1 has 3 probabilities and label 0 for 2 classes/);
    const labelSeven = [{ path: 'v.png', label: 7, probabilities: [0.5, 0.5] }, ...validation.slice(1)];
    expect(((await run(new ScriptedEvaluator(predictions, labelSeven))) as Error).message).to.match(
      /validation images .* label 7 for 2 classes/,
    );
    // A completed evaluation whose out-of-fold file lost lines is refused, not chosen on.
    const outOfFold = Array.from({ length: 16 }, (_, i) => ({
      path: `t${i}.png`,
      label: 0,
      probabilities: [0.9, 0.1],
    }));
    const backend = fakeBackend({ evaluator: new ScriptedEvaluator(predictions, validation, outOfFold) });
    const first = await run(new ScriptedEvaluator(predictions, validation, outOfFold), backend);
    const key = (
      first as { outputs: { outOfFoldPredictionsUri: string } }
    ).outputs.outOfFoldPredictionsUri.replace(/^s3:\/\/[^/]+\//, '');
    await backend.store.put(key, `${JSON.stringify(outOfFold[0])}\n`);
    expect(((await run(new ScriptedEvaluator([]), backend)) as Error).message).to.match(
      /out-of-fold-predictions\.jsonl hold 1 predictions for 16 images: delete the evaluation's folder/,
    );
  });

  it('keeps an explicit deploy.threshold as the one deployed and measures the held-out result there', async () => {
    const result = await evaluateWith(predictions, { threshold: 0.75 });
    expect(result.outputs.automation).to.include({
      chosenThreshold: 0.85,
      threshold: 0.75,
      thresholdSource: 'explicit',
    });
    expect(result.outputs.automation?.heldOut).to.include({ kept: 3, automationRate: 0.75 });
  });

  it('gate rejects a held-out automation rate under gate.minAutomationRate, and ignores it at 0', async () => {
    const backend = fakeBackend({ evaluator: new ScriptedEvaluator(predictions, validation) });
    const reporter = captureReporter().reporter;
    const run = async (minAutomationRate: number) => {
      const config = testConfig({ gate: { minAccuracy: 0.5, minAutomationRate } });
      const evaluated = await evaluate({ config, backend, reporter, runId: 'run-1', manifest: trainedRun() });
      const manifest = withStage(trainedRun(), 'evaluate', section(evaluated.outputs));
      return gate({ config, backend, reporter, runId: 'run-1', manifest });
    };
    expect((await run(0)).outputs.passed).to.equal(true);
    expect((await run(0.5)).outputs.reasons).to.include('held-out automation rate 0.5000 >= minimum 0.5000');
    const error = await run(0.6).catch((e: Error) => e);
    expect((error as Error).message).to.include(
      'held-out automation rate 0.5000 is below the minimum 0.6000',
    );
  });

  /** The request the deploy stage hands the deployer (which stops there: the fake backend deploys nothing). */
  const deployRequest = async (deployConfig: Record<string, unknown>, withEvaluation = true) => {
    const requests: DeployRequest[] = [];
    const backend = {
      ...fakeBackend({ evaluator: new ScriptedEvaluator(predictions, validation) }),
      deployer: {
        deploy: async (request: DeployRequest): Promise<never> => {
          requests.push(request);
          throw new Error('recorded');
        },
      },
    };
    const config = testConfig({ deploy: deployConfig });
    const reporter = captureReporter().reporter;
    let manifest = trainedRun();
    if (withEvaluation) {
      const evaluated = await evaluate({ config, backend, reporter, runId: 'run-1', manifest });
      manifest = withStage(manifest, 'evaluate', section(evaluated.outputs));
    }
    const gated = { passed: true, forced: false, accuracy: 0.75, minAccuracy: 0.5, maxRegression: 0.01 };
    manifest = withStage(manifest, 'gate', section({ ...gated, reasons: [], trainingId: 't-1' }));
    const error = await deploy(
      { config, backend, reporter, runId: 'run-1', manifest },
      () => undefined,
    ).catch((e: Error) => e);
    return { request: requests[0], error: error as Error };
  };

  it('deploy passes the threshold chosen on validation under auto (the default), and an explicit value as set', async () => {
    expect((await deployRequest({})).request?.threshold).to.equal(0.85);
    expect((await deployRequest({ threshold: 0.75 })).request?.threshold).to.equal(0.75);
  });

  it('deploy refuses auto when the run has no evaluation that chose a threshold, naming the fixes', async () => {
    const { request, error } = await deployRequest({ threshold: 'auto' }, false);
    expect(request).to.equal(undefined);
    expect(error.message).to.include('deploy.threshold is auto but model t-1 has no threshold chosen');
  });
});
