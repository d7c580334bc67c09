import '@tensorflow/tfjs-layers';
import { expect } from 'chai';
import { initTensorflow, tf } from '../../pipeline/backends/local/tf.js';
import { seededRandom } from '../../pipeline/util/random.js';

/**
 * Both backprop kernels run directly on one backend, on the same x, filter and dy. (Comparing through
 * tf.grads would also compare the forward Conv2D, which is not ours.)
 */
async function backprops(backend: 'cpu' | 'wasm', c: KernelCase) {
  await initTensorflow(backend);
  const x = tf.tensor4d(c.x, c.xShape);
  const filter = tf.tensor4d(c.w, c.wShape);
  const dy = tf.tensor4d(c.dy, c.dyShape);
  const attrs = { strides: c.stride, pad: c.pad, dataFormat: 'NHWC' };
  const dx = tf
    .engine()
    .runKernel('Conv2DBackpropInput', { dy, filter }, { ...attrs, inputShape: c.xShape }) as tf.Tensor;
  const dw = tf
    .engine()
    .runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: c.wShape }) as tf.Tensor;
  const out = [dx.dataSync().slice(), dw.dataSync().slice()];
  tf.dispose([x, filter, dy, dx, dw]);
  return out;
}

type Shape4 = [number, number, number, number];
interface KernelCase {
  x: number[];
  xShape: Shape4;
  w: number[];
  wShape: Shape4;
  dy: number[];
  dyShape: Shape4;
  stride: number;
  pad: 'same' | 'valid';
}

function maxRelativeError(
  expected: Float32Array | Int32Array | Uint8Array,
  actual: Float32Array | Int32Array | Uint8Array,
): number {
  let error = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    error = Math.max(error, Math.abs((expected[i] as number) - (actual[i] as number)));
    scale = Math.max(scale, Math.abs(expected[i] as number));
  }
  return error / scale;
}

describe('wasm training kernels (Conv2DBackpropFilter registered, Conv2DBackpropInput replaced)', function () {
  this.timeout(60_000);
  after(() => initTensorflow('wasm'));

  it('match the cpu backend on random shapes, strides and paddings (relative error < 1e-4)', async () => {
    const random = seededRandom(2024);
    const pick = (values: number[]) => values[Math.floor(random() * values.length)] as number;
    const values = (shape: number[]) =>
      Array.from({ length: shape.reduce((a, b) => a * b) }, () => random() * 2 - 1);
    for (let trial = 0; trial < 16; trial++) {
      const size = pick([5, 7, 8, 11]);
      const xShape: Shape4 = [pick([1, 2, 3]), size, pick([size, size + 2]), pick([1, 3, 4])];
      const wShape: Shape4 = [pick([1, 2, 3, 5]), pick([1, 3]), xShape[3], pick([2, 5, 8])];
      const stride = pick([1, 2]);
      const pad = pick([0, 1]) === 0 ? 'same' : 'valid';
      const outH =
        pad === 'same' ? Math.ceil(xShape[1] / stride) : Math.ceil((xShape[1] - wShape[0] + 1) / stride);
      const outW =
        pad === 'same' ? Math.ceil(xShape[2] / stride) : Math.ceil((xShape[2] - wShape[1] + 1) / stride);
      const dyShape: Shape4 = [xShape[0], outH, outW, wShape[3]];
      const c: KernelCase = {
        x: values(xShape),
        xShape,
        w: values(wShape),
        wShape,
        dy: values(dyShape),
        dyShape,
        stride,
        pad,
      };
      const [cpuDx, cpuDw] = await backprops('cpu', c);
      const [wasmDx, wasmDw] = await backprops('wasm', c);
      const label = `x ${xShape} w ${wShape} stride ${stride} ${pad}`;
      expect(maxRelativeError(cpuDx!, wasmDx!), `dX ${label}`).to.be.below(1e-4);
      expect(maxRelativeError(cpuDw!, wasmDw!), `dW ${label}`).to.be.below(1e-4);
    }
  });
});

describe('batch normalisation gradient (registered in place of the tiling one)', () => {
  before(() => initTensorflow('wasm'));

  it('equals the gradient of the same formula written in elementary ops, for x and every statistic', () => {
    const random = seededRandom(77);
    const values = (shape: number[], offset = 0) =>
      tf.tensor(
        Array.from({ length: shape.reduce((a, b) => a * b) }, () => offset + random() * 2 - 1),
        shape,
      );
    const channels = 5;
    const x = values([3, 4, 6, channels]);
    const mean = values([channels]);
    const variance = values([channels], 2); // in [1, 3): a valid variance
    const scale = values([channels]);
    const offset = values([channels]);
    const dy = values([3, 4, 6, channels]);
    const epsilon = 1e-3;
    const fused = (a: tf.Tensor, m: tf.Tensor, v: tf.Tensor, s: tf.Tensor, o: tf.Tensor) =>
      tf.batchNorm(
        a as tf.Tensor4D,
        m as tf.Tensor1D,
        v as tf.Tensor1D,
        o as tf.Tensor1D,
        s as tf.Tensor1D,
        epsilon,
      );
    const elementary = (a: tf.Tensor, m: tf.Tensor, v: tf.Tensor, s: tf.Tensor, o: tf.Tensor) =>
      tf.add(tf.mul(tf.div(tf.sub(a, m), tf.sqrt(tf.add(v, epsilon))), s), o);
    const inputs = [x, mean, variance, scale, offset];
    const ours = tf.grads((...args: tf.Tensor[]) =>
      fused(...(args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor])),
    )(inputs, dy);
    const reference = tf.grads((...args: tf.Tensor[]) =>
      elementary(...(args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor])),
    )(inputs, dy);
    ['x', 'mean', 'variance', 'scale', 'offset'].forEach((name, i) => {
      expect(maxRelativeError(reference[i]!.dataSync(), ours[i]!.dataSync()), name).to.be.below(1e-5);
    });
    // The forward values agree too, so the two functions are the same function.
    expect(
      maxRelativeError(
        elementary(x, mean, variance, scale, offset).dataSync(),
        fused(x, mean, variance, scale, offset).dataSync(),
      ),
    ).to.be.below(1e-5);
    tf.dispose([...inputs, dy, ...ours, ...reference]);
  });
});

describe('wasm Sum and Mean over leading axes (replaced: one pass, no transpose)', function () {
  this.timeout(60_000);
  after(() => initTensorflow('wasm'));

  it('match the cpu backend for leading, trailing and mixed axes, with and without keepDims', async () => {
    const random = seededRandom(9);
    const shape = [4, 6, 5, 3];
    const data = Array.from({ length: 4 * 6 * 5 * 3 }, () => random() * 10 - 5);
    const cases: { axis: number[]; keepDims: boolean }[] = [
      { axis: [0], keepDims: false },
      { axis: [0, 1, 2], keepDims: false },
      { axis: [0, 1, 2], keepDims: true },
      { axis: [2, 1, 0], keepDims: false },
      { axis: [1, 2], keepDims: false },
      { axis: [3], keepDims: true },
      { axis: [0, 1, 2, 3], keepDims: false },
    ];
    const run = async (backend: 'cpu' | 'wasm') => {
      await initTensorflow(backend);
      return cases.flatMap(({ axis, keepDims }) =>
        [tf.sum, tf.mean].map((reduce) =>
          tf.tidy(() => {
            const out = reduce(tf.tensor(data, shape), axis, keepDims);
            return { shape: out.shape, values: out.dataSync().slice() };
          }),
        ),
      );
    };
    const cpu = await run('cpu');
    const wasm = await run('wasm');
    cpu.forEach((expected, i) => {
      const label = `${i % 2 === 0 ? 'sum' : 'mean'} over ${cases[Math.floor(i / 2)]?.axis}`;
      expect(wasm[i]?.shape, label).to.deep.equal(expected.shape);
      expect(maxRelativeError(expected.values, wasm[i]!.values), label).to.be.below(1e-5);
    });
  });
});

describe('the training speed-ups are the kernels that run (not only equal values)', () => {
  before(() => initTensorflow('wasm'));

  it('a leading-axes Sum is ours (it accumulates in float64); an int32 Sum falls back and stays exact', () => {
    // Down a column, 1e8 + 1 - 1e8: float32 accumulation loses the 1, float64 keeps it.
    const column = tf.tensor([1e8, 1, -1e8], [3, 1]);
    const sum = tf.sum(column, 0);
    expect(Array.from(sum.dataSync())).to.deep.equal([1]);
    const integers = tf.tensor([1, 2, 3, 4, 5, 6], [3, 2], 'int32');
    const integerSum = tf.sum(integers, 0);
    expect(integerSum.dtype).to.equal('int32');
    expect(Array.from(integerSum.dataSync())).to.deep.equal([9, 12]);
    tf.dispose([column, sum, integers, integerSum]);
  });

  it('the batch normalisation gradient runs no Tile', async () => {
    const x = tf.randomNormal([4, 6, 6, 3], 0, 1, 'float32', 1);
    const [mean, variance, scale, offset] = [tf.zeros([3]), tf.ones([3]), tf.ones([3]), tf.zeros([3])];
    const profile = await tf.profile(() =>
      tf.dispose(
        tf.grads((a: tf.Tensor) =>
          tf.batchNorm(
            a as tf.Tensor4D,
            mean as tf.Tensor1D,
            variance as tf.Tensor1D,
            offset as tf.Tensor1D,
            scale as tf.Tensor1D,
          ),
        )([x]),
      ),
    );
    expect(profile.kernelNames).to.include('FusedBatchNorm');
    expect(profile.kernelNames).to.not.include('Tile');
    tf.dispose([x, mean, variance, scale, offset]);
  });
});
