import type { LayersModel } from '@tensorflow/tfjs-layers';
import { PNG } from 'pngjs';
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
import { type DatasetRecord, type TrainRecord, trainRecordSchema } from '../../manifest.js';
import type { ObjectStore, Trainer, TrainRequest } from '../../ports.js';
import { mapConcurrent } from '../../util/concurrency.js';
import { parseLst } from '../../util/lst.js';
import { getJson, getText } from '../../util/object-text.js';
import { stratifiedFolds } from '../../util/random.js';
import { keyOfUri } from '../../util/s3-uri.js';
import { round } from '../../util/statistics.js';
import { BACKBONE_SIDES } from './backbone.js';
import { computePool } from './compute-pool.js';
import { type LabelledFeatures, type LocalHyperparameters, localHyperparameters, trainHead } from './head.js';
import {
  type Features,
  headProbabilities,
  imageToInput,
  LOCAL_MODEL_VERSION,
  MODEL_FILES,
  serializeModel,
} from './model.js';
import { initTensorflow } from './tf.js';

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
    const [trainFeatures, validationFeatures] = await Promise.all([
      extractFeatures(train.inputs, hp.side, hp.augment, progress),
      extractFeatures(validationSplit.inputs, hp.side, true, progress),
    ]);
    progress.done();
    const trainSet = { features: trainFeatures, labels: train.labels };
    const validationSet = { features: validationFeatures, labels: validationSplit.labels };
    const classes = request.dataset.classes.length;
    // The model's head trains here while the cross-fitted ones train on the compute pool's workers.
    const training = trainHead(trainSet, validationSet, hp, classes, reporter, this.now);
    const crossFitted = outOfFoldProbabilities(trainSet, validationSet, hp, classes, reporter, training);
    crossFitted.catch(() => {}); // awaited below, once the model's head has trained
    const head = await training;
    try {
      const outOfFold = await crossFitted;
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
 * The backbone's features of each input, and of its mirror image when `mirrored`: chunks of 64 images
 * (four of backboneFeatures' batches, so the batches are the same whatever the pool's size) spread over
 * the compute pool's workers, with progress as each chunk comes back.
 */
export async function extractFeatures(
  inputs: readonly Float32Array[],
  side: number,
  mirrored: boolean,
  progress: { tick(count?: number): void },
): Promise<Features> {
  const chunk = 64;
  const parts: Promise<Features>[] = [];
  for (let start = 0; start < inputs.length; start += chunk) {
    const part = inputs.slice(start, start + chunk);
    parts.push(
      computePool()
        .features(part, side, mirrored)
        .then((features) => {
          progress.tick(part.length);
          return features;
        }),
    );
  }
  const done = await Promise.all(parts);
  return { plain: done.flatMap((f) => f.plain), mirrored: done.flatMap((f) => f.mirrored) };
}

/**
 * Each training image's probabilities from a head that never trained on it: the images dealt into
 * `hp.crossFitFolds` stratified folds (seeded by hp.seed), one head per fold trained by trainHead on the
 * others, selected on the validation split as the model is. These heads see a quarter fewer images than
 * the model, so their predictions understate it slightly: a threshold chosen on them errs towards
 * caution. Undefined when hp.crossFitFolds is 0. Without augmentation the training images have no mirror
 * features, so their plain features stand in for both views. The heads start at once on the compute
 * pool; their progress shows once `after` (the model's own head, with a bar of its own) has settled.
 */
export async function outOfFoldProbabilities(
  train: LabelledFeatures,
  validation: LabelledFeatures,
  hp: LocalHyperparameters,
  classes: number,
  reporter: Reporter,
  after: Promise<unknown> = Promise.resolve(),
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
  const heads = Array.from({ length: folds }, (_, fold) => {
    const inFold = foldOf.flatMap((f, index) => (f === fold ? [index] : []));
    const others = foldOf.flatMap((f, index) => (f === fold ? [] : [index]));
    const head = computePool().head({
      train: { features: pick(others), labels: others.map((i) => train.labels[i] as number) },
      validation,
      heldOut: pick(inFold),
      hp,
      classes,
      label: `out-of-fold head ${fold + 1}/${folds}`,
    });
    head.catch(() => {}); // awaited below, in fold order
    return { inFold, head };
  });
  await after;
  const progress = reporter.progress('out-of-fold heads', folds, 'heads');
  const probabilities: number[][] = new Array(train.labels.length);
  for (const [fold, { inFold, head }] of heads.entries()) {
    const { probabilities: scored, best, infos } = await head;
    for (const line of infos) reporter.info(`out-of-fold head ${fold + 1}/${folds}: ${line}`);
    inFold.forEach((index, i) => {
      probabilities[index] = scored[i] as number[];
    });
    progress.tick(
      1,
      `head ${fold + 1}: best validation accuracy ${best.accuracy.toFixed(4)} at epoch ${best.epoch}`,
    );
  }
  progress.done();
  return probabilities;
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
