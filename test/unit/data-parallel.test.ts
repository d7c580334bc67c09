import { expect } from 'chai';
import { DataParallel, Replica } from '../../pipeline/backends/local/data-parallel.js';
import { initTensorflow, tf } from '../../pipeline/backends/local/tf.js';
import { seededRandom } from '../../pipeline/util/random.js';

const SIDE = 8;
const OPTIONS = { side: SIDE, classes: 2, seed: 31 };

function trainableValues(replicaModel: DataParallel['model']): Float32Array[] {
  return replicaModel.trainableWeights.map((w) => (w.read().dataSync() as Float32Array).slice());
}

describe('data-parallel training (a replica in a worker thread)', function () {
  this.timeout(60_000);
  before(() => initTensorflow('wasm'));

  it("takes the step one replica takes from the shares' size-weighted average, step after step", async () => {
    const random = seededRandom(4);
    const batches = [5, 4, 7].map((count) => ({
      inputs: Float32Array.from({ length: count * SIDE * SIDE * 3 }, () => random()),
      labels: Array.from({ length: count }, (_, i) => i % 2),
    }));
    const parallel = await DataParallel.start({ ...OPTIONS, learningRate: 0.01, shares: 2, workers: 1 });
    const reference = Replica.create(OPTIONS, 0.01);
    try {
      const size = SIDE * SIDE * 3;
      for (const [step, batch] of batches.entries()) {
        const learningRate = 0.01 / (step + 1);
        const result = await parallel.step(batch.inputs, batch.labels, learningRate);
        // The reference computes both shares itself (the split floor(n/2) / rest), then applies their average.
        const split = Math.floor(batch.labels.length / 2);
        const first = reference.share(batch.inputs.subarray(0, split * size), batch.labels.slice(0, split));
        const second = reference.share(batch.inputs.subarray(split * size), batch.labels.slice(split));
        const total = first.count + second.count;
        const average = first.gradients.map((g, v) =>
          g.map(
            (value, k) => (value * first.count + (second.gradients[v]?.[k] as number) * second.count) / total,
          ),
        );
        reference.apply(average, learningRate);
        expect(result.loss).to.be.closeTo(
          (first.loss * first.count + second.loss * second.count) / total,
          1e-5,
        );
        expect(result.correct).to.equal(first.correct + second.correct);
        const ours = trainableValues(parallel.model);
        const theirs = trainableValues(reference.model);
        ours.forEach((values, v) => {
          const expected = theirs[v] as Float32Array;
          const difference = Math.max(...values.map((value, k) => Math.abs(value - (expected[k] as number))));
          expect(difference, `step ${step + 1}, variable ${v}`).to.be.below(1e-5);
        });
      }
      // The weights moved: the comparison above is not between two untouched models.
      const untouched = trainableValues(Replica.create(OPTIONS, 0.01).model);
      const moved = trainableValues(parallel.model).some((values, v) =>
        values.some((value, k) => Math.abs(value - (untouched[v]?.[k] as number)) > 1e-4),
      );
      expect(moved).to.equal(true);
    } finally {
      await parallel.stop();
      reference.dispose();
    }
  });

  it("fails the step with the worker's error instead of hanging when a share is malformed", async () => {
    const parallel = await DataParallel.start({ ...OPTIONS, learningRate: 0.01, shares: 2, workers: 1 });
    try {
      // Labels say 4 images, the pixels hold 3: the worker's share cannot be shaped.
      const inputs = new Float32Array(3 * SIDE * SIDE * 3);
      let failure: unknown;
      await parallel.step(inputs, [0, 1, 0, 1], 0.01).catch((error: unknown) => {
        failure = error;
      });
      expect(String(failure)).to.match(/shape|size|values/i);
    } finally {
      await parallel.stop();
    }
  });

  it('trains the same model whether a worker or this thread computes the second share (1-core machines)', async () => {
    const random = seededRandom(8);
    // The last batch has one image: the first share is empty.
    const batches = [6, 1, 5].map((count) => ({
      inputs: Float32Array.from({ length: count * SIDE * SIDE * 3 }, () => random()),
      labels: Array.from({ length: count }, (_, i) => (i + count) % 2),
    }));
    const run = async (workers: number) => {
      const parallel = await DataParallel.start({ ...OPTIONS, learningRate: 0.01, shares: 2, workers });
      try {
        const losses = [];
        for (const batch of batches)
          losses.push((await parallel.step(batch.inputs.slice(), batch.labels, 0.01)).loss);
        return { losses, weights: trainableValues(parallel.model) };
      } finally {
        await parallel.stop();
        parallel.model.dispose();
      }
    };
    const threaded = await run(1);
    const alone = await run(0);
    expect(threaded.losses.every(Number.isFinite)).to.equal(true);
    threaded.losses.forEach((loss, i) => {
      expect(loss).to.be.closeTo(alone.losses[i] as number, 1e-6);
    });
    threaded.weights.forEach((values, v) => {
      const expected = alone.weights[v] as Float32Array;
      const difference = Math.max(...values.map((value, k) => Math.abs(value - (expected[k] as number))));
      expect(difference, `variable ${v}`).to.be.below(1e-6);
    });
  });
});

describe('label smoothing (train hyperparameter labelSmoothing)', () => {
  before(() => initTensorflow('wasm'));

  it('takes the loss against targets with the smoothing spread over the classes', () => {
    const random = seededRandom(9);
    const inputs = Float32Array.from({ length: 3 * SIDE * SIDE * 3 }, () => random());
    const labels = [0, 1, 1];
    const loss = (labelSmoothing: number) => {
      const replica = Replica.create({ ...OPTIONS, labelSmoothing }, 0.01);
      try {
        // In training mode, as the step computes it (batch statistics; seeded dropout draws one mask).
        const probabilities = replica.model.apply(tf.tensor4d(inputs, [3, SIDE, SIDE, 3]), {
          training: true,
        }) as tf.Tensor;
        const p = probabilities.arraySync() as number[][];
        probabilities.dispose();
        // Cross-entropy against (1 - e) one-hot + e / classes, by hand.
        const expected =
          labels.reduce(
            (sum, label, i) =>
              sum -
              (p[i] as number[]).reduce(
                (s, q, c) => s + ((c === label ? 1 - labelSmoothing : 0) + labelSmoothing / 2) * Math.log(q),
                0,
              ),
            0,
          ) / labels.length;
        return { measured: replica.share(inputs, labels).loss, expected };
      } finally {
        replica.dispose();
      }
    };
    const smoothed = loss(0.2);
    expect(smoothed.measured).to.be.closeTo(smoothed.expected, 1e-4);
    const plain = loss(0);
    expect(plain.measured).to.be.closeTo(plain.expected, 1e-4);
    expect(Math.abs(smoothed.measured - plain.measured)).to.be.greaterThan(1e-3);
  });
});
