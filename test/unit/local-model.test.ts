import { expect } from 'chai';
import {
  buildModel,
  deserializeModel,
  fillBatch,
  MODEL_FILES,
  predictProbabilities,
} from '../../pipeline/backends/local/model.js';
import { initTensorflow, tf } from '../../pipeline/backends/local/tf.js';
import { cosineLearningRate, earlyStopEpoch, LocalTrainer } from '../../pipeline/backends/local/trainer.js';
import { datasetImagesPrefix, datasetListKey } from '../../pipeline/contracts/layout.js';
import type { DatasetRecord } from '../../pipeline/manifest.js';
import { formatLst } from '../../pipeline/util/lst.js';
import { seededRandom } from '../../pipeline/util/random.js';
import { fakeDataset, MemoryObjectStore } from '../helpers/fake-backend.js';
import { pngBytes } from '../helpers/fixtures.js';
import { captureReporter, testConfig } from '../helpers/workspace.js';

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

describe('local trainer: weight averaging (train.averageLastEpochs)', function () {
  this.timeout(60_000);
  before(() => initTensorflow('wasm'));

  /** Two classes of 8x8 images staged in memory as stage-data lays them out: 8 train, 2 validation each. */
  async function stagedStore(): Promise<{ store: MemoryObjectStore; dataset: DatasetRecord }> {
    const store = new MemoryObjectStore();
    const prefix = 'datasets/avg/';
    for (const [split, perClass] of [
      ['train', 8],
      ['validation', 2],
      ['test', 1],
    ] as const) {
      const entries = Array.from({ length: perClass * 2 }, (_, index) => ({
        index,
        label: index % 2,
        path: `${split}-${index}.png`,
      }));
      await store.put(datasetListKey(prefix, split), formatLst(entries));
      for (const e of entries)
        await store.put(
          `${datasetImagesPrefix(prefix, split)}${e.path}`,
          pngBytes(SIDE, SIDE, e.index * 7 + e.label),
        );
    }
    const dataset: DatasetRecord = {
      ...fakeDataset,
      prefix,
      totals: { train: 16, validation: 4, test: 2 },
      imageShape: [3, SIDE, SIDE],
    };
    return { store, dataset };
  }

  async function train(averageLastEpochs: number) {
    const { store, dataset } = await stagedStore();
    const epochs: number[][][] = [];
    const trainer = new LocalTrainer(store, Date.now, (_epoch, model) => {
      epochs.push(model.getWeights().map((w) => Array.from(w.dataSync())));
    });
    const config = testConfig({
      'train.epochs': 4,
      'train.batchSize': 8,
      'train.averageLastEpochs': averageLastEpochs,
    });
    const record = await trainer.train(
      {
        trainingId: `avg-${averageLastEpochs}`,
        runId: 'r',
        dataset: {
          digest: dataset.digest,
          prefix: dataset.prefix,
          classes: ['bicycle', 'motorcycle'],
          imageShape: dataset.imageShape,
          counts: dataset.totals,
        },
        hyperparameters: trainer.hyperparameters(config, dataset),
      },
      captureReporter().reporter,
    );
    const prefix = `models/avg-${averageLastEpochs}/`;
    const saved = await deserializeModel({
      modelJson: Buffer.from(await store.get(`${prefix}${MODEL_FILES.modelJson}`)).toString('utf8'),
      weights: await store.get(`${prefix}${MODEL_FILES.weights}`),
    });
    const weights = saved.getWeights().map((w) => Array.from(w.dataSync()));
    saved.dispose();
    return { record, epochs, weights };
  }

  const expectClose = (actual: number[][], expected: number[][]) => {
    expect(actual.length).to.equal(expected.length);
    actual.forEach((tensor, i) => {
      tensor.forEach((v, k) => {
        expect(v).to.be.closeTo(expected[i]?.[k] as number, 1e-5);
      });
    });
  };

  it('saves the mean of the best epoch and the last epochs; with 0, the best epoch alone', async () => {
    const averaged = await train(2);
    const best = averaged.record.bestEpoch as number;
    const members = [...new Set([best, 3, 4])].map((e) => averaged.epochs[e - 1] as number[][]);
    const mean = members[0]!.map((tensor, i) =>
      tensor.map((_, k) => members.reduce((sum, m) => sum + (m[i]?.[k] as number), 0) / members.length),
    );
    expectClose(averaged.weights, mean);
    expect(averaged.record.hyperparameters).to.include({ averageLastEpochs: 2 });

    const alone = await train(0);
    expectClose(alone.weights, alone.epochs[(alone.record.bestEpoch as number) - 1] as number[][]);
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
