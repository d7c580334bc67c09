import { expect } from 'chai';
import { BACKBONE_FEATURES } from '../../pipeline/backends/local/backbone.js';
import { openLocalBackend } from '../../pipeline/backends/local/backend.js';
import { buildHead, MODEL_FILES, serializeModel } from '../../pipeline/backends/local/model.js';
import { initTensorflow, tf } from '../../pipeline/backends/local/tf.js';
import type { Config } from '../../pipeline/config.js';
import type { Automation, EvaluationRecord } from '../../pipeline/contracts/evaluation.js';
import { encodePng } from '../../pipeline/data/image.js';
import { StageFailedError } from '../../pipeline/errors.js';
import type { Backend, DeployRequest } from '../../pipeline/ports.js';
import { maxLowConfidenceShare } from '../../pipeline/templates/parameters.js';
import { automationRecord } from '../../pipeline/util/automation.js';
import { captureReporter, tempDir, testConfig } from '../helpers/workspace.js';

const SIDE = 16;

describe('local deployment guardrail: a new model is watched on the live traffic before it goes live', function () {
  this.timeout(180_000);
  let cleanup: () => void;
  let config: Config;
  let backend: Backend;

  before(async () => {
    const temp = tempDir();
    cleanup = temp.cleanup;
    config = testConfig({ workDir: temp.dir, 'deploy.bakeSeconds': 30 });
    backend = await openLocalBackend(config);
    await initTensorflow();
  });
  after(async () => {
    await backend.close();
    cleanup();
  });

  /**
   * A model whose last layer answers `bias` whatever the image: [6, -6] is confident, [0, 0] is the
   * badly wrong model that is never sure (every answer 0.5 / 0.5, below any threshold over a half).
   */
  async function storeModel(
    trainingId: string,
    bias: [number, number],
    features = BACKBONE_FEATURES,
  ): Promise<DeployRequest> {
    const model = buildHead({ features, classes: 2, seed: 7 });
    const last = model.layers.at(-1);
    const [kernel] = last?.getWeights() ?? [];
    last?.setWeights([tf.zerosLike(kernel as tf.Tensor), tf.tensor1d(bias)]);
    const saved = await serializeModel(model);
    model.dispose();
    const prefix = `models/${trainingId}/`;
    await backend.store.put(`${prefix}${MODEL_FILES.modelJson}`, saved.modelJson);
    await backend.store.put(`${prefix}${MODEL_FILES.weights}`, saved.weights);
    return {
      runId: `run-${trainingId}`,
      model: { trainingId, modelUri: backend.store.uri(prefix), validationAccuracy: 0.9 },
      imageSide: SIDE,
      threshold: 0.9,
      preview: false,
    };
  }

  /** Requests the live endpoint served, as its data capture holds them (SageMaker's JSONL layout). */
  async function captureLiveTraffic(count: number) {
    const lines = Array.from({ length: count }, (_, i) => {
      const pixels = new Uint8Array(SIDE * SIDE * 4).fill(40 + i * 5);
      return JSON.stringify({
        captureData: {
          endpointInput: {
            observedContentType: 'image/png',
            mode: 'INPUT',
            data: encodePng({ width: SIDE, height: SIDE, data: pixels }).toString('base64'),
            encoding: 'BASE64',
          },
          endpointOutput: {
            observedContentType: 'application/json',
            mode: 'OUTPUT',
            data: '[0.99,0.01]',
            encoding: 'JSON',
          },
        },
        eventMetadata: { eventId: `e-${i}`, inferenceTime: '2026-12-03T14:00:00Z' },
        eventVersion: '0',
      });
    });
    await backend.store.put(
      `data-capture/${config.deploy.stackName}-endpoint/AllTraffic/2026/12/03/14/00-00-000-live.jsonl`,
      `${lines.join('\n')}\n`,
    );
  }

  it('a model that fails on the live traffic trips the errors signal and is rolled back; the live model stays; a sound one goes live', async () => {
    const { reporter, stream } = captureReporter();
    await backend.deployer.deploy(await storeModel('t-live', [6, -6]), reporter);
    expect((await backend.deployment())?.trainingId).to.equal('t-live');
    await captureLiveTraffic(12);

    // A head for 10 features, not the backbone's: it loads, then fails on every request.
    const failing = await storeModel('t-failing', [6, -6], 10);
    const error = await backend.deployer.deploy(failing, reporter).catch((e: Error) => e);
    expect(error).to.be.instanceOf(StageFailedError);
    expect((error as Error).message).to.match(
      /rolled back: model t-failing tripped invocation errors: 12 of 12 requests failed .*t-live stays live, nothing was changed/,
    );
    expect((await backend.deployment())?.trainingId).to.equal('t-live');

    // A model that is never sure, deployed with the promise its evaluation made at this threshold (at least
    // 70% routed, held out): its low-confidence share (12 of 12) is over the 30% it may drop.
    const promised: Automation = automationRecord({
      validation: [],
      test: Array.from({ length: 40 }, (_, i) => ({
        label: i % 2,
        probabilities: i % 2 ? [0.02, 0.98] : [0.98, 0.02],
      })),
      targetAccuracy: 0.97,
      threshold: 0.9,
    });
    const unsure = {
      ...(await storeModel('t-unsure', [0, 0])),
      evaluation: {
        quality: { accuracy: 1 },
        testSplitDigest: 'split',
        datasetDigest: 'd',
        automation: promised,
      } as EvaluationRecord,
    };
    expect(maxLowConfidenceShare(unsure)).to.equal(
      String(Math.ceil((1 - promised.heldOut.automationRateInterval.low) * 10_000) / 10_000),
    );
    const wrong = await backend.deployer.deploy(unsure, reporter).catch((e: Error) => e);
    expect((wrong as Error).message).to.match(
      /rolled back: model t-unsure tripped low-confidence share: 12 of 12 inferences \(100%, 95% interval from 76%\) below the threshold 0\.9, over the 9% the model may drop.*t-live stays live/,
    );
    expect((await backend.deployment())?.trainingId).to.equal('t-live');

    const sound = await backend.deployer.deploy(await storeModel('t-sound', [-6, 6]), reporter);
    expect(sound.deployed).to.equal(true);
    expect((await backend.deployment())?.trainingId).to.equal('t-sound');
    expect(stream.text).to.match(/bake: 12 live requests replayed, no errors/);

    // A bake the time limit ends early says how little it judged.
    config.deploy.bakeSeconds = 0;
    try {
      await backend.deployer.deploy(await storeModel('t-hurried', [-6, 6]), reporter);
    } finally {
      config.deploy.bakeSeconds = 30;
    }
    expect(stream.text).to.match(
      /deploy\.bakeSeconds \(0 s\) ended the bake after \d+ of 12 captured requests/,
    );
  });
});
