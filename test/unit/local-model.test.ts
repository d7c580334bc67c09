import { expect } from 'chai';
import {
  buildModel,
  fillBatch,
  MODEL_BLOCKS,
  parseBlocks,
  predictProbabilities,
} from '../../pipeline/backends/local/model.js';
import { initTensorflow, tf } from '../../pipeline/backends/local/tf.js';
import { cosineLearningRate, earlyStopEpoch } from '../../pipeline/backends/local/trainer.js';
import { seededRandom } from '../../pipeline/util/random.js';

const SIDE = 8;

function randomImage(random: () => number): Float32Array {
  return Float32Array.from({ length: SIDE * SIDE * 3 }, () => random());
}

function mirrored(image: Float32Array): Float32Array {
  const out = new Float32Array(image.length);
  for (let y = 0; y < SIDE; y++)
    for (let x = 0; x < SIDE; x++)
      for (let c = 0; c < 3; c++)
        out[(y * SIDE + x) * 3 + c] = image[(y * SIDE + (SIDE - 1 - x)) * 3 + c] as number;
  return out;
}

describe('local model prediction (test-time flip averaging)', () => {
  before(() => initTensorflow('wasm'));

  it('gives an image and its mirror image the same probabilities, even from an untrained model', () => {
    const model = buildModel({ side: SIDE, classes: 3, seed: 11 });
    try {
      const random = seededRandom(5);
      const images = [randomImage(random), randomImage(random), randomImage(random)];
      const plain = predictProbabilities(model, images, SIDE);
      const flipped = predictProbabilities(model, images.map(mirrored), SIDE);
      plain.forEach((p, i) => {
        expect(p.reduce((a, b) => a + b, 0)).to.be.closeTo(1, 1e-5);
        p.forEach((v, k) => {
          expect(v).to.be.closeTo(flipped[i]?.[k] as number, 1e-5);
        });
      });
      // The raw model tells the two views apart, so the equality above is the averaging's doing.
      const raw = (view: Float32Array) =>
        tf.tidy(() =>
          Array.from((model.predict(tf.tensor4d(view, [1, SIDE, SIDE, 3])) as tf.Tensor).dataSync()),
        );
      const image = images[0] as Float32Array;
      const difference = raw(image).map((v, k) => Math.abs(v - (raw(mirrored(image))[k] as number)));
      expect(Math.max(...difference)).to.be.greaterThan(1e-3);
    } finally {
      model.dispose();
    }
  });
});

describe('cosine learning-rate decay', () => {
  it('starts at the configured rate, halves at mid-run and decreases every epoch', () => {
    expect(cosineLearningRate(0.002, 1, 30)).to.equal(0.002);
    expect(cosineLearningRate(0.002, 16, 30)).to.be.closeTo(0.001, 1e-12);
    const rates = Array.from({ length: 30 }, (_, i) => cosineLearningRate(0.002, i + 1, 30));
    for (let i = 1; i < rates.length; i++) expect(rates[i]).to.be.lessThan(rates[i - 1] as number);
    expect(rates.at(-1)).to.be.greaterThan(0);
  });
});

describe('early stopping', () => {
  it("counts patience from the best epoch, but never from before the schedule's midpoint", () => {
    // 30 epochs, patience 6: a lucky epoch 7 does not end training at 13, only at 15 + 6.
    expect(earlyStopEpoch(7, 30, 6)).to.equal(21);
    // A best epoch past the midpoint counts from itself.
    expect(earlyStopEpoch(20, 30, 6)).to.equal(26);
    // Odd schedules round the midpoint up.
    expect(earlyStopEpoch(1, 5, 1)).to.equal(4);
  });
});

describe('colour augmentation (train hyperparameter colorJitter)', () => {
  const image = Float32Array.from({ length: SIDE * SIDE * 3 }, (_, i) => ((i * 37) % 101) / 100);
  const batch = (colorJitter: number | undefined) => {
    const random = seededRandom(3);
    const draws: number[] = [];
    const counted = () => {
      const v = random();
      draws.push(v);
      return v;
    };
    const out = new Float32Array(SIDE * SIDE * 3);
    fillBatch(out, [image], [0], SIDE, {
      random: counted,
      ...(colorJitter === undefined ? {} : { colorJitter }),
    });
    return { out, draws: draws.length };
  };

  it('off, draws and fills exactly as without it; on, changes the pixels within [0, 1]', () => {
    const without = batch(undefined);
    const off = batch(0);
    expect(off.draws).to.equal(without.draws);
    expect(Array.from(off.out)).to.deep.equal(Array.from(without.out));
    const on = batch(0.3);
    expect(on.draws).to.equal(without.draws + 2);
    expect(Array.from(on.out)).to.not.deep.equal(Array.from(without.out));
    for (const v of on.out) expect(v).to.be.within(0, 1);
  });
});

describe('conv blocks (train hyperparameter blocks)', () => {
  before(() => initTensorflow('wasm'));

  const convFilters = (model: ReturnType<typeof buildModel>) =>
    model.layers
      .filter((layer) => layer.getClassName() === 'Conv2D')
      .map((layer) => (layer.getConfig() as { filters: number }).filters);

  it('builds the blocks "16x1,24x2,48x2" names, and MODEL_BLOCKS without them', () => {
    expect(parseBlocks('16x1,24x2,48x2')).to.deep.equal([
      { filters: 16, convolutions: 1 },
      { filters: 24, convolutions: 2 },
      { filters: 48, convolutions: 2 },
    ]);
    const narrower = buildModel({ side: SIDE, classes: 2, seed: 1, blocks: parseBlocks('16x1,24x2,48x2') });
    const standard = buildModel({ side: SIDE, classes: 2, seed: 1 });
    try {
      expect(convFilters(narrower)).to.deep.equal([16, 24, 24, 48, 48]);
      expect(convFilters(standard)).to.deep.equal(
        MODEL_BLOCKS.flatMap((block) => Array<number>(block.convolutions).fill(block.filters)),
      );
    } finally {
      narrower.dispose();
      standard.dispose();
    }
  });
});
