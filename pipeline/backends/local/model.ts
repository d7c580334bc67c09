import * as tfl from '@tensorflow/tfjs-layers';
import { z } from 'zod';
import type { RgbaImage } from '../../data/image.js';
import type { ObjectStore } from '../../ports.js';
import { keyOfUri } from '../../util/s3-uri.js';
import { tf } from './tf.js';

/** Version of the architecture and preprocessing below: part of the training id, so a change retrains. */
export const LOCAL_MODEL_VERSION = 'cnn-v4';

/**
 * The conv blocks: filters and convolutions in each. The first block has one convolution: at 32x32 a
 * second one cost a quarter of the compute and most of batch normalisation's time, for no better
 * validation accuracy.
 */
export const MODEL_BLOCKS = [
  { filters: 16, convolutions: 1 },
  { filters: 32, convolutions: 2 },
  { filters: 64, convolutions: 2 },
] as const;

export type ModelBlocks = readonly { filters: number; convolutions: number }[];

/** Conv blocks as a hyperparameter writes them, "16x1,32x2,64x2": filters x convolutions per block. */
export function parseBlocks(text: string): ModelBlocks {
  return text.split(',').map((block) => {
    const [filters = 0, convolutions = 0] = block.split('x').map(Number);
    return { filters, convolutions };
  });
}

/**
 * A small VGG-style CNN: three conv blocks with batch normalisation and global average pooling, sized
 * to train in seconds per epoch on two CPU cores. Every initializer is seeded, so the same seed gives
 * the same model.
 */
export function buildModel(options: {
  side: number;
  classes: number;
  seed: number;
  /** The conv blocks; absent, MODEL_BLOCKS. */
  blocks?: ModelBlocks | undefined;
}): tfl.LayersModel {
  let seed = options.seed;
  const init = () => tfl.initializers.heNormal({ seed: seed++ });
  const model = tfl.sequential();
  // Conv, batch normalisation (which makes the conv's bias redundant), then ReLU.
  const convBlock = (filters: number) => {
    model.add(
      tfl.layers.conv2d({
        filters,
        kernelSize: 3,
        padding: 'same',
        useBias: false,
        kernelInitializer: init(),
      }),
    );
    // Momentum 0.9, not Keras's 0.99: a run of a few hundred steps must leave inference statistics that fit.
    model.add(tfl.layers.batchNormalization({ momentum: 0.9 }));
    model.add(tfl.layers.activation({ activation: 'relu' }));
  };
  model.add(tfl.layers.inputLayer({ inputShape: [options.side, options.side, 3] }));
  for (const block of options.blocks ?? MODEL_BLOCKS) {
    for (let i = 0; i < block.convolutions; i++) convBlock(block.filters);
    model.add(tfl.layers.maxPooling2d({ poolSize: 2 }));
  }
  model.add(tfl.layers.globalAveragePooling2d({}));
  // A seeded tfjs-layers Dropout draws the same mask on every call, so training keeps one fixed 30% of
  // the pooled features out (their dense weights stay at their initial values) rather than a new 30%
  // each step. That is the model the held-out figures measure; a mask per step measured lower in one
  // trial (docs/local-backend.md) and needs its own study before it replaces this.
  model.add(tfl.layers.dropout({ rate: 0.3, seed: seed++ }));
  model.add(
    tfl.layers.dense({
      units: options.classes,
      activation: 'softmax',
      kernelInitializer: tfl.initializers.glorotUniform({ seed: seed++ }),
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

/**
 * Fills `out` with a batch of inputs, each randomly flipped and shifted (crop of a 4-pixel zero pad)
 * when `augment` is on, and with `colorJitter` > 0 its brightness and saturation scaled by random
 * factors in [1 - colorJitter, 1 + colorJitter]. Done in JS on the raw arrays: cheaper than tensor ops for 32x32 images.
 */
export function fillBatch(
  out: Float32Array,
  inputs: readonly Float32Array[],
  indices: readonly number[],
  side: number,
  augment: { random: () => number; colorJitter?: number } | undefined,
): void {
  const size = side * side * 3;
  out.fill(0);
  indices.forEach((index, b) => {
    const src = inputs[index] as Float32Array;
    const base = b * size;
    if (augment === undefined) {
      out.set(src, base);
      return;
    }
    const flip = augment.random() < 0.5;
    const dx = Math.floor(augment.random() * 9) - 4;
    const dy = Math.floor(augment.random() * 9) - 4;
    // Drawn only when on, so a model trained without colour draws the same shifts as before it existed.
    const jitter = augment.colorJitter ?? 0;
    const brightness = jitter > 0 ? 1 + (augment.random() * 2 - 1) * jitter : 1;
    const saturation = jitter > 0 ? 1 + (augment.random() * 2 - 1) * jitter : 1;
    for (let y = 0; y < side; y++) {
      const sy = y + dy;
      if (sy < 0 || sy >= side) continue;
      for (let x = 0; x < side; x++) {
        const sxShifted = x + dx;
        if (sxShifted < 0 || sxShifted >= side) continue;
        const sx = flip ? side - 1 - sxShifted : sxShifted;
        const o = base + (y * side + x) * 3;
        const s = (sy * side + sx) * 3;
        const r = src[s] as number;
        const g = src[s + 1] as number;
        const b = src[s + 2] as number;
        if (jitter === 0) {
          out[o] = r;
          out[o + 1] = g;
          out[o + 2] = b;
          continue;
        }
        // Saturation scales each channel's distance from the pixel's grey, brightness the result.
        const grey = 0.299 * r + 0.587 * g + 0.114 * b;
        out[o] = clamp01((grey + (r - grey) * saturation) * brightness);
        out[o + 1] = clamp01((grey + (g - grey) * saturation) * brightness);
        out[o + 2] = clamp01((grey + (b - grey) * saturation) * brightness);
      }
    }
  });
}

/**
 * Class probabilities for each input, in batches: the mean of the model's output on the image and on
 * its mirror image (test-time flip averaging; training flips at random, so both views are in
 * distribution). Selection, evaluation and the endpoint all predict through this one function.
 */
export function predictProbabilities(
  model: tfl.LayersModel,
  inputs: readonly Float32Array[],
  side: number,
): number[][] {
  const out: number[][] = [];
  const batch = 100;
  const buffer = new Float32Array(batch * side * side * 3);
  for (let start = 0; start < inputs.length; start += batch) {
    const indices = Array.from({ length: Math.min(batch, inputs.length - start) }, (_, i) => start + i);
    fillBatch(buffer, inputs, indices, side, undefined);
    const probabilities = tf.tidy(() => {
      const xs = tf.tensor4d(buffer.subarray(0, indices.length * side * side * 3), [
        indices.length,
        side,
        side,
        3,
      ]);
      const mirrored = tf.reverse(xs, 2);
      const both = model.predict(tf.concat([xs, mirrored], 0)) as tf.Tensor;
      const [plain, flipped] = tf.split(both, 2, 0) as [tf.Tensor, tf.Tensor];
      return tf.div(tf.add(plain, flipped), 2).arraySync() as number[][];
    });
    out.push(...probabilities);
  }
  return out;
}

function clamp01(value: number): number {
  return Math.min(1, Math.max(0, value));
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

/** Loads the model the trainer saved under `modelUri` (`s3://bucket/models/<training-id>/`). */
export async function loadModel(store: ObjectStore, modelUri: string): Promise<tfl.LayersModel> {
  const prefix = keyOfUri(modelUri);
  const [modelJson, weights] = await Promise.all([
    store.get(`${prefix}${MODEL_FILES.modelJson}`),
    store.get(`${prefix}${MODEL_FILES.weights}`),
  ]);
  return deserializeModel({ modelJson: Buffer.from(modelJson).toString('utf8'), weights });
}
