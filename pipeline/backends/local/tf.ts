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
    registerBackpropInput();
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
function conv2DBackpropFilterWasm(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: NamedAttrMap;
}): TensorInfo {
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
  let conv: TensorInfo;
  if (bottom < 0 || right < 0) {
    // Rows of x past the last window never reach the output: crop them instead of a negative pad.
    const sliced = wasmKernel('Slice')({
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
    }) as TensorInfo;
    conv = helperConv(
      backend,
      sliced,
      dyT,
      top,
      Math.max(0, bottom),
      left,
      Math.max(0, right),
      strideHeight,
      strideWidth,
    );
    backend.disposeData(sliced.dataId);
  } else {
    conv = helperConv(backend, xT, dyT, top, bottom, left, right, strideHeight, strideWidth);
  }
  const result = transpose({ inputs: { x: conv }, backend, attrs: { perm: [1, 2, 0, 3] } }) as TensorInfo;
  for (const t of [xT, dyT, conv]) backend.disposeData(t.dataId);
  return result;
}

function helperConv(
  backend: BackendWasm,
  x: TensorInfo,
  filter: TensorInfo,
  top: number,
  bottom: number,
  left: number,
  right: number,
  dilationHeight: number,
  dilationWidth: number,
): TensorInfo {
  return wasmKernel('Conv2D')({
    inputs: { x, filter },
    backend,
    attrs: {
      strides: 1,
      pad: [
        [0, 0],
        [top, bottom],
        [left, right],
        [0, 0],
      ],
      dataFormat: 'NHWC',
      dilations: [dilationHeight, dilationWidth],
    },
  }) as TensorInfo;
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
function conv2DBackpropInputWasm(
  original: KernelConfig['kernelFunc'],
  args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: NamedAttrMap },
): TensorInfo {
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

let originalBackpropInput: KernelConfig | undefined;

/** Replaces the backend's Conv2DBackpropInput, keeping the original for strides it does not cover. */
function registerBackpropInput(): void {
  const original = tf.getKernel('Conv2DBackpropInput', 'wasm');
  if (original === undefined || originalBackpropInput !== undefined) return;
  originalBackpropInput = original;
  tf.unregisterKernel('Conv2DBackpropInput', 'wasm');
  tf.registerKernel({
    kernelName: 'Conv2DBackpropInput',
    backendName: 'wasm',
    kernelFunc: ((args: Parameters<typeof conv2DBackpropInputWasm>[1]) =>
      conv2DBackpropInputWasm(original.kernelFunc, args)) as KernelConfig['kernelFunc'],
    // The original binds its wasm function at backend setup; keep that for the strides it still handles.
    ...(original.setupFunc === undefined ? {} : { setupFunc: original.setupFunc }),
  });
}
