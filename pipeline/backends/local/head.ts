/**
 * The local model's head and how it is trained: the hyperparameters, trainHead and what it is made of.
 * The trainer (trainer.ts) runs it on this thread for the model and the compute pool's workers
 * (compute-worker.ts) for the cross-fitted heads.
 */
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { z } from 'zod';
import type { Reporter } from '../../console-reporter.js';
import { SconesError } from '../../errors.js';
import type { EpochMetrics } from '../../manifest.js';
import { seededRandom, shuffled } from '../../util/random.js';
import { round } from '../../util/statistics.js';
import { buildHead, type Features, featureMatrix, headProbabilities } from './model.js';
import { tf } from './tf.js';

/** Features and their labels, as trainHead takes them. */
export interface LabelledFeatures {
  features: Features;
  labels: number[];
}

/** The local trainer's hyperparameters, recorded with each model it trains. */
export const localHyperparameters = z.object({
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
  /** Heads cross-fitted for out-of-fold predictions of the training images (0: none; trainer.ts's CROSS_FIT_FOLDS). */
  crossFitFolds: z
    .number()
    .int()
    .min(0)
    .refine((folds) => folds !== 1, 'cross-fitting needs 0 or at least 2 folds'),
});
export type LocalHyperparameters = z.infer<typeof localHyperparameters>;

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
