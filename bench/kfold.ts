/**
 * Model variants judged by k-fold cross-validation on the 1000 training images only (the 200 test images
 * are never read): 4 stratified folds; for each fold, the other three folds are the training part, from
 * which the validation split is carved exactly as stage-data carves it (carveValidation, 10%), the local
 * trainer trains on the rest with selection on that validation split, and the fold's 250 held-out
 * images are scored once per variant. Each variant's figures: mean and per-fold held-out accuracy, the
 * automation rate at the threshold chosen on the fold's validation predictions (deploy.targetAccuracy
 * 0.97, chooseThreshold) and at the one chosen on them with the training part's out-of-fold predictions
 * (as evaluate chooses for the local trainer), each with its kept accuracy, the largest automation rate whose kept
 * held-out predictions reach 97% (pooled over folds; an upper bound, since it is read on held-out
 * predictions), and the training's wall and CPU seconds.
 *
 * Trained variants (one training per fold): the arguments, default the first of TRAINED (the default
 * model). Each is compared, image by image, with "baseline" (cnn-v4, the model features-v1 replaced) on
 * the same folds, and features-v2 also with features-v1. KFOLD_RAW names the raw file a run writes
 * (default kfold-predictions.json); KFOLD_SEED deals other folds for a confirmation run.
 *
 * `nice -n 10 node --import tsx bench/kfold.ts [variant...] [--smoke]` (--smoke: 32 synthetic
 * training images, one epoch, one fold, nothing recorded). Raw per-fold predictions go to
 * bench/results/kfold-predictions.json after every training, so an interrupted run keeps what it
 * finished and a later run of other variants adds to it.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { LocalEvaluator } from '../pipeline/backends/local/evaluator.js';
import { LocalTrainer, localHyperparametersFor } from '../pipeline/backends/local/trainer.js';
import { configSchema } from '../pipeline/config.js';
import { createReporter } from '../pipeline/console-reporter.js';
import { datasetImagesPrefix, datasetListKey, datasetPrefix } from '../pipeline/contracts/layout.js';
import { carveValidation, datasetDigest, type SourceDataset } from '../pipeline/data/dataset.js';
import type { DatasetRecord } from '../pipeline/manifest.js';
import { automationAt, chooseThreshold } from '../pipeline/util/automation.js';
import type { LabelledPrediction } from '../pipeline/util/classification-metrics.js';
import { formatLst, parseLst } from '../pipeline/util/lst.js';
import { stratifiedFolds } from '../pipeline/util/random.js';
import { MemoryObjectStore } from '../test/helpers/fake-backend.js';
import { ARGS, ROOT, record, requireSharedImages, SMOKE } from './common.js';

/**
 * 4 folds: 250 held-out images per fold, a training part of 750 (674 trained on, 76 validation after
 * the carve: three quarters of a real run's 900/100). 5 folds would train on 800 but cost a fifth more
 * trainings per variant; the figures of cnn-v4 and its variants, on these folds, stay comparable.
 */
const K = 4;
const DEFAULT_FOLD_SEED = 20261203;
// KFOLD_SEED deals other folds (a confirmation run): its variants are named "folds <seed>: <variant>" and
// compared with the baseline on the same folds.
const FOLD_SEED = Number(process.env.KFOLD_SEED ?? DEFAULT_FOLD_SEED);
if (!Number.isSafeInteger(FOLD_SEED) || FOLD_SEED < 0) {
  process.stderr.write(`kfold: KFOLD_SEED must be a non-negative integer, not ${process.env.KFOLD_SEED}\n`);
  process.exit(2);
}
const FOLDS_TAG = FOLD_SEED === DEFAULT_FOLD_SEED ? '' : `folds ${FOLD_SEED}: `;
const TARGET_ACCURACY = 0.97;
/** A variant: hyperparameters that differ from the defaults. */
type KfoldExtra = { l2?: number };
/**
 * features-v2 is the default local model since 2026-12-04: features-v1 (a softmax head on a pretrained
 * backbone's features at 224 px, backbone.ts) with a second scale, 128 px, learned alone and averaged in
 * the head (scaleViews). "baseline" and the other variants named in the results file ran on earlier code:
 * cnn-v4, the CNN features-v1 replaced, and its variants at commits 4208fc7 (cutout, weight decay, SGD,
 * mixup) and bf558ac (the rest, and the readings from snapshots); features-v1 and its variants at 9728ca4;
 * "features-v2, averaged heads" at 6d4de2d; "features-v3" (a third side, 160 px) at a54ea3b with BACKBONE_SIDES changed.
 * docs/development.md has their figures.
 */
const TRAINED: Record<string, KfoldExtra> = {
  'features-v2': {},
};
// --report: no training, only the summary rewritten from the raw files.
const REPORT = ARGS.includes('--report');
const named = ARGS.filter((a) => a !== '--report');
const requested = REPORT ? [] : named.length > 0 ? named : Object.keys(TRAINED).slice(0, 1);
for (const name of requested)
  if (TRAINED[name] === undefined) {
    process.stderr.write(`kfold: unknown variant ${name}: one of ${Object.keys(TRAINED).join(', ')}\n`);
    process.exit(2);
  }

type Row = [label: number, ...probabilities: number[]];
interface FoldResult {
  validation: Row[];
  /** The training part's out-of-fold predictions (runs from 2026-12-04 03:00 UTC on). */
  outOfFold?: Row[];
  heldOut: Row[];
  bestEpoch: number;
  epochsRun: number;
  trainSeconds: number;
  trainCpuSeconds: number;
  loadAverage1m: number;
}
type Raw = Record<string, Record<string, FoldResult>>;

const images = requireSharedImages('kfold');
// The training list only: test.lst and test/ are never opened.
const entries = parseLst(readFileSync(join(images, 'train.lst'), 'utf8'), 'train.lst');
const pool = entries.map((entry) => {
  const png = readFileSync(join(images, 'train', entry.path));
  const { width, height } = PNG.sync.read(png);
  return { name: entry.path, label: entry.label, png, width, height };
});
const labels = [...new Set(pool.map((i) => i.label))].sort((a, b) => a - b);
const classes = labels.map((label) => ({ label, name: `class-${label}` }));

/** Stratified folds of the images in name order (the order every recorded run dealt). */
const byName = [...pool].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
const foldOfIndex = stratifiedFolds(
  byName.map((image) => image.label),
  K,
  FOLD_SEED,
);
const foldOf = new Map(byName.map((image, i) => [image.name, foldOfIndex[i]]));

const config = configSchema.parse({});
const RESULTS = join(ROOT, 'bench', 'results');
// KFOLD_RAW names another raw file, so two runs of different variants can share the machine's cores
// without overwriting each other's folds; the summary reads every kfold-predictions*.json.
const rawFile = join(RESULTS, process.env.KFOLD_RAW ?? 'kfold-predictions.json');
const readRaw = (file: string): Raw =>
  !SMOKE && existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Raw) : {};
const raw: Raw = readRaw(rawFile);
const reporter = createReporter({ env: { CI: 'true' }, stream: process.stderr, plainIntervalSeconds: 60 });
const folds = SMOKE ? [0] : Array.from({ length: K }, (_, i) => i);

for (const variant of requested) {
  for (const fold of folds) {
    const name = `${FOLDS_TAG}${variant}`;
    raw[name] = { ...raw[name], [`fold-${fold + 1}`]: await trainFold(fold, TRAINED[variant] ?? {}) };
    if (!SMOKE) writeFileSync(rawFile, `${JSON.stringify(raw)}\n`);
    recordSummary();
  }
}
if (REPORT) recordSummary();

/** Stages one fold in memory as stage-data would, trains on it, and scores the held-out part. */
async function trainFold(fold: number, extra: KfoldExtra): Promise<FoldResult> {
  const source: SourceDataset = {
    source: `kfold:${fold + 1}/${K}`,
    classes,
    images: pool.map((image) => ({ ...image, split: foldOf.get(image.name) === fold ? 'test' : 'train' })),
  };
  const staged = carveValidation(source, config.data.validationFraction);
  const digest = datasetDigest(staged);
  const prefix = datasetPrefix(digest);
  const store = new MemoryObjectStore();
  for (const split of ['train', 'validation', 'test'] as const) {
    const inSplit = staged.images.filter((image) => image.split === split);
    await store.put(
      datasetListKey(prefix, split),
      formatLst(inSplit.map((image, index) => ({ index, label: image.label, path: image.name }))),
    );
    for (const image of inSplit)
      await store.put(`${datasetImagesPrefix(prefix, split)}${image.name}`, image.png);
  }
  const count = (split: string) => staged.images.filter((i) => i.split === split).length;
  const side = pool[0]?.height ?? 32;
  const dataset: DatasetRecord = {
    digest,
    source: source.source,
    uri: store.uri(prefix),
    prefix,
    classes,
    counts: { train: {}, validation: {}, test: {} },
    totals: { train: count('train'), validation: count('validation'), test: count('test') },
    validationFraction: config.data.validationFraction,
    testSplitDigest: digest,
    imageShape: [3, side, side],
  };
  const trainingDataset = {
    digest,
    prefix,
    classes: classes.map((c) => c.name),
    imageShape: dataset.imageShape,
    counts: dataset.totals,
  };
  const trainer = new LocalTrainer(store, Date.now);
  const hyperparameters = {
    ...localHyperparametersFor(config, dataset),
    ...(SMOKE ? { epochs: 1 } : {}),
    ...extra,
  };
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  const model = await trainer.train(
    { trainingId: `kfold-${fold + 1}`, dataset: trainingDataset, hyperparameters, runId: 'kfold' },
    reporter,
  );
  const cpu = process.cpuUsage(cpuBefore);
  if (model.bestEpoch === undefined) throw new Error('the trainer recorded no best epoch');
  // The production path: the evaluator scores the saved model (flip averaging included) on validation
  // and on the fold's held-out part, staged as the test split.
  const evaluated = await new LocalEvaluator(store).evaluate(
    { runId: 'kfold', evaluationId: `kfold-${fold + 1}`, model, dataset: trainingDataset },
    reporter,
  );
  const rows = (scored: { label: number; probabilities: readonly number[] }[]): Row[] =>
    scored.map((s) => [s.label, ...s.probabilities.map((p) => round(p, 5))]);
  return {
    validation: rows(evaluated.validation),
    ...(evaluated.outOfFold === undefined ? {} : { outOfFold: rows(evaluated.outOfFold) }),
    heldOut: rows(evaluated.predictions),
    bestEpoch: model.bestEpoch,
    epochsRun: model.epochs.length,
    trainSeconds: round((performance.now() - started) / 1000, 1),
    trainCpuSeconds: round((cpu.user + cpu.system) / 1e6, 1),
    loadAverage1m: round(loadavg()[0] ?? 0, 2),
  };
}

function recordSummary(): void {
  const all: Raw = {};
  const files = SMOKE ? [] : readdirSync(RESULTS).filter((f) => /^kfold-predictions.*\.json$/.test(f));
  for (const source of [...files.map((f) => readRaw(join(RESULTS, f))), raw])
    for (const [name, byFold] of Object.entries(source)) all[name] = { ...all[name], ...byFold };
  const variants = Object.entries(all).map(([name, byFold]) => {
    const done = Object.entries(byFold).sort(([a], [b]) => a.localeCompare(b));
    const predictions = (rows: Row[]): LabelledPrediction[] =>
      rows.map(([label, ...probabilities]) => ({ label, probabilities }));
    const perFold = done.map(([fold, r]) => {
      const heldOut = predictions(r.heldOut);
      const { chosenThreshold } = chooseThreshold(predictions(r.validation), TARGET_ACCURACY);
      const at = automationAt(heldOut, chosenThreshold, 'test');
      // As evaluate chooses when the trainer cross-fitted: on the validation and out-of-fold predictions.
      const pooledChoice =
        r.outOfFold === undefined
          ? undefined
          : chooseThreshold(predictions([...r.validation, ...r.outOfFold]), TARGET_ACCURACY);
      const pooledAt =
        pooledChoice === undefined ? undefined : automationAt(heldOut, pooledChoice.chosenThreshold, 'test');
      return {
        fold,
        accuracy: round(accuracy(heldOut)),
        count: heldOut.length,
        chosenThreshold: round(chosenThreshold),
        automationRate: round(at.automationRate),
        keptAccuracy: round(at.keptAccuracy),
        kept: at.kept,
        keptCorrect: Math.round(at.keptAccuracy * at.kept),
        ...(pooledChoice === undefined || pooledAt === undefined
          ? {}
          : {
              withOutOfFold: {
                chosenThreshold: round(pooledChoice.chosenThreshold),
                basis: pooledChoice.basis,
                automationRate: round(pooledAt.automationRate),
                keptAccuracy: round(pooledAt.keptAccuracy),
                kept: pooledAt.kept,
                keptCorrect: Math.round(pooledAt.keptAccuracy * pooledAt.kept),
              },
            }),
        bestEpoch: r.bestEpoch,
        epochsRun: r.epochsRun,
        trainSeconds: r.trainSeconds,
        trainCpuSeconds: r.trainCpuSeconds,
        loadAverage1m: r.loadAverage1m,
      };
    });
    const pooled = done.flatMap(([, r]) => predictions(r.heldOut));
    const kept = perFold.reduce((a, f) => a + f.kept, 0);
    // Every variant scores the same held-out images in the same order: the images it gets right that a
    // reference (cnn-v4's baseline, or features-v1) gets wrong, and the reverse, say whether a difference
    // in accuracy is more than chance.
    const versus = (reference: string) => {
      const referenceName = `${/^folds \d+: /.exec(name)?.[0] ?? ''}${reference}`;
      if (name === referenceName || all[referenceName] === undefined) return undefined;
      const paired = { better: 0, worse: 0 };
      for (const [fold, r] of done)
        r.heldOut.forEach(([label, ...probabilities], i) => {
          const referenceRow = all[referenceName]?.[fold]?.heldOut[i];
          if (referenceRow === undefined) return;
          const [, ...referenceProbabilities] = referenceRow;
          const right = argmax(probabilities) === label;
          const referenceRight = argmax(referenceProbabilities) === label;
          if (right && !referenceRight) paired.better++;
          if (!right && referenceRight) paired.worse++;
        });
      return { ...paired, signTestP: round(signTestP(paired.better, paired.worse)) };
    };
    return {
      variant: name,
      folds: perFold.length,
      versusBaseline: versus('baseline'),
      ...(name.includes('features-v2') ? { versusFeaturesV1: versus('features-v1') } : {}),
      ...(name.includes('averaged heads') ? { versusFeaturesV2: versus('features-v2') } : {}),
      meanAccuracy: round(avg(perFold.map((f) => f.accuracy))),
      perFoldAccuracy: perFold.map((f) => f.accuracy),
      automationAtValidationThreshold: {
        rate: round(kept / Math.max(1, pooled.length)),
        keptAccuracy: round(perFold.reduce((a, f) => a + f.keptCorrect, 0) / Math.max(1, kept)),
        perFold: perFold.map((f) => [f.chosenThreshold, f.automationRate, f.keptAccuracy]),
      },
      ...automationWithOutOfFold(perFold, pooled.length),
      bestAutomationAtTarget: bestAutomation(pooled, TARGET_ACCURACY),
      meanTrainSeconds: round(avg(perFold.map((f) => f.trainSeconds)), 1),
      meanTrainCpuSeconds: round(avg(perFold.map((f) => f.trainCpuSeconds)), 1),
      perFold,
    };
  });
  record('kfold', {
    // The summary reads every raw file, so it names every run that wrote one (docs/development.md).
    command:
      '2026-12-03 16:17-17:17 UTC (Node 20): nice -n 10 node --import tsx bench/kfold.ts baseline ' +
      'label-smoothing-0.1, beside it KFOLD_RAW=kfold-predictions-color.json nice -n 10 node --import tsx ' +
      'bench/kfold.ts color-jitter-0.2; 2026-12-03 18:55-19:50 UTC (Node 24.22.3), one at a time: ' +
      'KFOLD_RAW=kfold-predictions-<name>.json node --import tsx bench/kfold.ts <variant> for cutout-8, ' +
      'baseline (re-run, raw file kfold-predictions.json), weight-decay-0.5, fourth-block-128, ' +
      'sgd-nesterov-0.05+weight-decay-5e-4, narrower-45-epochs, narrower-45-epochs+mixup-0.4 (commit 4208fc7); ' +
      '19:50-20:15 UTC KFOLD_SEED=20261204 KFOLD_RAW=kfold-predictions-confirm.json node --import tsx ' +
      'bench/kfold.ts baseline narrower-45-epochs; 21:25-21:45 UTC features-v1 (pretrained features): ' +
      'node --import tsx bench/kfold.ts <variant>, the four "features-v1 constant learning rate, l2 <x>" ' +
      'before the head had its cosine decay (tf.train.adam in place of DecayingAdam), then "features-v1, l2 0.1" ' +
      'and features-v1; 22:05-22:09 UTC KFOLD_SEED=20261204 KFOLD_RAW=kfold-predictions-confirm.json node ' +
      '--import tsx bench/kfold.ts features-v1; 2026-12-03 23:49-00:01 UTC at commit 9728ca4 node --import tsx ' +
      'bench/kfold.ts "features-v1, last epoch" "features-v1, last of 60 epochs"; 2026-12-04 00:22-00:55 UTC, ' +
      'one at a time: node --import tsx bench/kfold.ts features-v2, then KFOLD_SEED=20261205 ' +
      'KFOLD_RAW=kfold-predictions-confirm2.json and KFOLD_SEED=20261204 KFOLD_RAW=kfold-predictions-confirm.json ' +
      'with features-v2; 2026-12-04 02:34-02:51 UTC, one at a time (the working tree that became commit 0d5e835, out-of-fold predictions): the same ' +
      'three features-v2 runs again; 03:12-03:17 UTC node --import tsx bench/kfold.ts "features-v2, averaged heads"; ' +
      'then node --import tsx bench/kfold.ts --report; 2026-12-04 16:47-16:53 UTC node --import tsx bench/kfold.ts features-v3 ' +
      'in a worktree of commit a54ea3b with BACKBONE_SIDES [224, 128, 160] (not adopted; its other dealings not run); ' +
      '2026-12-04 17:45 UTC node --import tsx bench/kfold.ts --report at commit 1d158b8 (the one-sided certificate; no training)',
    protocol:
      `${K} stratified folds of the ${pool.length} training images (seed ${DEFAULT_FOLD_SEED}; a variant named "folds <seed>: ..." ran on folds dealt with that seed); per fold the validation ` +
      `split carved from the training part by carveValidation (fraction ${config.data.validationFraction}), ` +
      `train.seed ${config.train.seed}, defaults otherwise; the held-out fold scored once per variant. ` +
      `automationAtValidationThreshold: threshold chosen on the fold's validation predictions for target ${TARGET_ACCURACY}, ` +
      "pooled over folds; automationAtValidationAndOutOfFoldThreshold: chosen on those and the training part's out-of-fold " +
      'predictions (as evaluate does for the local trainer), by chooseThreshold as it stands: the one-sided 95% Wilson bound ' +
      'since commit 1d158b8, the two-sided one in the figures docs/development.md quotes before it; bestAutomationAtTarget: the largest share of the pooled held-out ' +
      `predictions whose kept accuracy reaches ${TARGET_ACCURACY} (read on held-out predictions: an upper bound)`,
    variants,
  });
}

/**
 * The held-out automation at the thresholds chosen on each fold's validation and out-of-fold predictions
 * (as evaluate chooses for the local trainer), pooled over folds; absent unless every fold has them.
 */
function automationWithOutOfFold(
  perFold: {
    withOutOfFold?: {
      chosenThreshold: number;
      basis: string;
      automationRate: number;
      keptAccuracy: number;
      kept: number;
      keptCorrect: number;
    };
  }[],
  count: number,
) {
  const folds = perFold.flatMap((f) => (f.withOutOfFold === undefined ? [] : [f.withOutOfFold]));
  if (folds.length === 0 || folds.length < perFold.length) return {};
  const kept = folds.reduce((a, f) => a + f.kept, 0);
  return {
    automationAtValidationAndOutOfFoldThreshold: {
      rate: round(kept / Math.max(1, count)),
      keptAccuracy: round(folds.reduce((a, f) => a + f.keptCorrect, 0) / Math.max(1, kept)),
      perFold: folds.map((f) => [f.chosenThreshold, f.automationRate, f.keptAccuracy, f.basis]),
    },
  };
}

/** The largest share kept (top confidence >= a threshold) whose kept predictions are at least `target` accurate. */
function bestAutomation(predictions: LabelledPrediction[], target: number) {
  const rows = predictions
    .map((p) => {
      const top = p.probabilities.indexOf(Math.max(...p.probabilities));
      return { confidence: p.probabilities[top] ?? 0, correct: top === p.label };
    })
    .sort((a, b) => b.confidence - a.confidence);
  let correct = 0;
  let best = { rate: 0, keptAccuracy: 0, threshold: 1 };
  rows.forEach((row, i) => {
    if (row.correct) correct++;
    if (rows[i + 1]?.confidence === row.confidence) return;
    if (correct / (i + 1) >= target)
      best = {
        rate: round((i + 1) / rows.length),
        keptAccuracy: round(correct / (i + 1)),
        threshold: round(row.confidence),
      };
  });
  return best;
}

/** Two-sided sign test (exact binomial, p = 1/2) of `a` against `b` discordant pairs. */
function signTestP(a: number, b: number): number {
  const n = a + b;
  if (n === 0) return 1;
  let tail = 0;
  let term = 0.5 ** n; // C(n, 0) / 2^n
  for (let k = 0; k <= Math.min(a, b); k++) {
    tail += term;
    term = (term * (n - k)) / (k + 1);
  }
  return Math.min(1, 2 * tail);
}

function argmax(values: readonly number[]): number {
  return values.indexOf(Math.max(...values));
}

function accuracy(predictions: LabelledPrediction[]): number {
  const correct = predictions.filter(
    (p) => p.probabilities.indexOf(Math.max(...p.probabilities)) === p.label,
  ).length;
  return correct / Math.max(1, predictions.length);
}

function avg(values: number[]): number {
  return values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length;
}

function round(value: number, digits = 4): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
