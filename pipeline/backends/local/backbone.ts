import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { loadGraphModelSync } from '@tensorflow/tfjs-converter';
import { z } from 'zod';
import { SconesError } from '../../errors.js';
import { tf } from './tf.js';

/**
 * The pretrained network the local model reads features from: the MobileNet-v3 backbone of a CenterNet
 * object detector trained on COCO 2017, whose 80 classes include bicycle and motorcycle, as converted to
 * TensorFlow.js (float16 weights) by the @vladmandic/human package (MIT), pinned to one version. npm is
 * the one model source this project's machines reach; it carries no ImageNet classifier, and this
 * detector's features score better on these images than any network we trained from scratch
 * (docs/development.md). Its files are checked by digest: other weights would be another model.
 */
const BACKBONE = {
  package: '@vladmandic/human',
  json: {
    file: 'models/centernet.json',
    sha256: 'bfb942eaacc5becf738d536663bc4580a0ae9e560722306e6d4dd7fe4a09de05',
  },
  weights: {
    file: 'models/centernet.bin',
    sha256: '1b635a15009071f506f9f2b3519b31c072c534888989f30d269ffd44734ef7ef',
  },
  input: 'tower_0/images',
  /**
   * Three depths of the backbone, each averaged over its positions: strides 8, 16 and 32. In a scratch
   * probe on the training images, the three together beat the deepest alone by about a point
   * (docs/development.md).
   */
  taps: [
    'tower_0/MobilenetV3/expanded_conv_5/expand/Relu',
    'tower_0/MobilenetV3/expanded_conv_11/add',
    'tower_0/extern1/hard_swish/mul_1',
  ],
} as const;

/**
 * The sides each image is resized to before the backbone reads it. Each side's features train a head of
 * their own, averaged in one layer (scaleViews in trainer.ts). In a scratch probe on the training images
 * (docs/development.md) 224 px alone read 0.926 and 128 px 0.922, their average 0.938; 128 px adds a
 * third of 224's compute.
 */
export const BACKBONE_SIDES = [224, 128] as const;

/** Features per view: the taps' channels (96 + 88 + 480) at each side. */
export const BACKBONE_FEATURES = 664 * BACKBONE_SIDES.length;
/** Images per backbone call: bounds the activations held at once (about 40 MB at 224 px, the larger size). */
const BATCH = 16;

/** The parts of the converted graph's model.json that loading reads. */
const graphJsonSchema = z.object({
  modelTopology: z.looseObject({
    node: z.array(z.looseObject({ name: z.string(), attr: z.looseObject({}).optional() })),
  }),
  weightsManifest: z.array(
    z.object({
      weights: z.array(
        z.object({
          name: z.string(),
          shape: z.array(z.number().int()),
          dtype: z.enum(['float32', 'int32']),
          quantization: z
            .object({ dtype: z.literal('float16'), original_dtype: z.literal('float32') })
            .optional(),
        }),
      ),
    }),
  ),
});

let loaded: ReturnType<typeof loadGraphModelSync> | undefined;

/** The backbone, loaded once per process from the pinned package. */
export function backbone(): ReturnType<typeof loadGraphModelSync> {
  loaded ??= loadBackbone(packageRoot());
  return loaded;
}

function packageRoot(): string {
  try {
    return join(createRequire(import.meta.url).resolve(BACKBONE.package), '..', '..');
  } catch (error) {
    throw new SconesError(
      `${BACKBONE.package}, which holds the pretrained backbone, is not installed: run npm ci`,
      {
        cause: error,
      },
    );
  }
}

/** Loads the backbone from the package folder `root`; throws, naming the fix, if its files are not the pinned ones. */
export function loadBackbone(root: string): ReturnType<typeof loadGraphModelSync> {
  const read = (part: { file: string; sha256: string }) => {
    const path = join(root, part.file);
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch (error) {
      throw new SconesError(
        `${path}, the pretrained backbone, cannot be read (${(error as Error).message}): run npm ci`,
        {
          cause: error,
        },
      );
    }
    const digest = createHash('sha256').update(bytes).digest('hex');
    if (digest !== part.sha256)
      throw new SconesError(
        `${path} is not the pretrained backbone the local model was built on (sha256 ${digest}): ` +
          `run npm ci to restore ${BACKBONE.package} as package-lock.json pins it`,
      );
    return bytes;
  };
  const json = graphJsonSchema.parse(JSON.parse(read(BACKBONE.json).toString('utf8')));
  const weights = read(BACKBONE.weights);
  // The converter fixed the input at 1x512x512 for detection; the backbone is fully convolutional, so
  // any batch and side run up to the taps (the detection head, never executed here, needs 512).
  const input = json.modelTopology.node.find((node) => node.name === BACKBONE.input);
  if (input?.attr === undefined) throw new SconesError(`the backbone graph has no ${BACKBONE.input} input`);
  input.attr.shape = { shape: { dim: [{ size: '-1' }, { size: '-1' }, { size: '-1' }, { size: '3' }] } };
  return loadGraphModelSync({
    modelTopology: json.modelTopology,
    weightSpecs: json.weightsManifest.flatMap((group) =>
      group.weights.map(({ quantization, ...spec }) =>
        quantization === undefined ? spec : { ...spec, quantization },
      ),
    ),
    weightData: new Uint8Array(weights).buffer,
  });
}

/**
 * The backbone's features of each input (RGB in [0, 1], side x side), or of its mirror image: at each of
 * BACKBONE_SIDES, each tap averaged over its positions; all concatenated. The detector was trained on
 * pixel values in [0, 255].
 */
export function backboneFeatures(
  inputs: readonly Float32Array[],
  side: number,
  mirrored: boolean,
): Float32Array[] {
  const model = backbone();
  const size = side * side * 3;
  const out: Float32Array[] = [];
  for (let start = 0; start < inputs.length; start += BATCH) {
    const part = inputs.slice(start, start + BATCH);
    const buffer = new Float32Array(part.length * size);
    part.forEach((input, i) => {
      buffer.set(input, i * size);
    });
    const features = tf.tidy(() => {
      let images = tf.mul(tf.tensor4d(buffer, [part.length, side, side, 3]), 255);
      if (mirrored) images = tf.reverse(images, 2);
      const taps = BACKBONE_SIDES.flatMap((backboneSide) => {
        const resized = tf.image.resizeBilinear(images as tf.Tensor4D, [backboneSide, backboneSide]);
        return model.execute(resized, [...BACKBONE.taps]) as tf.Tensor[];
      });
      return tf
        .concat(
          taps.map((tap) => tf.mean(tap, [1, 2])),
          1,
        )
        .dataSync() as Float32Array;
    });
    const width = features.length / part.length;
    for (let i = 0; i < part.length; i++) out.push(features.slice(i * width, (i + 1) * width));
  }
  return out;
}
