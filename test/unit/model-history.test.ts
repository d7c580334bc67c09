import { expect } from 'chai';
import { modelHistoryKey } from '../../pipeline/contracts/layout.js';
import { type ModelWentLive, modelHistory } from '../../pipeline/contracts/model-history.js';
import { rollback } from '../../pipeline/model-history.js';
import type { DeployRequest } from '../../pipeline/ports.js';
import { readWentLive, recordWentLive } from '../../pipeline/util/model-history-records.js';
import { rejection } from '../helpers/assertions.js';
import { fakeBackend, fakeDeployment } from '../helpers/fake-backend.js';
import { captureReporter } from '../helpers/workspace.js';

const quality = {
  split: 'test' as const,
  count: 40,
  accuracy: 0.85,
  accuracyInterval: { low: 0.71, high: 0.93 },
  classes: [
    { name: 'bicycle', precision: 0.9, recall: 0.8, f1: 0.85, support: 20 },
    { name: 'motorcycle', precision: 0.8, recall: 0.9, f1: 0.85, support: 20 },
  ],
  confusionMatrix: [
    [16, 4],
    [2, 18],
  ],
  logLoss: 0.4,
  expectedCalibrationError: 0.05,
  calibrationBins: 10,
};

function wentLive(trainingId: string, liveAt: string, fields: Partial<ModelWentLive> = {}): ModelWentLive {
  return {
    trainingId,
    trainer: 'tfjs-cnn/3',
    modelUri: `s3://fake-bucket/models/${trainingId}/model.tar.gz`,
    validationAccuracy: 0.8,
    imageSide: 32,
    datasetDigest: 'd1',
    evaluation: {
      trainingId,
      datasetDigest: 'd1',
      testSplitDigest: 's1',
      evaluator: 'local',
      quality,
      durationSeconds: 1,
    },
    verdict: 'passed',
    threshold: 0.8,
    liveAt,
    how: 'deploy',
    runId: 'r1',
    ...fields,
  };
}

describe('model history', () => {
  it('folds going-live records into one entry per model, newest first, replaced at the next one, live from the deployment', () => {
    const entries = modelHistory(
      [
        wentLive('t-b', '2026-12-02T00:00:00.000Z'),
        wentLive('t-a', '2026-12-01T00:00:00.000Z'),
        wentLive('t-a', '2026-12-03T00:00:00.000Z', { how: 'rollback' }),
      ],
      't-a',
    );
    expect(entries.map((e) => [e.trainingId, e.live, e.timesLive, e.replacedAt ?? null])).to.deep.equal([
      ['t-a', true, 2, null],
      ['t-b', false, 1, '2026-12-03T00:00:00.000Z'],
    ]);
  });

  it('rollback hands the deployer the recorded model, evaluation and threshold, records it, and its summary says what went live and what left', async () => {
    const backend = fakeBackend({ deployment: fakeDeployment({ trainingId: 't-new', threshold: 0.9 }) });
    const requests: DeployRequest[] = [];
    backend.deployer.deploy = async (request) => {
      requests.push(request);
      return {
        deployed: true,
        preview: false,
        stackName: 'scones-workflow',
        trainingId: request.model.trainingId,
        deploymentDigest: 'x',
        changes: [],
        deployment: fakeDeployment({ trainingId: request.model.trainingId }),
        reused: false,
      };
    };
    const old = wentLive('t-old', '2026-12-01T00:00:00.000Z');
    await recordWentLive(backend.store, old);
    await recordWentLive(backend.store, wentLive('t-new', '2026-12-02T00:00:00.000Z', { threshold: 0.9 }));
    await backend.store.put('models/t-old/model.tar.gz', 'archive');
    const { reporter } = captureReporter();
    const result = await rollback(backend, reporter, { now: () => new Date('2026-12-03T00:00:00.000Z') });
    expect(requests).to.have.length(1);
    expect(requests[0]).to.deep.include({
      model: { trainingId: 't-old', modelUri: old.modelUri, validationAccuracy: 0.8 },
      evaluation: old.evaluation,
      imageSide: 32,
      threshold: 0.8,
      preview: false,
    });
    expect(result.markdown).to.include('went live: model `t-old`').and.include('left: model `t-new`');
    const records = await readWentLive(backend.store);
    expect(records.map((r) => [r.trainingId, r.how, r.replaced ?? null])).to.deep.equal([
      ['t-old', 'deploy', null],
      ['t-new', 'deploy', null],
      ['t-old', 'rollback', 't-new'],
    ]);
    expect(backend.store.objects.has(modelHistoryKey('2026-12-03T00:00:00.000Z', 't-old'))).to.equal(true);
  });

  it('rollback refuses an empty history, and a corrupt record names its object', async () => {
    const backend = fakeBackend();
    expect((await rejection(rollback(backend, captureReporter().reporter, {}))).message).to.match(
      /no earlier model in the model history/,
    );
    await backend.store.put('model-history/x.json', '{"trainingId":""}');
    expect((await rejection(readWentLive(backend.store))).message).to.match(
      /s3:\/\/fake-bucket\/model-history\/x\.json is not a model history record/,
    );
  });
});
