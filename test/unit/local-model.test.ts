import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { expect } from 'chai';
import { BACKBONE_FEATURES, loadBackbone } from '../../pipeline/backends/local/backbone.js';
import { earlyStopEpoch, trainHead } from '../../pipeline/backends/local/head.js';
import {
  buildHead,
  deserializeModel,
  featuresOf,
  headProbabilities,
  modelProblem,
  predictProbabilities,
  serializeModel,
} from '../../pipeline/backends/local/model.js';
import { initTensorflow, tf } from '../../pipeline/backends/local/tf.js';
import { outOfFoldProbabilities } from '../../pipeline/backends/local/trainer.js';
import { createReporter } from '../../pipeline/console-reporter.js';
import { SconesError } from '../../pipeline/errors.js';
import { seededRandom } from '../../pipeline/util/random.js';
import { tempDir } from '../helpers/workspace.js';

const SIDE = 8;
const quiet = createReporter({ env: { CI: 'true' }, stream: { write: () => true } as never });

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

describe('local model prediction (test-time flip averaging)', function () {
  this.timeout(120_000);
  before(() => initTensorflow());

  it('gives an image and its mirror image the same probabilities, even from an untrained head', () => {
    const random = seededRandom(5);
    const images = [randomImage(random), randomImage(random), randomImage(random)];
    const features = featuresOf(images, SIDE);
    expect(features.plain[0]).to.have.length(BACKBONE_FEATURES);
    const head = buildHead({ features: features.plain[0]?.length ?? 0, classes: 3, seed: 11 });
    try {
      const plain = predictProbabilities(head, images, SIDE);
      const flipped = predictProbabilities(head, images.map(mirrored), SIDE);
      plain.forEach((p, i) => {
        expect(p.reduce((a, b) => a + b, 0)).to.be.closeTo(1, 1e-5);
        p.forEach((v, k) => {
          expect(v).to.be.closeTo(flipped[i]?.[k] as number, 1e-4);
        });
      });
      // The head alone tells the two views apart, so the equality above is the averaging's doing.
      const one = (rows: Float32Array[]) => headProbabilities(head, { plain: rows, mirrored: rows })[0] ?? [];
      const difference = one(features.plain).map((v, k) =>
        Math.abs(v - (one(features.mirrored)[k] as number)),
      );
      expect(Math.max(...difference)).to.be.greaterThan(1e-3);
    } finally {
      head.dispose();
    }
  });
});

const require = createRequire(import.meta.url);

describe('the softmax head (trainHead)', function () {
  this.timeout(60_000);
  before(() => initTensorflow());

  /**
   * Two classes that differ in feature 0 only, on features of very unequal scales and offsets (as the
   * backbone's taps are): a head that did not fold the standardization back would misread raw features.
   */
  function dataset(count: number, seed: number, spread = 40) {
    const random = seededRandom(seed);
    const labels = Array.from({ length: count }, (_, i) => i % 2);
    const rows = labels.map((label) =>
      Float32Array.from([
        1000 + 50 * (label * 2 - 1) + spread * (random() - 0.5),
        0.001 * random(),
        5 + random(),
      ]),
    );
    return { features: { plain: rows, mirrored: rows }, labels };
  }
  const hp = {
    epochs: 20,
    batchSize: 16,
    learningRate: 0.05,
    patience: 5,
    seed: 3,
    augment: true,
    side: SIDE,
    scales: 1,
    crossFitFolds: 0,
  };

  it('reads raw features after training on standardized ones, and leaves no tensor behind', async () => {
    const tensorsBefore = tf.memory().numTensors;
    const { model } = await trainHead(dataset(80, 1), dataset(40, 2), { ...hp, l2: 0.001 }, 2, quiet);
    try {
      const test = dataset(200, 9);
      const probabilities = headProbabilities(model, test.features);
      const correct = probabilities.filter((p, i) => p.indexOf(Math.max(...p)) === test.labels[i]).length;
      expect(correct / test.labels.length).to.be.greaterThan(0.95);
      // Saved and loaded, it predicts the same.
      const loaded = await deserializeModel(await serializeModel(model));
      headProbabilities(loaded, test.features).forEach((p, i) => {
        expect(p[0]).to.be.closeTo(probabilities[i]?.[0] as number, 1e-6);
      });
      loaded.dispose();
    } finally {
      model.dispose();
    }
    expect(tf.memory().numTensors, 'tensors left by a training').to.equal(tensorsBefore);
  });

  it("returns the best validation epoch's weights, not the last epoch's", async () => {
    // Overlapping classes and large steps: validation accuracy moves from epoch to epoch.
    const validation = dataset(60, 2, 160);
    const { model, best, epochs } = await trainHead(
      dataset(80, 1, 160),
      validation,
      { ...hp, l2: 0, learningRate: 0.5, patience: 20 },
      2,
      quiet,
    );
    try {
      const top = Math.max(...epochs.map((e) => e.validationAccuracy));
      const chosen = epochs[best.epoch - 1];
      expect(chosen?.validationAccuracy).to.equal(top);
      // Ties go to the lower loss.
      for (const e of epochs)
        if (e.validationAccuracy === top)
          expect(e.validationLoss).to.be.at.least(chosen?.validationLoss as number);
      expect(best.epoch, 'the test needs a best epoch before the last').to.be.below(epochs.length);
      const probabilities = headProbabilities(model, validation.features);
      const right = probabilities.filter((p, i) => p.indexOf(Math.max(...p)) === validation.labels[i]).length;
      expect(right / validation.labels.length).to.be.closeTo(top, 1e-4);
      const loss =
        probabilities.reduce(
          (a, p, i) => a - Math.log(Math.max(p[validation.labels[i] as number] ?? 0, 1e-7)),
          0,
        ) / validation.labels.length;
      expect(loss).to.be.closeTo(chosen?.validationLoss as number, 1e-3);
    } finally {
      model.dispose();
    }
  });

  it('refuses a validation split without images and a single class, saying what to stage', async () => {
    const empty = { features: { plain: [], mirrored: [] }, labels: [] };
    const error = await trainHead(dataset(8, 1), empty, { ...hp, l2: 0 }, 2, quiet).catch((e: Error) => e);
    expect(error)
      .to.be.instanceOf(SconesError)
      .with.property('message')
      .that.matches(/validation split has no images/);
    const single = await trainHead(dataset(8, 1), dataset(4, 2), { ...hp, l2: 0 }, 1, quiet).catch(
      (e: Error) => e,
    );
    expect(single)
      .to.be.instanceOf(SconesError)
      .with.property('message')
      .that.matches(/at least 2/);
  });

  it('names a model an earlier trainer saved (another input shape) and what to do', () => {
    const old = buildHead({ features: 10, classes: 2, seed: 1 });
    const current = buildHead({ features: BACKBONE_FEATURES, classes: 2, seed: 1 });
    try {
      expect(modelProblem(old, 's3://b/models/t-old/')).to.match(
        /s3:\/\/b\/models\/t-old\/ reads inputs of shape \[, 10\].*train again/,
      );
      expect(modelProblem(current, 's3://b/models/t-new/')).to.equal(undefined);
    } finally {
      old.dispose();
      current.dispose();
    }
  });

  it('learns each scale alone (scaleViews): one block read without the other still predicts', async () => {
    // Block 1 (features 0-2) separates the classes by a wide margin, block 2 (3-5) weakly: one head on
    // whole rows leans on block 1 and learns little from block 2; one head per block learns both.
    const twoBlocks = (count: number, seed: number) => {
      const random = seededRandom(seed);
      const labels = Array.from({ length: count }, (_, i) => i % 2);
      const rows = labels.map((label) => {
        const sign = label * 2 - 1;
        return Float32Array.from([
          10 * sign + random(),
          random(),
          random(),
          0.5 * sign + 2 * (random() - 0.5),
          random(),
          random(),
        ]);
      });
      return { features: { plain: rows, mirrored: rows }, labels };
    };
    const { model } = await trainHead(
      twoBlocks(200, 1),
      twoBlocks(60, 2),
      { ...hp, l2: 0.001, scales: 2 },
      2,
      quiet,
    );
    try {
      // Block 1 at its mean, 0.5 for each feature (no evidence either way): only block 2 speaks, which alone
      // is right 75% of the time. Without scaleViews this test reads 0.31 (2026-12-04, scales forced to 1).
      const test = twoBlocks(400, 9);
      const blockTwoOnly = test.features.plain.map((row) =>
        Float32Array.from([0.5, 0.5, 0.5, ...row.slice(3)]),
      );
      const probabilities = headProbabilities(model, { plain: blockTwoOnly, mirrored: blockTwoOnly });
      const right = probabilities.filter((p, i) => p.indexOf(Math.max(...p)) === test.labels[i]).length;
      expect(right / test.labels.length).to.be.greaterThan(0.68);
      const whole = headProbabilities(model, test.features);
      expect(whole.filter((p, i) => p.indexOf(Math.max(...p)) === test.labels[i]).length).to.be.above(390);
    } finally {
      model.dispose();
    }
  });

  it('scores each training image out of fold: a head that memorizes its training images cannot read them', async () => {
    // Random labels on 64 random features: 75 images per fold's head are separable, so a head reads its own
    // training images far above chance, and images it never saw at chance.
    const noise = (count: number, seed: number) => {
      const random = seededRandom(seed);
      const labels = Array.from({ length: count }, () => (random() < 0.5 ? 0 : 1));
      const rows = labels.map(() => Float32Array.from({ length: 64 }, () => random()));
      return { features: { plain: rows, mirrored: rows }, labels };
    };
    const train = noise(100, 5);
    const memorizing = { ...hp, l2: 0, learningRate: 0.05, epochs: 30, patience: 30, crossFitFolds: 4 };
    const accuracyOf = (probabilities: number[][]) =>
      probabilities.filter((p, i) => p.indexOf(Math.max(...p)) === train.labels[i]).length /
      train.labels.length;
    const tensorsBefore = tf.memory().numTensors;
    const outOfFold = await outOfFoldProbabilities(train, noise(40, 6), memorizing, 2, quiet);
    expect(tf.memory().numTensors, 'tensors left by the cross-fitted heads').to.equal(tensorsBefore);
    expect(outOfFold).to.have.length(100);
    expect(outOfFold?.every((p) => p.length === 2)).to.equal(true);
    const { model } = await trainHead(train, noise(40, 6), memorizing, 2, quiet);
    try {
      // Mutation read on 2026-12-04: each fold's head trained on every image reads 0.99 out of fold (0.52 as written).
      expect(accuracyOf(headProbabilities(model, train.features)), 'in sample').to.be.above(0.8);
      expect(accuracyOf(outOfFold as number[][]), 'out of fold').to.be.below(0.65);
    } finally {
      model.dispose();
    }
    expect(
      await outOfFoldProbabilities(train, noise(40, 6), { ...memorizing, crossFitFolds: 0 }, 2, quiet),
    ).to.equal(undefined);
    // Eight classes of one image each deal every image into the first fold: no head would have images.
    const firstEight = train.features.plain.slice(0, 8);
    const oneEach = {
      features: { plain: firstEight, mirrored: firstEight },
      labels: [0, 1, 2, 3, 4, 5, 6, 7],
    };
    expect(await outOfFoldProbabilities(oneEach, noise(40, 6), memorizing, 8, quiet)).to.equal(undefined);
  });

  it('a larger L2 penalty leaves smaller weights', async () => {
    const norm = async (l2: number) => {
      const { model } = await trainHead(
        dataset(80, 1),
        dataset(40, 2),
        { ...hp, l2, patience: 20 },
        2,
        quiet,
      );
      const kernel = model.getWeights()[0] as tf.Tensor;
      const value = tf.tidy(() => tf.sum(tf.square(kernel)).dataSync()[0] as number);
      model.dispose();
      return value;
    };
    expect(await norm(1)).to.be.lessThan((await norm(0)) / 2);
  });
});

describe('the pretrained backbone (loadBackbone)', function () {
  this.timeout(60_000);

  it('refuses files that are not the pinned ones, naming the file and npm ci', () => {
    const packageRoot = join(require.resolve('@vladmandic/human'), '..', '..');
    const { dir, cleanup } = tempDir('backbone-');
    try {
      mkdirSync(join(dir, 'models'));
      for (const file of ['centernet.json', 'centernet.bin'])
        copyFileSync(join(packageRoot, 'models', file), join(dir, 'models', file));
      const weights = readFileSync(join(dir, 'models', 'centernet.bin'));
      weights[1000] = (weights[1000] as number) ^ 1;
      writeFileSync(join(dir, 'models', 'centernet.bin'), weights);
      expect(() => loadBackbone(dir))
        .to.throw(SconesError)
        .with.property('message')
        .that.matches(/centernet\.bin is not the pretrained backbone.*run npm ci/);
    } finally {
      cleanup();
    }
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
