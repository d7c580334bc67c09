import * as tfl from '@tensorflow/tfjs-layers';
import { z } from 'zod';
import type { RgbaImage } from '../../data/image.js';
import type { ObjectStore } from '../../ports.js';
import { keyOfUri } from '../../util/s3-uri.js';
import { BACKBONE_FEATURES, backboneFeatures } from './backbone.js';
import { tf } from './tf.js';

/** Version of the architecture and preprocessing below: part of the training id, so a change retrains. */
export const LOCAL_MODEL_VERSION = 'features-v2';

/**
 * The trained part of the local model: one softmax layer over the pretrained backbone's features
 * (backbone.ts). A linear head is what 1000 images support: it trains in seconds, and the backbone's
 * features, not the head, carry what the network learned from COCO.
 */
export function buildHead(options: {
  features: number;
  classes: number;
  seed: number;
  /** L2 penalty on the weights, for training; absent, none. */
  l2?: number;
}): tfl.LayersModel {
  const model = tfl.sequential();
  model.add(tfl.layers.inputLayer({ inputShape: [options.features] }));
  model.add(
    tfl.layers.dense({
      units: options.classes,
      activation: 'softmax',
      kernelInitializer: tfl.initializers.glorotUniform({ seed: options.seed }),
      ...(options.l2 === undefined ? {} : { kernelRegularizer: tfl.regularizers.l2({ l2: options.l2 }) }),
    }),
  );
  return model;
}

/** RGBA pixels -> the model's input: RGB in [0, 1], resized to side x side when needed. */
export function imageToInput(image: RgbaImage, side: number): Float32Array {
  const rgb = new Float32Array(image.width * image.height * 3);
  for (let i = 0, o = 0; i < image.width * image.height; i++) {
    rgb[o++] = (image.data[i * 4] as number) / 255;
    rgb[o++] = (image.data[i * 4 + 1] as number) / 255;
    rgb[o++] = (image.data[i * 4 + 2] as number) / 255;
  }
  if (image.width === side && image.height === side) return rgb;
  return tf.tidy(() => {
    const resized = tf.image.resizeBilinear(tf.tensor3d(rgb, [image.height, image.width, 3]), [side, side]);
    return resized.dataSync() as Float32Array;
  });
}

/** Both views' features of each input: the image and its mirror image. */
export interface Features {
  plain: Float32Array[];
  mirrored: Float32Array[];
}

export function featuresOf(inputs: readonly Float32Array[], side: number): Features {
  return { plain: backboneFeatures(inputs, side, false), mirrored: backboneFeatures(inputs, side, true) };
}

/**
 * Class probabilities from features: the mean of the head's output on the image and on its mirror image
 * (test-time flip averaging; training sees both views, so both are in distribution).
 */
export function headProbabilities(head: tfl.LayersModel, features: Features): number[][] {
  if (features.plain.length === 0) return [];
  return tf.tidy(() => {
    const plain = head.predict(featureMatrix(features.plain)) as tf.Tensor;
    const mirrored = head.predict(featureMatrix(features.mirrored)) as tf.Tensor;
    return tf.div(tf.add(plain, mirrored), 2).arraySync() as number[][];
  });
}

/** Rows of features (all one width) as one matrix, a row per example. */
export function featureMatrix(rows: readonly Float32Array[]): tf.Tensor2D {
  const width = rows[0]?.length ?? 0;
  const flat = new Float32Array(rows.length * width);
  rows.forEach((row, i) => {
    flat.set(row, i * width);
  });
  return tf.tensor2d(flat, [rows.length, width]);
}

/**
 * Class probabilities for each input (RGB in [0, 1], side x side). Selection, evaluation and the
 * endpoint all predict through this one function.
 */
export function predictProbabilities(
  head: tfl.LayersModel,
  inputs: readonly Float32Array[],
  side: number,
): number[][] {
  return headProbabilities(head, featuresOf(inputs, side));
}

/** The saved form of a model: topology and weight specs (model.json) plus one weights file. */
export interface SavedModel {
  modelJson: string;
  weights: Uint8Array;
}

export const WEIGHTS_FILE = 'weights.bin';

/** The files a trained model keeps under `models/<training-id>/` (the trainer writes them; evaluate and the endpoint read them). */
export const MODEL_FILES = {
  modelJson: 'model.json',
  weights: WEIGHTS_FILE,
  metrics: 'metrics.json',
  validationPredictions: 'validation-predictions.json',
  outOfFoldPredictions: 'out-of-fold-predictions.json',
} as const;

/** Serializes through a tf.io save handler: pure tfjs has no file:// handler. */
export async function serializeModel(model: tfl.LayersModel): Promise<SavedModel> {
  let saved: SavedModel | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weightData = artifacts.weightData;
      if (weightData === undefined || Array.isArray(weightData))
        throw new Error('expected one weights buffer');
      saved = {
        modelJson: JSON.stringify({
          format: 'layers-model',
          generatedBy: 'scones-mlops',
          modelTopology: artifacts.modelTopology,
          weightsManifest: [{ paths: [WEIGHTS_FILE], weights: artifacts.weightSpecs }],
        }),
        weights: new Uint8Array(weightData),
      };
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  if (saved === undefined) throw new Error('the model was not serialized');
  return saved;
}

/** The parts of tfjs' model.json (its `ModelJSON` artifact format) that loading reads back. */
const savedModelJsonSchema = z.object({
  modelTopology: z.looseObject({}),
  weightsManifest: z.array(
    z.object({
      weights: z.array(
        z.looseObject({
          name: z.string(),
          shape: z.array(z.number().int()),
          dtype: z.enum(['float32', 'int32', 'bool', 'string', 'complex64']),
        }),
      ),
    }),
  ),
});

/** Loads a model saved by serializeModel, from memory. */
export async function deserializeModel(saved: SavedModel): Promise<tfl.LayersModel> {
  const json = savedModelJsonSchema.parse(JSON.parse(saved.modelJson));
  const weightSpecs = json.weightsManifest.flatMap((group) => group.weights);
  const copy = saved.weights.slice().buffer;
  return tfl.loadLayersModel(
    tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs, weightData: copy }),
  );
}

/**
 * Why `model` cannot serve as this version's head, or undefined: a model saved by an earlier local
 * trainer (cnn-v4 read 32x32 images, features-v1 664 features) would otherwise fail on every prediction
 * with tfjs's shape error.
 */
export function modelProblem(model: tfl.LayersModel, modelUri: string): string | undefined {
  const shape = model.inputs[0]?.shape ?? [];
  if (shape.length === 2 && shape[1] === BACKBONE_FEATURES) return undefined;
  return (
    `${modelUri} reads inputs of shape [${shape.join(', ')}], not the ${BACKBONE_FEATURES} backbone features a ` +
    `${LOCAL_MODEL_VERSION} model reads: an earlier version of the local trainer made it; train again (scones train) ` +
    'or roll back to a model this version trained'
  );
}

/** Loads the model the trainer saved under `modelUri` (`s3://bucket/models/<training-id>/`). */
export async function loadModel(store: ObjectStore, modelUri: string): Promise<tfl.LayersModel> {
  const prefix = keyOfUri(modelUri);
  const [modelJson, weights] = await Promise.all([
    store.get(`${prefix}${MODEL_FILES.modelJson}`),
    store.get(`${prefix}${MODEL_FILES.weights}`),
  ]);
  return deserializeModel({ modelJson: Buffer.from(modelJson).toString('utf8'), weights });
}
