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
import { getText } from '../../util/object-text.js';
import { seededRandom, shuffled } from '../../util/random.js';
import { keyOfUri } from '../../util/s3-uri.js';
import { DataParallel, SHARES_PER_BATCH, workerThreadsFor } from './data-parallel.js';
import {
  fillBatch,
  imageToInput,
  LOCAL_MODEL_VERSION,
  MODEL_FILES,
  parseBlocks,
  predictProbabilities,
  serializeModel,
} from './model.js';
import { initTensorflow, tf } from './tf.js';

const localHyperparameters = z.object({
  epochs: z.number().int().positive(),
  batchSize: z.number().int().positive(),
  learningRate: z.number().positive(),
  patience: z.number().int().positive(),
  seed: z.number().int(),
  augment: z.boolean(),
  side: z.number().int().positive(),
  /**
   * Shares each batch is split into, one per replica (data-parallel.ts). Batch normalisation sees a
   * share as its batch, so this is part of the model, not of the machine: the threads are.
   */
  shares: z.number().int().positive(),
  /** Label smoothing (data-parallel.ts); absent in records of models trained before it existed. */
  labelSmoothing: z.number().min(0).max(0.5).default(0),
  /** Colour augmentation's strength (model.ts fillBatch); 0 is off. */
  colorJitter: z.number().min(0).max(0.5).default(0),
  /** The conv blocks as "16x1,32x2,64x2" (model.ts parseBlocks); absent, the default architecture. */
  blocks: z
    .string()
    .regex(/^[1-9][0-9]*x[1-9][0-9]*(,[1-9][0-9]*x[1-9][0-9]*)*$/)
    .optional(),
});
export type LocalHyperparameters = z.infer<typeof localHyperparameters>;

/** Sees the model after each epoch's validation: what a benchmark needs to score snapshots (bench/kfold.ts). */
export type EpochObserver = (epoch: number, model: LayersModel) => void;

/** Hyperparameters with no configuration key: off by default, set by bench/kfold.ts's variants. */
type BenchOnlyHyperparameters = 'labelSmoothing' | 'colorJitter' | 'blocks';

/** The hyperparameters the local trainer uses, from configuration and the dataset. */
export function localHyperparametersFor(
  config: Config,
  dataset: DatasetRecord,
): Omit<LocalHyperparameters, BenchOnlyHyperparameters> {
  const { epochs, batchSize, learningRate, patience, seed, augment } = config.train;
  return {
    epochs,
    batchSize,
    learningRate,
    patience,
    seed,
    augment,
    side: dataset.imageShape[1],
    shares: SHARES_PER_BATCH,
  };
}

/**
 * Trains the CNN of model.ts with TensorFlow.js on this machine, reading the staged images back from
 * the object store, and saves the best epoch's model under `models/<training-id>/`. metrics.json is
 * written last: a model without it was never completed.
 */
export class LocalTrainer implements Trainer {
  readonly kind = 'tfjs-local';
  readonly version = LOCAL_MODEL_VERSION;

  constructor(
    private readonly store: ObjectStore,
    private readonly now: () => number = Date.now,
    private readonly onEpoch?: EpochObserver,
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
    await initTensorflow('wasm');
    const train = await readSplit(this.store, request.dataset.prefix, 'train', hp.side, reporter);
    // Selection (best epoch, early stopping) sees the validation split only; the test split is never read here.
    const validationSplit = await readSplit(
      this.store,
      request.dataset.prefix,
      'validation',
      hp.side,
      reporter,
    );
    const classes = request.dataset.classes.length;
    reporter.info(
      `training ${LOCAL_MODEL_VERSION} on ${train.inputs.length} images (${validationSplit.inputs.length} for validation), ` +
        `${hp.epochs} epochs max, batch ${hp.batchSize}, seed ${hp.seed}, ` +
        `each batch in ${hp.shares} shares on ${workerThreadsFor(hp.shares) + 1} thread(s)`,
    );

    const parallel = await DataParallel.start({
      side: hp.side,
      classes,
      seed: hp.seed,
      learningRate: hp.learningRate,
      shares: hp.shares,
      labelSmoothing: hp.labelSmoothing,
      blocks: hp.blocks === undefined ? undefined : parseBlocks(hp.blocks),
    });
    try {
      return await this.fit(request, hp, parallel, { train, validation: validationSplit }, started, reporter);
    } finally {
      await parallel.stop();
      parallel.model.dispose();
    }
  }

  private async fit(
    request: TrainRequest,
    hp: LocalHyperparameters,
    parallel: DataParallel,
    splits: { train: Split; validation: Split },
    started: number,
    reporter: Reporter,
  ): Promise<TrainRecord> {
    const { train, validation: validationSplit } = splits;
    const model = parallel.model;
    const random = seededRandom(hp.seed);
    const epochs: EpochMetrics[] = [];
    let best: { accuracy: number; loss: number; epoch: number; weights: tf.Tensor[] } | undefined;
    const progress = reporter.progress('train', hp.epochs, 'epochs');

    for (let epoch = 1; epoch <= hp.epochs; epoch++) {
      const epochStart = this.now();
      const learningRate = cosineLearningRate(hp.learningRate, epoch, hp.epochs);
      const order = shuffled(
        train.inputs.map((_, i) => i),
        random,
      );
      const { lossSum, correct } = await trainEpoch(parallel, train, order, hp, learningRate, random);
      const probabilities = predictProbabilities(model, validationSplit.inputs, hp.side);
      const validation = evaluate(probabilities, validationSplit.labels);
      const seconds = (this.now() - epochStart) / 1000;
      const metrics: EpochMetrics = {
        epoch,
        loss: round(lossSum / order.length),
        accuracy: round(correct / order.length),
        validationLoss: round(validation.loss),
        validationAccuracy: round(validation.accuracy),
        seconds: round(seconds, 2),
      };
      epochs.push(metrics);
      this.onEpoch?.(epoch, model);
      // 100 validation images give accuracy steps of 0.01, so ties are common: the lower loss breaks them.
      if (
        best === undefined ||
        metrics.validationAccuracy > best.accuracy ||
        (metrics.validationAccuracy === best.accuracy && validation.loss < best.loss)
      ) {
        tf.dispose(best?.weights ?? []);
        best = {
          accuracy: metrics.validationAccuracy,
          loss: validation.loss,
          epoch,
          weights: model.getWeights().map((w) => w.clone()),
        };
      }
      const stopAt = earlyStopEpoch(best.epoch, hp.epochs, hp.patience);
      progress.tick(
        1,
        `epoch ${epoch}: loss ${metrics.loss.toFixed(3)} acc ${metrics.accuracy.toFixed(3)} ` +
          `val_acc ${metrics.validationAccuracy.toFixed(3)} (${(order.length / seconds).toFixed(0)} img/s)`,
        // Early stopping ends training by `stopAt` at the latest: the ETA says so.
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
    model.setWeights(best.weights);
    tf.dispose(best.weights);
    progress.done(`best validation accuracy ${best.accuracy.toFixed(4)} at epoch ${best.epoch}`);

    const record: TrainRecord = {
      trainingId: request.trainingId,
      trainer: `${this.kind}/${this.version}`,
      modelUri: this.store.uri(modelPrefix(request.trainingId)),
      validationAccuracy: best.accuracy,
      bestEpoch: best.epoch,
      epochs,
      durationSeconds: round((this.now() - started) / 1000, 1),
      datasetDigest: request.dataset.digest,
      hyperparameters: hp,
    };
    await this.save(record, model, {
      classes: request.dataset.classes,
      labels: validationSplit.labels,
      probabilities: predictProbabilities(model, validationSplit.inputs, hp.side).map((p) =>
        p.map((v) => round(v, 6)),
      ),
    });
    return record;
  }

  /** Writes the model, its validation predictions (the drift baseline) and, last, its record (what `find` reads). */
  private async save(record: TrainRecord, model: LayersModel, predictions: ValidationPredictions) {
    const saved = await serializeModel(model);
    const prefix = modelPrefix(record.trainingId);
    const json = { contentType: 'application/json' };
    await this.store.put(`${prefix}${MODEL_FILES.modelJson}`, saved.modelJson, json);
    await this.store.put(`${prefix}${MODEL_FILES.weights}`, saved.weights, {
      contentType: 'application/octet-stream',
    });
    await this.store.put(`${prefix}${MODEL_FILES.validationPredictions}`, JSON.stringify(predictions), json);
    await this.store.put(`${prefix}${MODEL_FILES.metrics}`, `${JSON.stringify(record, null, 2)}\n`, json);
  }
}

/** One pass over the training images in `order`, a batch per data-parallel step; the loss and hits summed. */
async function trainEpoch(
  parallel: DataParallel,
  train: Split,
  order: number[],
  hp: LocalHyperparameters,
  learningRate: number,
  random: () => number,
): Promise<{ lossSum: number; correct: number }> {
  const imageSize = hp.side * hp.side * 3;
  const batch = new Float32Array(hp.batchSize * imageSize);
  let lossSum = 0;
  let correct = 0;
  for (let start = 0; start < order.length; start += hp.batchSize) {
    const indices = order.slice(start, start + hp.batchSize);
    fillBatch(
      batch,
      train.inputs,
      indices,
      hp.side,
      hp.augment ? { random, colorJitter: hp.colorJitter } : undefined,
    );
    const step = await parallel.step(
      batch.subarray(0, indices.length * imageSize),
      indices.map((i) => train.labels[i] as number),
      learningRate,
    );
    lossSum += step.loss * indices.length;
    correct += step.correct;
    // Computed in this thread (no spare core), a step resolves without a turn of the event loop: yield
    // one per batch, so a signal or the store's exit is heard at once, not after the last epoch.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return { lossSum, correct };
}

/**
 * The epoch after which training stops if validation accuracy does not improve on `bestEpoch`:
 * `patience` epochs after the best one, counted no earlier than the cosine schedule's midpoint. The
 * first half takes large steps and validation accuracy swings by chance (a lucky early epoch is common
 * with batch normalisation); stopping there would keep an under-trained model.
 */
export function earlyStopEpoch(bestEpoch: number, epochs: number, patience: number): number {
  return Math.max(bestEpoch, Math.ceil(epochs / 2)) + patience;
}

/**
 * Cosine decay from `peak` at epoch 1 towards zero at `epochs`: large steps early, fine ones late,
 * where the best epochs are chosen.
 */
export function cosineLearningRate(peak: number, epoch: number, epochs: number): number {
  return (peak * (1 + Math.cos((Math.PI * (epoch - 1)) / Math.max(1, epochs)))) / 2;
}

type Split = Awaited<ReturnType<typeof readSplit>>;

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

/** Reads the validation predictions saved with a model (the drift baseline). */
export async function readValidationPredictions(
  store: ObjectStore,
  modelPrefix: string,
): Promise<ValidationPredictions> {
  const key = `${modelPrefix}${MODEL_FILES.validationPredictions}`;
  const parsed = validationPredictionsSchema.safeParse(JSON.parse(await getText(store, key)));
  if (!parsed.success)
    throw new SconesError(`${store.uri(key)} is not a validation predictions file: ${parsed.error.message}`);
  return parsed.data;
}
