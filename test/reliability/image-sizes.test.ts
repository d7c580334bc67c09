import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { PNG } from 'pngjs';
import { sagemakerHyperparametersFor } from '../../pipeline/backends/aws/sagemaker-trainer.js';
import { openLocalBackend } from '../../pipeline/backends/local/backend.js';
import { imageToInput } from '../../pipeline/backends/local/model.js';
import { initTensorflow } from '../../pipeline/backends/local/tf.js';
import { readSplit } from '../../pipeline/backends/local/trainer.js';
import { DATASET_SPLITS, datasetImagesPrefix, datasetListKey } from '../../pipeline/contracts/layout.js';
import { decodeImage, resizeBilinear } from '../../pipeline/data/image.js';
import { datasetRecordSchema } from '../../pipeline/manifest.js';
import { parseLst } from '../../pipeline/util/lst.js';
import { pngBytes, randomPixels } from '../helpers/fixtures.js';
import { captureReporter, runCli, tempDir, testConfig } from '../helpers/workspace.js';

describe('reliability: images of other sizes train alike on both backends', function () {
  this.timeout(120_000);
  let dir: string;
  let cleanup: () => void;
  before(() => ({ dir, cleanup } = tempDir()));
  after(() => cleanup());

  it('one rule: staged at one square size with a warning, and the local trainer and SageMaker read the same pixels', async () => {
    const images = join(dir, 'images');
    let seed = 1;
    for (const split of ['train', 'test'])
      for (const cls of ['bicycle', 'motorcycle']) {
        mkdirSync(join(images, split, cls), { recursive: true });
        for (let i = 0; i < 4; i++)
          writeFileSync(join(images, split, cls, `${i}.png`), pngBytes(8, 8, seed++));
      }
    writeFileSync(join(images, 'train', 'bicycle', 'wide.png'), pngBytes(12, 10, seed++));
    writeFileSync(join(images, 'train', 'motorcycle', 'small.png'), pngBytes(5, 7, seed++));
    writeFileSync(join(images, 'test', 'bicycle', 'large.png'), pngBytes(16, 16, seed++));

    const staged = await runCli(['stage-data', '--source', `images:${images}`, '--json'], { cwd: dir });
    expect(staged.code, staged.stderr).to.equal(0);
    expect(staged.stderr).to.match(
      /images of other sizes staged resized to 8x8 .*: 1 of 12x10, 1 of 5x7, 1 of 16x16/,
    );
    const record = datasetRecordSchema.parse(JSON.parse(staged.stdout).outputs);
    expect(record.imageShape).to.deep.equal([3, 8, 8]);
    const config = testConfig({ workDir: join(dir, '.scones') });
    // SageMaker's algorithm is told the one shape every staged image has: nothing for it to resize or crop.
    const hyperparameters = sagemakerHyperparametersFor(config, record);
    expect(hyperparameters.image_shape).to.equal('3,8,8');
    expect(hyperparameters).to.not.have.property('resize');

    const backend = await openLocalBackend(config);
    try {
      const { reporter } = captureReporter();
      for (const split of DATASET_SPLITS) {
        // The local trainer's view: its own reader.
        const local = await readSplit(backend.store, record.prefix, split, 8, reporter);
        // SageMaker's view: each image the .lst names, as stored, RGB scaled to [0, 1].
        const lstKey = datasetListKey(record.prefix, split);
        const entries = parseLst(Buffer.from(await backend.store.get(lstKey)).toString(), lstKey);
        expect(local.paths).to.deep.equal(entries.map((e) => e.path));
        for (const [i, entry] of entries.entries()) {
          const png = PNG.sync.read(
            Buffer.from(await backend.store.get(`${datasetImagesPrefix(record.prefix, split)}${entry.path}`)),
          );
          expect([png.width, png.height], `${split}/${entry.path}`).to.deep.equal([8, 8]);
          const rgb = Float32Array.from(
            { length: 8 * 8 * 3 },
            (_, k) => (png.data[Math.floor(k / 3) * 4 + (k % 3)] as number) / 255,
          );
          expect(Array.from(local.inputs[i] as Float32Array), `${split}/${entry.path}`).to.deep.equal(
            Array.from(rgb),
          );
        }
      }
    } finally {
      await backend.close();
    }
  });

  it('the staging resize is the local model resize (tf.image.resizeBilinear), to the rounding of a byte', async () => {
    await initTensorflow();
    for (const [width, height] of [
      [12, 10],
      [5, 7],
      [16, 16],
      [33, 9],
    ] as const) {
      const image = { width, height, data: randomPixels(width, height, width * height) };
      const ours = resizeBilinear(image, 8, 8);
      const model = imageToInput(image, 8);
      for (let p = 0; p < 64; p++)
        for (let c = 0; c < 3; c++)
          expect(
            Math.abs((ours.data[p * 4 + c] as number) - (model[p * 3 + c] as number) * 255),
            `${width}x${height}`,
          ).to.be.at.most(0.5001);
      // and what is staged decodes to exactly these bytes
      expect(decodeImage(Buffer.from(pngOf(ours)), 'resized', 64).data.length).to.equal(256);
    }
  });
});

function pngOf(image: { width: number; height: number; data: Uint8Array }): Buffer {
  const png = new PNG({ width: image.width, height: image.height });
  png.data = Buffer.from(image.data);
  return PNG.sync.write(png);
}
