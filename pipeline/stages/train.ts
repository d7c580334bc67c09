import { createHash } from 'node:crypto';
import { SconesError } from '../errors.js';
import type { TrainRecord } from '../manifest.js';
import { stageCostLine, trainingUsage } from '../util/run-cost.js';
import { stableStringify } from '../util/stable-json.js';
import type { StageContext, StageResult } from './context.js';
import { requireStage, trainingDataset } from './upstream.js';

/** training id = digest(dataset digest, hyperparameters, trainer kind and version). */
export function trainingIdFor(
  datasetDigest: string,
  hyperparameters: object,
  trainer: { kind: string; version: string },
): string {
  const digest = createHash('sha256')
    .update(
      stableStringify({ datasetDigest, hyperparameters, trainer: `${trainer.kind}/${trainer.version}` }),
    )
    .digest('hex');
  return `t-${digest.slice(0, 20)}`;
}

/** Trains on the run's dataset, or reuses the completed training with the same id. */
export async function train(context: StageContext): Promise<StageResult<'train'>> {
  const { backend, config, reporter, manifest } = context;
  const dataset = requireStage(manifest, 'stage-data', 'train').outputs;
  const trainer = backend.trainer;
  const hyperparameters = trainer.hyperparameters(config, dataset);
  const trainingId = trainingIdFor(dataset.digest, hyperparameters, trainer);

  if (config.train.reuseLastModel) {
    const deployed = await backend.deployment();
    if (deployed === undefined)
      throw new SconesError('--reuse-last-model: nothing is deployed to reuse; train once without it');
    // The deployed model's own training record when the trainer still has it; else what the deployment recorded.
    const record = (await trainer.find(deployed.trainingId)) ?? {
      trainingId: deployed.trainingId,
      trainer: 'deployed',
      modelUri: deployed.modelUri,
      validationAccuracy: deployed.validationAccuracy,
      epochs: [],
      durationSeconds: 0,
      datasetDigest: '',
      hyperparameters: {},
    };
    reporter.info(`reusing the deployed model ${record.trainingId} (--reuse-last-model): not training`);
    return result({ ...record, datasetDigest: record.datasetDigest || dataset.digest }, true, context);
  }
  const existing = await trainer.find(trainingId);
  if (existing !== undefined) {
    reporter.info(
      `training ${trainingId} already completed (validation accuracy ${existing.validationAccuracy}): not retraining`,
    );
    return result({ ...existing, datasetDigest: dataset.digest }, true, context);
  }
  const record = await trainer.train(
    {
      trainingId,
      runId: context.runId,
      hyperparameters,
      dataset: trainingDataset(dataset),
    },
    reporter,
  );
  return result({ ...record, datasetDigest: dataset.digest }, false, context);
}

function result(record: TrainRecord, reused: boolean, context: StageContext): StageResult<'train'> {
  const { backend, config } = context;
  const cost = stageCostLine('Training', backend.name, {
    region: config.region,
    training: trainingUsage(record, config, reused),
  });
  const rows = record.epochs
    .map((e) => `| ${e.epoch} | ${e.loss} | ${e.accuracy} | ${e.validationAccuracy} | ${e.seconds} |`)
    .join('\n');
  return {
    inputsDigest: record.trainingId,
    reused,
    outputs: record,
    summary: `model ${record.trainingId}: validation accuracy ${record.validationAccuracy.toFixed(4)} (${
      reused ? 'reused' : `trained in ${record.durationSeconds}s`
    }). ${cost}`,
    markdown: [
      `### train${reused ? ' (reused)' : ''}`,
      '',
      `Model \`${record.trainingId}\` (${record.trainer}) at \`${record.modelUri}\`: **validation accuracy ${record.validationAccuracy}**`,
      '',
      cost,
      '',
      ...(rows === ''
        ? []
        : [
            '| epoch | loss | accuracy | validation accuracy | seconds |',
            '| --- | --- | --- | --- | --- |',
            rows,
          ]),
      '',
    ].join('\n'),
    stepOutputs: {
      'training-id': record.trainingId,
      'model-uri': record.modelUri,
      'validation-accuracy': String(record.validationAccuracy),
    },
  };
}
