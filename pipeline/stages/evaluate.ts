import { createHash } from 'node:crypto';
import {
  type EvaluationRecord,
  evaluationRecordSchema,
  type ScoredImage,
  scoredImageSchema,
} from '../contracts/evaluation.js';
import { evaluationKeys } from '../contracts/layout.js';
import { SconesError } from '../errors.js';
import type { ObjectStore } from '../ports.js';
import { automationLine, automationRecord } from '../util/automation.js';
import { classificationQuality } from '../util/classification-metrics.js';
import { parseJson } from '../util/json.js';
import { getJson, getText } from '../util/object-text.js';
import { evaluationUsage, stageCostLine } from '../util/run-cost.js';
import type { StageContext, StageResult } from './context.js';
import { requireStage, trainingDataset } from './upstream.js';

/** evaluation id = digest(training id, test split digest, evaluator kind): the same inputs reuse the result. */
export function evaluationIdFor(trainingId: string, testSplitDigest: string, evaluatorKind: string): string {
  const digest = createHash('sha256')
    .update(JSON.stringify([trainingId, testSplitDigest, evaluatorKind]))
    .digest('hex');
  return `e-${digest.slice(0, 20)}`;
}

/**
 * Scores the run's trained model once on the held-out test split (which neither training nor selection
 * read) and records accuracy with its interval, per-class figures, the confusion matrix, log loss and
 * calibration. The gate reads this, not the training's validation figure. It also scores the validation
 * split, chooses the threshold there and on any out-of-fold predictions of the training images
 * (deploy.targetAccuracy), and records that choice's held-out result.
 */
export async function evaluate(context: StageContext): Promise<StageResult<'evaluate'>> {
  const { backend, reporter, manifest } = context;
  const dataset = requireStage(manifest, 'stage-data', 'evaluate').outputs;
  const model = requireStage(manifest, 'train', 'evaluate').outputs;
  if (dataset.testSplitDigest === undefined)
    throw new SconesError(
      `dataset ${dataset.digest} was staged before test splits had a digest: run \`scones stage-data\` again`,
    );
  const evaluator = backend.evaluator;
  const evaluationId = evaluationIdFor(model.trainingId, dataset.testSplitDigest, evaluator.kind);
  const keys = evaluationKeys(evaluationId);
  const store = backend.store;

  const { targetAccuracy, threshold } = context.config.deploy;
  // The threshold is chosen again from the stored predictions every time: a new target needs no new scoring.
  const withAutomation = (
    record: EvaluationRecord,
    test: ScoredImage[],
    validation: ScoredImage[],
    outOfFold: ScoredImage[] | undefined,
  ) => ({
    ...record,
    automation: automationRecord({ validation, outOfFold, test, targetAccuracy, threshold }),
  });
  if ((await store.head(keys.record)) !== undefined) {
    const stored = await getJson(
      store,
      keys.record,
      evaluationRecordSchema,
      'a valid evaluation record',
      'delete it to evaluate again',
    );
    // Records from before validation predictions were scored are scored again (below).
    if ((await store.head(keys.validationPredictions)) !== undefined) {
      reporter.info(`evaluation ${evaluationId} already completed: not scoring again`);
      // The same test split, but validation and training images are those of the dataset it was made on.
      const sameDataset = stored.datasetDigest === dataset.digest;
      const reread = async (key: string, split: 'test' | 'validation' | 'train') =>
        checkedScored(await readScored(store, key), {
          count: split === 'test' || sameDataset ? dataset.totals[split] : undefined,
          classes: dataset.classes.length,
          what: `${store.uri(key)}`,
          fix: "delete the evaluation's folder to evaluate again",
        });
      const [test, validation, outOfFold] = await Promise.all([
        reread(keys.predictions, 'test'),
        reread(keys.validationPredictions, 'validation'),
        stored.outOfFoldPredictionsUri === undefined ? undefined : reread(keys.outOfFoldPredictions, 'train'),
      ]);
      return result(
        withAutomation(stored, test, validation, outOfFold),
        model.validationAccuracy,
        true,
        context,
      );
    }
  }

  const started = Date.now();
  const scored = await evaluator.evaluate(
    {
      runId: context.runId,
      evaluationId,
      model,
      dataset: trainingDataset(dataset),
    },
    reporter,
  );
  const checkedSplit = (rows: ScoredImage[], split: 'test' | 'validation') =>
    checkedScored(rows, {
      count: dataset.totals[split],
      classes: dataset.classes.length,
      what: `the evaluator's predictions of the ${split} images of dataset ${dataset.digest}`,
      fix: 'run evaluate again; if it repeats, the evaluator is at fault',
    });
  checkedSplit(scored.predictions, 'test');
  checkedSplit(scored.validation, 'validation');
  const quality = classificationQuality(
    scored.predictions,
    dataset.classes.map((c) => c.name),
    'test',
  );
  // A model reused from another dataset (train --reuse-last-model) scored that dataset's training images
  // out of fold: some may be this dataset's test images, so they choose nothing here.
  const fromOtherDataset = scored.outOfFold !== undefined && model.datasetDigest !== dataset.digest;
  if (fromOtherDataset)
    reporter.info(
      `model ${model.trainingId} was trained on dataset ${model.datasetDigest}, not ${dataset.digest}: its out-of-fold predictions are not used to choose the threshold`,
    );
  const outOfFold =
    fromOtherDataset || scored.outOfFold === undefined
      ? undefined
      : checkedScored(scored.outOfFold, {
          count: dataset.totals.train,
          classes: dataset.classes.length,
          what: `the out-of-fold predictions saved with model ${model.trainingId} (${model.modelUri})`,
          fix: "delete the model's folder to train it again",
        });
  if (outOfFold === undefined)
    reporter.info(
      'no out-of-fold predictions from the trainer: the threshold is chosen on the validation split alone',
    );
  const scoredFiles = new Map([
    [keys.predictions, scored.predictions],
    [keys.validationPredictions, scored.validation],
  ]);
  if (outOfFold !== undefined) scoredFiles.set(keys.outOfFoldPredictions, outOfFold);
  for (const [key, rows] of scoredFiles)
    await store.put(key, rows.map((p) => JSON.stringify(p)).join('\n'), { contentType: 'application/jsonl' });
  const record: EvaluationRecord = {
    trainingId: model.trainingId,
    datasetDigest: dataset.digest,
    testSplitDigest: dataset.testSplitDigest,
    evaluator: evaluator.kind,
    quality,
    predictionsUri: store.uri(keys.predictions),
    validationPredictionsUri: store.uri(keys.validationPredictions),
    ...(outOfFold === undefined ? {} : { outOfFoldPredictionsUri: store.uri(keys.outOfFoldPredictions) }),
    durationSeconds: Math.round((Date.now() - started) / 100) / 10,
    ...(scored.jobName === undefined ? {} : { jobName: scored.jobName }),
    ...(scored.billableSeconds === undefined ? {} : { billableSeconds: scored.billableSeconds }),
  };
  await store.put(keys.record, `${JSON.stringify(record, null, 2)}\n`, { contentType: 'application/json' });
  return result(
    withAutomation(record, scored.predictions, scored.validation, outOfFold),
    model.validationAccuracy,
    false,
    context,
  );
}

/** A stored predictions file, each line parsed; a damaged one names itself and the way out. */
async function readScored(store: ObjectStore, key: string): Promise<ScoredImage[]> {
  if ((await store.head(key)) === undefined)
    throw new SconesError(`${store.uri(key)} is missing: delete the evaluation's folder to evaluate again`);
  const text = await getText(store, key);
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line, index) =>
      parseJson(
        line,
        scoredImageSchema,
        `${store.uri(key)} line ${index + 1}`,
        'a scored image',
        "delete the evaluation's folder to evaluate again",
      ),
    );
}

/**
 * Predictions as the threshold and the figures need them: one per image of the split (when its size is
 * known) and one probability per class with a label among them; the schema holds each in [0, 1].
 */
function checkedScored(
  rows: ScoredImage[],
  expected: { count: number | undefined; classes: number; what: string; fix: string },
): ScoredImage[] {
  const { count, classes, what, fix } = expected;
  if (count !== undefined && rows.length !== count)
    throw new SconesError(`${what} hold ${rows.length} predictions for ${count} images: ${fix}`);
  const bad = rows.findIndex((r) => r.probabilities.length !== classes || r.label >= classes);
  if (bad >= 0)
    throw new SconesError(
      `${what}: prediction ${bad + 1} has ${rows[bad]?.probabilities.length} probabilities and label ${rows[bad]?.label} for ${classes} classes: ${fix}`,
    );
  return rows;
}

function result(
  record: EvaluationRecord,
  validationAccuracy: number,
  reused: boolean,
  { backend, config }: StageContext,
): StageResult<'evaluate'> {
  const { quality } = record;
  const cost = stageCostLine('Evaluation', backend.name, {
    region: config.region,
    evaluation: evaluationUsage(record, config, reused),
  });
  const interval = `95% interval ${quality.accuracyInterval.low.toFixed(3)}-${quality.accuracyInterval.high.toFixed(3)}`;
  const rows = quality.classes.map(
    (c) =>
      `| ${c.name} | ${c.precision.toFixed(3)} | ${c.recall.toFixed(3)} | ${c.f1.toFixed(3)} | ${c.support} |`,
  );
  const names = quality.classes.map((c) => c.name);
  return {
    inputsDigest: `${record.trainingId}/${record.testSplitDigest}/${record.evaluator}/${record.automation?.targetAccuracy}/${record.automation?.thresholdSource === 'auto' ? 'auto' : record.automation?.threshold}`,
    reused,
    outputs: record,
    summary: `model ${record.trainingId}: test accuracy ${quality.accuracy.toFixed(4)} (${interval}) on ${quality.count} held-out images; validation accuracy ${validationAccuracy.toFixed(4)} was used for selection only${record.automation === undefined ? '' : `; ${automationLine(record.automation)}`}`,
    markdown: [
      `### evaluate${reused ? ' (reused)' : ''}`,
      '',
      `Model \`${record.trainingId}\` on the test split \`${record.testSplitDigest}\` of dataset \`${record.datasetDigest}\`: ` +
        `**test accuracy ${quality.accuracy.toFixed(4)}** (${interval}, ${quality.count} images), log loss ${quality.logLoss.toFixed(4)}, ` +
        `expected calibration error ${quality.expectedCalibrationError.toFixed(4)}`,
      '',
      ...(record.automation === undefined ? [] : [`Automation: ${automationLine(record.automation)}.`, '']),
      cost,
      '',
      '| class | precision | recall | F1 | support |',
      '| --- | --- | --- | --- | --- |',
      ...rows,
      '',
      `| actual \\ predicted | ${names.join(' | ')} |`,
      `| --- | ${names.map(() => '---').join(' | ')} |`,
      ...quality.confusionMatrix.map((row, i) => `| ${names[i]} | ${row.join(' | ')} |`),
      '',
    ].join('\n'),
    stepOutputs: {
      'test-accuracy': String(quality.accuracy),
      'test-split-digest': record.testSplitDigest,
      ...(record.automation === undefined
        ? {}
        : {
            threshold: String(record.automation.threshold),
            'automation-rate': String(record.automation.heldOut.automationRate),
          }),
    },
  };
}
