/**
 * TensorFlow.js for training on this machine without native binaries: the WebAssembly backend
 * (XNNPACK), plus the one training kernel it lacks, Conv2DBackpropFilter. `@tensorflow/tfjs-node` is
 * not an option: its install downloads libtensorflow, which machines without internet cannot do.
 */
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import {
  backend_util,
  type Conv2DBackpropFilterAttrs,
  type Conv2DBackpropInputAttrs,
  type FusedBatchNormAttrs,
  type KernelConfig,
  type NamedAttrMap,
  type TensorInfo,
} from '@tensorflow/tfjs-core';

export { tf };

let ready: Promise<void> | undefined;

/** Selects the wasm backend and registers the missing kernel; idempotent. */
export function initTensorflow(backend: 'wasm' | 'cpu' = 'wasm'): Promise<void> {
  ready ??= (async () => {
    if (tf.getKernel('Conv2DBackpropFilter', 'wasm') === undefined)
      tf.registerKernel(conv2DBackpropFilterWasmConfig);
    replaceWasmKernel('Conv2DBackpropInput', conv2DBackpropInputWasm);
    registerLeadingAxesReductions();
    registerBatchNormGradient();
    // Our own messages say what runs where; tfjs's "hi there" banner and warnings do not help users.
    tf.env().set('PROD', true);
  })();
  return ready.then(async () => {
    if (tf.getBackend() !== backend) {
      const before = {
        uncaughtException: new Set(process.listeners('uncaughtException')),
        unhandledRejection: new Set(process.listeners('unhandledRejection')),
      };
      await tf.setBackend(backend);
      await tf.ready();
      // The Emscripten runtime adds process handlers that rethrow every error and print its minified
      // source; errors should reach our own top-level handler instead.
      for (const listener of process.listeners('uncaughtException'))
        if (!before.uncaughtException.has(listener)) process.removeListener('uncaughtException', listener);
      for (const listener of process.listeners('unhandledRejection'))
        if (!before.unhandledRejection.has(listener)) process.removeListener('unhandledRejection', listener);
    }
  });
}

/** Shapes and paddings of a 2-D convolution from a kernel's attributes (NHWC only). */
function convInfo(
  xShape: number[],
  filterShape: [number, number, number, number],
  attrs: {
    strides: [number, number] | number;
    pad: Conv2DBackpropFilterAttrs['pad'];
    dataFormat: 'NHWC' | 'NCHW';
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
  },
  kernel: string,
) {
  const dataFormat = backend_util.convertConv2DDataFormat(attrs.dataFormat);
  if (dataFormat !== 'channelsLast') throw new Error(`${kernel} (wasm): only NHWC is supported`);
  return backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    dataFormat,
  );
}

function wasmKernel(name: string) {
  const kernel = tf.getKernel(name, 'wasm');
  if (kernel === undefined) throw new Error(`the wasm backend has no ${name} kernel`);
  return kernel.kernelFunc;
}

/**
 * dW as a forward convolution, which runs in XNNPACK: with the batch axis moved to the channels,
 * dW[fh, fw, ci, co] = conv(x as [ci, H, W, b], dy as the filter [oH, oW, b, co]), dilated by the stride.
 * About 8x faster than laying out patches in JS and multiplying.
 */
function conv2DBackpropFilterWasm(args: KernelArgs): TensorInfo {
  const backend = args.backend as BackendWasm;
  const x = args.inputs.x as TensorInfo;
  const dy = args.inputs.dy as TensorInfo;
  const attrs = args.attrs as unknown as Conv2DBackpropFilterAttrs;
  const info = convInfo(x.shape, attrs.filterShape, attrs, 'Conv2DBackpropFilter');
  const { inHeight, inWidth, outHeight, outWidth, filterHeight, filterWidth, strideHeight, strideWidth } =
    info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  // Output of the helper convolution must be exactly filterHeight x filterWidth.
  const bottom = filterHeight - 1 + (outHeight - 1) * strideHeight + 1 - inHeight - top;
  const right = filterWidth - 1 + (outWidth - 1) * strideWidth + 1 - inWidth - left;
  const transpose = wasmKernel('Transpose');
  const xT = transpose({ inputs: { x }, backend, attrs: { perm: [3, 1, 2, 0] } }) as TensorInfo;
  const dyT = transpose({ inputs: { x: dy }, backend, attrs: { perm: [1, 2, 0, 3] } }) as TensorInfo;
  // Rows of x past the last window never reach the output: crop them instead of a negative pad.
  const cropped =
    bottom < 0 || right < 0
      ? (wasmKernel('Slice')({
          inputs: { x: xT },
          backend,
          attrs: {
            begin: [0, 0, 0, 0],
            size: [
              xT.shape[0] as number,
              inHeight + Math.min(0, bottom),
              inWidth + Math.min(0, right),
              xT.shape[3] as number,
            ],
          },
        }) as TensorInfo)
      : xT;
  const conv = wasmKernel('Conv2D')({
    inputs: { x: cropped, filter: dyT },
    backend,
    attrs: {
      strides: 1,
      pad: [
        [0, 0],
        [top, Math.max(0, bottom)],
        [left, Math.max(0, right)],
        [0, 0],
      ],
      dataFormat: 'NHWC',
      dilations: [strideHeight, strideWidth],
    },
  }) as TensorInfo;
  const result = transpose({ inputs: { x: conv }, backend, attrs: { perm: [1, 2, 0, 3] } }) as TensorInfo;
  for (const t of new Set([xT, cropped, dyT, conv])) backend.disposeData(t.dataId);
  return result;
}

export const conv2DBackpropFilterWasmConfig: KernelConfig = {
  kernelName: 'Conv2DBackpropFilter',
  backendName: 'wasm',
  kernelFunc: conv2DBackpropFilterWasm as KernelConfig['kernelFunc'],
};

/**
 * dX for stride-1 convolutions as a forward convolution of dy with the filter flipped and its channel
 * axes swapped, which runs in XNNPACK; other strides use the backend's own (slower) kernel.
 */
function conv2DBackpropInputWasm(original: KernelConfig['kernelFunc'], args: KernelArgs): TensorInfo {
  const backend = args.backend as BackendWasm;
  const dy = args.inputs.dy as TensorInfo;
  const filter = args.inputs.filter as TensorInfo;
  const attrs = args.attrs as unknown as Conv2DBackpropInputAttrs;
  const [fh, fw, inC, outC] = filter.shape as [number, number, number, number];
  const info = convInfo(attrs.inputShape, [fh, fw, inC, outC], attrs, 'Conv2DBackpropInput');
  if (info.strideHeight !== 1 || info.strideWidth !== 1)
    return original(args as Parameters<typeof original>[0]) as TensorInfo;
  const flipped = backend.makeOutput([fh, fw, outC, inC], 'float32');
  const src = backend.typedArrayFromHeap(filter) as Float32Array;
  const dst = backend.typedArrayFromHeap(flipped) as Float32Array;
  for (let h = 0; h < fh; h++)
    for (let w = 0; w < fw; w++)
      for (let i = 0; i < inC; i++)
        for (let o = 0; o < outC; o++)
          dst[(((fh - 1 - h) * fw + (fw - 1 - w)) * outC + o) * inC + i] = src[
            ((h * fw + w) * inC + i) * outC + o
          ] as number;
  const { top, bottom, left, right } = info.padInfo;
  const result = wasmKernel('Conv2D')({
    inputs: { x: dy, filter: flipped },
    backend,
    attrs: {
      strides: 1,
      pad: [
        [0, 0],
        [fh - 1 - top, fh - 1 - bottom],
        [fw - 1 - left, fw - 1 - right],
        [0, 0],
      ],
      dataFormat: 'NHWC',
      dilations: 1,
    },
  }) as TensorInfo;
  backend.disposeData(flipped.dataId);
  return result;
}

type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: NamedAttrMap };
const replacedKernels = new Set<string>();

/**
 * Replaces one of the wasm backend's kernels, handing the replacement the original for the cases it
 * does not cover. Idempotent.
 */
function replaceWasmKernel(
  kernelName: string,
  replacement: (original: KernelConfig['kernelFunc'], args: KernelArgs) => TensorInfo,
): void {
  const original = tf.getKernel(kernelName, 'wasm');
  if (original === undefined || replacedKernels.has(kernelName)) return;
  replacedKernels.add(kernelName);
  tf.unregisterKernel(kernelName, 'wasm');
  tf.registerKernel({
    kernelName,
    backendName: 'wasm',
    kernelFunc: ((args: KernelArgs) => replacement(original.kernelFunc, args)) as KernelConfig['kernelFunc'],
    // The original binds its wasm function at backend setup; keep that for the cases it still handles.
    ...(original.setupFunc === undefined ? {} : { setupFunc: original.setupFunc }),
  });
}

/**
 * Sum and Mean over the leading axes of a float32 tensor (per-channel statistics of NHWC activations,
 * which batch normalisation takes every step, forwards and backwards), as one pass over the data in
 * place. The backend's kernels first transpose the whole tensor so the reduced axes come last.
 */
function registerLeadingAxesReductions(): void {
  for (const kernelName of ['Sum', 'Mean'] as const)
    replaceWasmKernel(kernelName, (original, args) => {
      const backend = args.backend as BackendWasm;
      const x = args.inputs.x as TensorInfo;
      const { axis, keepDims } = args.attrs as unknown as { axis: number | number[]; keepDims: boolean };
      const axes = tf.util.parseAxisParam(axis, x.shape).sort((a, b) => a - b);
      const leading = axes.length > 0 && axes.length < x.shape.length && axes.every((a, i) => a === i);
      if (!leading || x.dtype !== 'float32')
        return original(args as Parameters<typeof original>[0]) as TensorInfo;
      const rows = x.shape.slice(0, axes.length).reduce((a, b) => a * b, 1);
      const kept = x.shape.slice(axes.length);
      const width = kept.reduce((a, b) => a * b, 1);
      const out = backend.makeOutput(keepDims ? [...axes.map(() => 1), ...kept] : kept, 'float32');
      const source = backend.typedArrayFromHeap(x) as Float32Array;
      const target = backend.typedArrayFromHeap(out) as Float32Array;
      // Accumulate in float64: a sum of ~30,000 float32 terms loses digits otherwise.
      const totals = new Float64Array(width);
      for (let row = 0, offset = 0; row < rows; row++, offset += width)
        for (let column = 0; column < width; column++)
          totals[column] = (totals[column] as number) + (source[offset + column] as number);
      const divisor = kernelName === 'Mean' ? rows : 1;
      for (let column = 0; column < width; column++) target[column] = (totals[column] as number) / divisor;
      return out;
    });
}

/**
 * The gradient of FusedBatchNorm (batch normalisation), with the per-channel factors broadcast instead
 * of tiled. tfjs-core's own gradient tiles 1/sqrt(variance + epsilon) to the activation's full shape
 * before multiplying, and the wasm backend's Tile kernel took 160 of a 430 ms training step of a
 * batch-normalised draft of the local model (tf.profile, batch 32, once); broadcasting gives the same values at the cost of one multiply. The formulas are the
 * partial derivatives of y = (x - mean) * scale / sqrt(variance + epsilon) + offset, with mean and
 * variance as inputs (tfjs-layers computes the batch moments with ops that have their own gradients).
 */
function registerBatchNormGradient(): void {
  tf.registerGradient({
    kernelName: 'FusedBatchNorm',
    inputsToSave: ['x', 'mean', 'variance', 'scale'],
    gradFunc: (dy, saved, attrs) => {
      const gradient = dy as tf.Tensor;
      const [x, mean, variance, scale] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor | undefined];
      const { varianceEpsilon } = attrs as unknown as FusedBatchNormAttrs;
      const scaleValue = scale ?? tf.scalar(1);
      const inverseDeviation = tf.rsqrt(tf.add(variance, varianceEpsilon));
      // Per-channel statistics (rank 1) are summed over every other axis; full-shape ones are not.
      const reductionAxes = x.shape.map((_, axis) => axis).slice(0, x.rank - mean.rank);
      const reduce = (t: tf.Tensor) =>
        tf.reshape(reductionAxes.length > 0 ? tf.sum(t, reductionAxes) : t, mean.shape);
      return {
        x: () => tf.mul(gradient, tf.mul(inverseDeviation, scaleValue)),
        mean: () => reduce(tf.mul(gradient, tf.neg(tf.mul(inverseDeviation, scaleValue)))),
        variance: () =>
          reduce(
            tf.mul(
              tf.mul(gradient, tf.sub(x, mean)),
              tf.mul(tf.mul(tf.pow(inverseDeviation, 3), scaleValue), -0.5),
            ),
          ),
        scale: () => reduce(tf.mul(gradient, tf.mul(tf.sub(x, mean), inverseDeviation))),
        offset: () => reduce(gradient),
      };
    },
  });
}
