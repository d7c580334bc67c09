import type { LayersModel } from '@tensorflow/tfjs-layers';
import { PNG } from 'pngjs';
import { z } from 'zod';
import type { Config } from '../../config.js';
import type { Reporter } from '../../console-reporter.js';
import {
  type DatasetSplit,
  datasetImagesPrefix,
  datasetListKey,
  modelPrefix,
} from '../../contracts/layout.js';
import {
  type ValidationPredictions,
  validationPredictionsSchema,
} from '../../contracts/validation-predictions.js';
import { SconesError } from '../../errors.js';
import {
  type DatasetRecord,
  type EpochMetrics,
  type TrainRecord,
  trainRecordSchema,
} from '../../manifest.js';
import type { ObjectStore, Trainer, TrainRequest } from '../../ports.js';
import { mapConcurrent } from '../../util/concurrency.js';
import { parseLst } from '../../util/lst.js';
import { getJson, getText } from '../../util/object-text.js';
import { seededRandom, shuffled, stratifiedFolds } from '../../util/random.js';
import { keyOfUri } from '../../util/s3-uri.js';
import { BACKBONE_SIDES, backboneFeatures } from './backbone.js';
import {
  buildHead,
  type Features,
  featureMatrix,
  headProbabilities,
  imageToInput,
  LOCAL_MODEL_VERSION,
  MODEL_FILES,
  serializeModel,
} from './model.js';
import { initTensorflow, tf } from './tf.js';

/**
 * The head's default L2 penalty, cross-validated for features-v1 (docs/development.md) and kept for
 * features-v2, where scaleViews halves each scale's weights and so quarters their penalty.
 */
const HEAD_L2 = 0.01;

/**
 * Folds of the training images cross-fitted for out-of-fold predictions: 4 heads, each trained as the
 * model is (same selection on the validation split) on three quarters of the images, score the quarter
 * it never saw. With the validation split's, about ten times the predictions to choose the threshold on.
 */
const CROSS_FIT_FOLDS = 4;

const localHyperparameters = z.object({
  epochs: z.number().int().positive(),
  batchSize: z.number().int().positive(),
  learningRate: z.number().positive(),
  patience: z.number().int().positive(),
  seed: z.number().int(),
  /** Train on each image's mirror image too (the only augmentation a frozen backbone's features allow cheaply). */
  augment: z.boolean(),
  side: z.number().int().positive(),
  /**
   * The head's L2 penalty (Keras's l2: this times the sum of squared weights, on standardized
   * features); not a configuration key: bench/kfold.ts varies it.
   */
  l2: z.number().min(0),
  /** Equal blocks of features, one per backbone side, each learned alone (scaleViews). */
  scales: z.number().int().positive(),
  /** Heads cross-fitted for out-of-fold predictions of the training images (0: none): CROSS_FIT_FOLDS. */
  crossFitFolds: z
    .number()
    .int()
    .min(0)
    .refine((folds) => folds !== 1, 'cross-fitting needs 0 or at least 2 folds'),
});
export type LocalHyperparameters = z.infer<typeof localHyperparameters>;

/** The hyperparameters the local trainer uses, from configuration and the dataset. */
export function localHyperparametersFor(config: Config, dataset: DatasetRecord): LocalHyperparameters {
  const { epochs, batchSize, learningRate, patience, seed, augment } = config.train;
  return {
    epochs,
    batchSize,
    learningRate,
    patience,
    seed,
    augment,
    side: dataset.imageShape[1],
    l2: HEAD_L2,
    scales: BACKBONE_SIDES.length,
    crossFitFolds: CROSS_FIT_FOLDS,
  };
}

/**
 * Trains the local model of model.ts with TensorFlow.js on this machine: reads the staged images back
 * from the object store, takes the pretrained backbone's features of each once, trains the softmax head
 * on them, and saves the best epoch's head under `models/<training-id>/`. metrics.json is written last:
 * a model without it was never completed.
 */
export class LocalTrainer implements Trainer {
  readonly kind = 'tfjs-local';
  readonly version = LOCAL_MODEL_VERSION;

  constructor(
    private readonly store: ObjectStore,
    private readonly now: () => number = Date.now,
  ) {}

  hyperparameters(config: Config, dataset: DatasetRecord) {
    return localHyperparametersFor(config, dataset);
  }

  driftBaseline(model: TrainRecord): Promise<ValidationPredictions> {
    return readValidationPredictions(this.store, keyOfUri(model.modelUri));
  }

  async find(trainingId: string): Promise<TrainRecord | undefined> {
    const key = `${modelPrefix(trainingId)}${MODEL_FILES.metrics}`;
    if ((await this.store.head(key)) === undefined) return undefined;
    const parsed = trainRecordSchema.safeParse(JSON.parse(await getText(this.store, key)));
    if (!parsed.success)
      throw new SconesError(`${this.store.uri(key)} is not a valid training record: delete it to retrain`);
    return parsed.data;
  }

  async train(request: TrainRequest, reporter: Reporter): Promise<TrainRecord> {
    const hp = localHyperparameters.parse(request.hyperparameters);
    const started = this.now();
    await initTensorflow();
    const train = await readSplit(this.store, request.dataset.prefix, 'train', hp.side, reporter);
    // Selection (best epoch, early stopping) sees the validation split only; the test split is never read here.
    const validationSplit = await readSplit(
      this.store,
      request.dataset.prefix,
      'validation',
      hp.side,
      reporter,
    );
    reporter.info(
      `training ${LOCAL_MODEL_VERSION} on ${train.inputs.length} images (${validationSplit.inputs.length} for validation): ` +
        `the pretrained backbone's features of each image${hp.augment ? ' and its mirror image' : ''}, then a softmax head` +
        (hp.crossFitFolds > 0 ? ` (and ${hp.crossFitFolds} cross-fitted for out-of-fold predictions)` : '') +
        ', ' +
        `${hp.epochs} epochs max, batch ${hp.batchSize}, seed ${hp.seed}`,
    );
    const progress = reporter.progress(
      'backbone features',
      train.inputs.length + validationSplit.inputs.length,
      'images',
    );
    // Training reads the mirror images only to augment; validation always, for flip averaging.
    const trainFeatures = await extractFeatures(train.inputs, hp.side, hp.augment, progress);
    const validationFeatures = await extractFeatures(validationSplit.inputs, hp.side, true, progress);
    progress.done();
    const trainSet = { features: trainFeatures, labels: train.labels };
    const validationSet = { features: validationFeatures, labels: validationSplit.labels };
    const classes = request.dataset.classes.length;
    const head = await trainHead(trainSet, validationSet, hp, classes, reporter, this.now);
    try {
      const outOfFold = await outOfFoldProbabilities(
        trainSet,
        validationSet,
        hp,
        classes,
        reporter,
        this.now,
      );
      const record: TrainRecord = {
        trainingId: request.trainingId,
        trainer: `${this.kind}/${this.version}`,
        modelUri: this.store.uri(modelPrefix(request.trainingId)),
        validationAccuracy: head.best.accuracy,
        bestEpoch: head.best.epoch,
        epochs: head.epochs,
        durationSeconds: round((this.now() - started) / 1000, 1),
        datasetDigest: request.dataset.digest,
        hyperparameters: hp,
      };
      const rounded = (probabilities: number[][]) => probabilities.map((p) => p.map((v) => round(v, 6)));
      await this.save(
        record,
        head.model,
        {
          classes: request.dataset.classes,
          labels: validationSplit.labels,
          probabilities: rounded(headProbabilities(head.model, validationFeatures)),
        },
        outOfFold === undefined
          ? undefined
          : {
              classes: request.dataset.classes,
              labels: train.labels,
              probabilities: rounded(outOfFold),
              paths: train.paths,
            },
      );
      return record;
    } finally {
      head.model.dispose();
    }
  }

  /**
   * Writes the model, its validation predictions (the drift baseline), the out-of-fold predictions and,
   * last, its record (what `find` reads).
   */
  private async save(
    record: TrainRecord,
    model: LayersModel,
    predictions: ValidationPredictions,
    outOfFold: ValidationPredictions | undefined,
  ) {
    const saved = await serializeModel(model);
    const prefix = modelPrefix(record.trainingId);
    const json = { contentType: 'application/json' };
    await this.store.put(`${prefix}${MODEL_FILES.modelJson}`, saved.modelJson, json);
    await this.store.put(`${prefix}${MODEL_FILES.weights}`, saved.weights, {
      contentType: 'application/octet-stream',
    });
    await this.store.put(`${prefix}${MODEL_FILES.validationPredictions}`, JSON.stringify(predictions), json);
    if (outOfFold !== undefined)
      await this.store.put(`${prefix}${MODEL_FILES.outOfFoldPredictions}`, JSON.stringify(outOfFold), json);
    await this.store.put(`${prefix}${MODEL_FILES.metrics}`, `${JSON.stringify(record, null, 2)}\n`, json);
  }
}

/**
 * The backbone's features of each input, and of its mirror image when `mirrored`, in chunks with
 * progress; yields between chunks so a signal is heard.
 */
async function extractFeatures(
  inputs: readonly Float32Array[],
  side: number,
  mirrored: boolean,
  progress: { tick(count?: number): void },
): Promise<Features> {
  const features: Features = { plain: [], mirrored: [] };
  const chunk = 64;
  for (let start = 0; start < inputs.length; start += chunk) {
    const part = inputs.slice(start, start + chunk);
    features.plain.push(...backboneFeatures(part, side, false));
    if (mirrored) features.mirrored.push(...backboneFeatures(part, side, true));
    progress.tick(part.length);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return features;
}

/** The backbone's features of a split's images, with their labels. */
interface LabelledFeatures {
  features: Features;
  labels: number[];
}

/**
 * Trains the softmax head with Adam on standardized features (each view of an image one example when
 * augmenting, each of its scales another: scaleViews), keeps the epoch with the best validation accuracy
 * (ties: lower loss), stops early, and folds the standardization into the head's weights, so the saved
 * head reads the backbone's features as they come. An epoch's training loss and accuracy are those of the
 * one-scale rows; validation reads whole rows, as the saved head will.
 */
export async function trainHead(
  train: LabelledFeatures,
  validation: LabelledFeatures,
  hp: LocalHyperparameters,
  classes: number,
  reporter: Reporter,
  now: () => number = Date.now,
  label = 'train head',
): Promise<{ model: LayersModel; best: { accuracy: number; epoch: number }; epochs: EpochMetrics[] }> {
  const rows = hp.augment ? [...train.features.plain, ...train.features.mirrored] : train.features.plain;
  const viewLabels = hp.augment ? [...train.labels, ...train.labels] : train.labels;
  const rowLabels = viewLabels.flatMap((label) => Array<number>(hp.scales).fill(label));
  const width = rows[0]?.length ?? 0;
  if (width === 0)
    throw new SconesError('the training split has no images: stage a dataset with training images');
  if (validation.labels.length === 0)
    throw new SconesError(
      'the validation split has no images: stage the dataset with data.validationFraction above 0',
    );
  if (classes < 2) throw new SconesError(`the dataset has ${classes} class: a classifier needs at least 2`);
  const { mean, scale } = standardization(rows);
  const standardize = (features: Features): Features => ({
    plain: features.plain.map((row) => standardized(row, mean, scale)),
    mirrored: features.mirrored.map((row) => standardized(row, mean, scale)),
  });
  const xs = rows.flatMap((row) => scaleViews(standardized(row, mean, scale), hp.scales));
  const validationFeatures = standardize(validation.features);
  const model = buildHead({ features: width, classes, seed: hp.seed, l2: hp.l2 });
  // tf.train.adam's defaults: beta1 0.9, beta2 0.999.
  const optimizer = new DecayingAdam(hp.learningRate, 0.9, 0.999);
  model.compile({ optimizer, loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  const random = seededRandom(hp.seed);
  const epochs: EpochMetrics[] = [];
  let best: { accuracy: number; loss: number; epoch: number; weights: tf.Tensor[] } | undefined;
  const progress = reporter.progress(label, hp.epochs, 'epochs');
  try {
    for (let epoch = 1; epoch <= hp.epochs; epoch++) {
      const epochStart = now();
      optimizer.setLearningRate(cosineLearningRate(hp.learningRate, epoch, hp.epochs));
      const order = shuffled(
        xs.map((_, i) => i),
        random,
      );
      const x = featureMatrix(order.map((index) => xs[index] as Float32Array));
      const y = tf.tidy(() =>
        tf.oneHot(
          tf.tensor1d(
            order.map((index) => rowLabels[index] as number),
            'int32',
          ),
          classes,
        ),
      );
      // Shuffled above with the seeded order: fit's own shuffle draws from Math.random.
      const history = await model.fit(x, y, {
        epochs: 1,
        batchSize: hp.batchSize,
        shuffle: false,
        verbose: 0,
      });
      tf.dispose([x, y]);
      // fit resolves without a turn of the event loop: yield one per epoch, so a signal or the store's
      // exit is heard at once, not after the last epoch.
      await new Promise<void>((resolve) => setImmediate(resolve));
      const validationMetrics = evaluate(headProbabilities(model, validationFeatures), validation.labels);
      const metrics: EpochMetrics = {
        epoch,
        loss: round(Number(history.history.loss?.[0] ?? Number.NaN)),
        accuracy: round(Number(history.history.acc?.[0] ?? Number.NaN)),
        validationLoss: round(validationMetrics.loss),
        validationAccuracy: round(validationMetrics.accuracy),
        seconds: round((now() - epochStart) / 1000, 2),
      };
      epochs.push(metrics);
      // 100 validation images give accuracy steps of 0.01, so ties are common: the lower loss breaks them.
      if (
        best === undefined ||
        metrics.validationAccuracy > best.accuracy ||
        (metrics.validationAccuracy === best.accuracy && validationMetrics.loss < best.loss)
      ) {
        tf.dispose(best?.weights ?? []);
        best = {
          accuracy: metrics.validationAccuracy,
          loss: validationMetrics.loss,
          epoch,
          weights: model.getWeights().map((w) => w.clone()),
        };
      }
      const stopAt = earlyStopEpoch(best.epoch, hp.epochs, hp.patience);
      progress.tick(
        1,
        `epoch ${epoch}: loss ${metrics.loss.toFixed(3)} acc ${metrics.accuracy.toFixed(3)} val_acc ${metrics.validationAccuracy.toFixed(3)}`,
        Math.min(hp.epochs, stopAt) - epoch,
      );
      if (epoch >= stopAt) {
        reporter.info(
          `early stop after epoch ${epoch}: no better validation accuracy for ${epoch - best.epoch} epochs ` +
            `(patience ${hp.patience}, counted from the schedule's midpoint)`,
        );
        break;
      }
    }
    if (best === undefined) throw new SconesError('training ran no epoch: train.epochs must be at least 1');
    progress.done(`best validation accuracy ${best.accuracy.toFixed(4)} at epoch ${best.epoch}`);
    const folded = foldStandardization(best.weights, mean, scale);
    model.setWeights(folded);
    tf.dispose(folded);
    return { model, best: { accuracy: best.accuracy, epoch: best.epoch }, epochs };
  } catch (error) {
    model.dispose();
    throw error;
  } finally {
    tf.dispose(best?.weights ?? []);
    // The model owns only an optimizer it was given by name: Adam's moment variables are ours to free.
    optimizer.dispose();
  }
}

/**
 * Each training image's probabilities from a head that never trained on it: the images dealt into
 * `hp.crossFitFolds` stratified folds (seeded by hp.seed), one head per fold trained by trainHead on the
 * others, selected on the validation split as the model is. These heads see a quarter fewer images than
 * the model, so their predictions understate it slightly: a threshold chosen on them errs towards
 * caution. Undefined when hp.crossFitFolds is 0. Without augmentation the training images have no mirror
 * features, so their plain features stand in for both views.
 */
export async function outOfFoldProbabilities(
  train: LabelledFeatures,
  validation: LabelledFeatures,
  hp: LocalHyperparameters,
  classes: number,
  reporter: Reporter,
  now: () => number = Date.now,
): Promise<number[][] | undefined> {
  const folds = hp.crossFitFolds;
  if (folds === 0) return undefined;
  if (train.labels.length < 2 * folds) {
    reporter.info(
      `no out-of-fold predictions: ${train.labels.length} training images are too few for ${folds} folds`,
    );
    return undefined;
  }
  const foldOf = stratifiedFolds(train.labels, folds, hp.seed);
  // Classes with fewer images than folds leave the last folds short: every head needs images to train on.
  const foldSizes = Array.from({ length: folds }, (_, fold) => foldOf.filter((f) => f === fold).length);
  if (foldSizes.some((size) => size === 0 || size === train.labels.length)) {
    reporter.info(
      `no out-of-fold predictions: ${train.labels.length} training images deal into folds of ${foldSizes.join(', ')}, and each needs images on both sides`,
    );
    return undefined;
  }
  const mirrored = hp.augment ? train.features.mirrored : train.features.plain;
  const pick = (indices: number[]): Features => ({
    plain: indices.map((i) => train.features.plain[i] as Float32Array),
    mirrored: indices.map((i) => mirrored[i] as Float32Array),
  });
  const probabilities: number[][] = new Array(train.labels.length);
  for (let fold = 0; fold < folds; fold++) {
    const inFold = foldOf.flatMap((f, index) => (f === fold ? [index] : []));
    const others = foldOf.flatMap((f, index) => (f === fold ? [] : [index]));
    const head = await trainHead(
      { features: pick(others), labels: others.map((i) => train.labels[i] as number) },
      validation,
      hp,
      classes,
      reporter,
      now,
      `out-of-fold head ${fold + 1}/${folds}`,
    );
    try {
      const scored = headProbabilities(head.model, pick(inFold));
      inFold.forEach((index, i) => {
        probabilities[index] = scored[i] as number[];
      });
    } finally {
      head.model.dispose();
    }
  }
  return probabilities;
}

/**
 * One training row per scale: that scale's block of a standardized row, times `scales`, the other blocks
 * zero (their mean). A linear head trained on these rows and read on whole rows gives the mean of the
 * logits of one head per scale, each learned from its scale alone: an ensemble in one layer. In a
 * scratch probe this read 0.937, one head on the whole rows 0.933 (docs/development.md).
 */
export function scaleViews(row: Float32Array, scales: number): Float32Array[] {
  const block = row.length / scales;
  if (!Number.isInteger(block)) throw new Error(`${row.length} features do not split into ${scales} scales`);
  if (scales === 1) return [row];
  return Array.from({ length: scales }, (_, index) => {
    const view = new Float32Array(row.length);
    for (let i = index * block; i < (index + 1) * block; i++) view[i] = (row[i] as number) * scales;
    return view;
  });
}

/**
 * Adam whose rate can change between epochs: with a constant rate, mini-batch steps kept the head's
 * validation accuracy swinging by several points from one epoch to the next, so the epoch kept was a
 * lucky one; decayed, the last epochs settle (docs/development.md).
 */
class DecayingAdam extends tf.AdamOptimizer {
  setLearningRate(rate: number): void {
    this.learningRate = rate;
  }
}

/**
 * Cosine decay from `peak` at epoch 1 towards zero at `epochs`: large steps early, fine ones late,
 * where the best epochs are chosen.
 */
export function cosineLearningRate(peak: number, epoch: number, epochs: number): number {
  return (peak * (1 + Math.cos((Math.PI * (epoch - 1)) / Math.max(1, epochs)))) / 2;
}

/** Each feature's mean and inverse standard deviation (1 where a feature is constant). */
function standardization(rows: readonly Float32Array[]): { mean: Float32Array; scale: Float32Array } {
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(featureMatrix(rows), 0);
    const sd = tf.sqrt(variance);
    const scale = tf.where(tf.greater(sd, 1e-6), tf.div(1, sd), tf.onesLike(sd));
    return { mean: mean.dataSync() as Float32Array, scale: scale.dataSync() as Float32Array };
  });
}

function standardized(row: Float32Array, mean: Float32Array, scale: Float32Array): Float32Array {
  return row.map((v, j) => (v - (mean[j] as number)) * (scale[j] as number));
}

/** Dense weights on standardized features -> the same function of raw features: W' = W*s, b' = b - (m*s)W. */
function foldStandardization(weights: tf.Tensor[], mean: Float32Array, scale: Float32Array): tf.Tensor[] {
  const [kernel, bias] = weights as [tf.Tensor2D, tf.Tensor1D];
  return tf.tidy(() => {
    const s = tf.tensor2d(scale, [scale.length, 1]);
    const shift = tf.matMul(
      tf.tensor2d(
        mean.map((m, j) => m * (scale[j] as number)),
        [1, mean.length],
      ),
      kernel,
    );
    return [tf.mul(kernel, s), tf.sub(bias, tf.reshape(shift, [-1]))];
  });
}

/**
 * The epoch after which training stops if validation accuracy does not improve on `bestEpoch`:
 * `patience` epochs after the best one, counted no earlier than the cosine schedule's midpoint. The
 * first half takes large steps and validation accuracy swings by chance; stopping there would keep an
 * under-trained model.
 */
export function earlyStopEpoch(bestEpoch: number, epochs: number, patience: number): number {
  return Math.max(bestEpoch, Math.ceil(epochs / 2)) + patience;
}

/** Reads one split back from the store through its .lst file, decoding every PNG. */
export async function readSplit(
  store: ObjectStore,
  prefix: string,
  split: DatasetSplit,
  side: number,
  reporter: Reporter,
): Promise<{ inputs: Float32Array[]; labels: number[]; paths: string[] }> {
  const lstKey = datasetListKey(prefix, split);
  // A staged dataset with objects deleted or cut short names the object and the command that heals it.
  const damaged = (key: string, error: unknown) =>
    new SconesError(
      `the staged dataset ${store.uri(prefix)} is damaged: ${store.uri(key)} ${
        error instanceof SconesError && /does not exist$/.test(error.message)
          ? 'is missing'
          : `does not read as a PNG (${(error as Error).message})`
      }: run \`scones stage-data\` with the same source to stage it again, then run this command again`,
      { cause: error },
    );
  const entries = parseLst(
    await getText(store, lstKey).catch((error: unknown) => {
      throw damaged(lstKey, error);
    }),
    store.uri(lstKey),
  );
  const progress = reporter.progress(`read ${split} images`, entries.length, 'images');
  const inputs = await mapConcurrent(entries, 16, async (entry) => {
    const key = `${datasetImagesPrefix(prefix, split)}${entry.path}`;
    let png: PNG;
    try {
      png = PNG.sync.read(Buffer.from(await store.get(key)));
    } catch (error) {
      if (error instanceof SconesError && !/does not exist$/.test(error.message)) throw error;
      throw damaged(key, error);
    }
    progress.tick();
    return imageToInput({ width: png.width, height: png.height, data: png.data }, side);
  });
  progress.done();
  return { inputs, labels: entries.map((e) => e.label), paths: entries.map((e) => e.path) };
}

function evaluate(probabilities: number[][], labels: number[]): { accuracy: number; loss: number } {
  let correct = 0;
  let loss = 0;
  probabilities.forEach((p, i) => {
    const label = labels[i] as number;
    const predicted = p.indexOf(Math.max(...p));
    if (predicted === label) correct++;
    loss -= Math.log(Math.max(p[label] ?? 0, 1e-7));
  });
  return { accuracy: correct / Math.max(1, labels.length), loss: loss / Math.max(1, labels.length) };
}

function round(value: number, digits = 4): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Reads the validation (the drift baseline) or out-of-fold predictions saved with a model. */
export async function readValidationPredictions(
  store: ObjectStore,
  modelPrefix: string,
  file: 'validationPredictions' | 'outOfFoldPredictions' = 'validationPredictions',
): Promise<ValidationPredictions> {
  return getJson(
    store,
    `${modelPrefix}${MODEL_FILES[file]}`,
    validationPredictionsSchema,
    "a model's predictions file",
    "delete the model's folder to train it again",
  );
}
