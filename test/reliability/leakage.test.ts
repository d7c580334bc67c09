import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { carveValidation, type SourceDataset } from '../../pipeline/data/dataset.js';
import { datasetRecordSchema } from '../../pipeline/manifest.js';
import { pngBytes, writeListLayout } from '../helpers/fixtures.js';
import { runCli, tempDir } from '../helpers/workspace.js';
import { figures } from './figures.js';

/** Class folders train/<class>/ and test/<class>/ with `perClass` distinct images each. */
function writeClassFolders(dir: string, perClass: number): void {
  let seed = 100;
  for (const split of ['train', 'test'])
    for (const cls of ['bicycle', 'motorcycle']) {
      mkdirSync(join(dir, split, cls), { recursive: true });
      for (let i = 0; i < perClass; i++)
        writeFileSync(join(dir, split, cls, `${i}.png`), pngBytes(8, 8, seed++));
    }
}

describe('reliability: train/test leakage is refused at stage-data, naming the files', function () {
  this.timeout(120_000);
  let dir: string;
  let cleanup: () => void;
  before(() => {
    ({ dir, cleanup } = tempDir());
  });
  after(() => cleanup());

  const cases: [string, (images: string) => void, RegExp][] = [
    [
      'the same bytes in train and test under another name',
      (images) => {
        writeListLayout(images, { trainPerClass: 3, testPerClass: 2, classes: 2 });
        copyFileSync(join(images, 'train', 'img_0_1.png'), join(images, 'test', 'renamed.png'));
        writeFileSync(
          join(images, 'test.lst'),
          `${readFileSync(join(images, 'test.lst'), 'utf8')}9\t0\trenamed.png\n`,
        );
      },
      /the same image in train and test \(leakage\): \S*train\.lst line 2 \(train\/img_0_1\.png\) \(train, bicycle\) = \S*test\.lst line 5 \(test\/renamed\.png\) \(test, bicycle\)/,
    ],
    [
      'the same image under two labels',
      (images) => {
        writeClassFolders(images, 3);
        copyFileSync(
          join(images, 'train', 'bicycle', '0.png'),
          join(images, 'train', 'motorcycle', 'copy.png'),
        );
      },
      /the same image under two labels: .*train\/bicycle\/0\.png \(train, bicycle\) = .*train\/motorcycle\/copy\.png \(train, motorcycle\)/,
    ],
    [
      'one file listed twice',
      (images) => {
        writeListLayout(images, { trainPerClass: 3, testPerClass: 2, classes: 2 });
        writeFileSync(
          join(images, 'train.lst'),
          `${readFileSync(join(images, 'train.lst'), 'utf8')}9\t0\timg_0_2.png\n`,
        );
      },
      /train\.lst lines 3 and 7 both list train\/img_0_2\.png: list each file once/,
    ],
    [
      'a copy within one split, without the override',
      (images) => {
        writeClassFolders(images, 3);
        copyFileSync(
          join(images, 'test', 'motorcycle', '1.png'),
          join(images, 'test', 'motorcycle', 'again.png'),
        );
      },
      /the same image twice in one split: .*test\/motorcycle\/1\.png \(test, motorcycle\) = .*test\/motorcycle\/again\.png[\s\S]*data\.allowDuplicatesWithinSplit=true/,
    ],
  ];
  for (const [name, prepare, message] of cases)
    it(`${name}: exit 1, the files named, nothing staged`, async () => {
      const images = join(dir, name.replace(/\W+/g, '-'));
      prepare(images);
      const runId = `leak-${name.replace(/\W+/g, '-')}`;
      const result = await runCli(['stage-data', '--source', `images:${images}`, '--run-id', runId], {
        cwd: dir,
      });
      figures.badInputsTried++;
      expect(result.code, result.stderr).to.equal(1);
      expect(result.stderr.match(message), result.stderr).to.not.equal(null);
      expect(existsSync(join(dir, '.scones', 'runs', runId, 'manifest.json'))).to.equal(false);
      figures.badInputsClearErrors++;
    });

  it('copies within one split pass with data.allowDuplicatesWithinSplit, and the record counts them', async () => {
    const images = join(dir, 'allowed');
    writeClassFolders(images, 4);
    copyFileSync(join(images, 'train', 'bicycle', '0.png'), join(images, 'train', 'bicycle', 'copy-a.png'));
    copyFileSync(join(images, 'train', 'bicycle', '0.png'), join(images, 'train', 'bicycle', 'copy-b.png'));
    const result = await runCli(
      [
        'stage-data',
        '--source',
        `images:${images}`,
        '--set',
        'data.allowDuplicatesWithinSplit=true',
        '--json',
      ],
      { cwd: dir },
    );
    expect(result.code, result.stderr).to.equal(0);
    expect(JSON.parse(result.stdout).outputs.duplicates).to.equal(2);
    expect(result.stderr).to.match(/2 images are exact copies of another in the same split/);
    const clean = join(dir, 'clean');
    writeClassFolders(clean, 4);
    const cleanResult = await runCli(['stage-data', '--source', `images:${clean}`, '--json'], { cwd: dir });
    expect(cleanResult.code, cleanResult.stderr).to.equal(0);
    expect(JSON.parse(cleanResult.stdout).outputs.duplicates).to.equal(0);
  });

  it('the validation carve keeps copies of one image together (never one in train, one in validation)', () => {
    const png = (seed: number) => pngBytes(4, 4, seed);
    const shared = png(1);
    const images = Array.from({ length: 20 }, (_, i) => ({
      split: 'train' as const,
      label: 0,
      name: `${i}.png`,
      png: i < 6 ? shared : png(i + 10),
      width: 4,
      height: 4,
    }));
    const dataset: SourceDataset = { source: 'test', classes: [{ label: 0, name: 'a' }], images };
    // Across fractions, the 6 copies land in one split whichever of them the seeded shuffle picks.
    for (const fraction of [0.05, 0.1, 0.2, 0.3, 0.5]) {
      const carved = carveValidation(dataset, fraction);
      const splits = new Set(
        carved.images.filter((image) => image.png === shared).map((image) => image.split),
      );
      expect([...splits], `fraction ${fraction}`).to.have.length(1);
    }
  });

  it('a dataset record staged before duplicates were counted still parses', () => {
    const older = {
      digest: 'd',
      source: 'synthetic',
      uri: 's3://b/datasets/d/',
      prefix: 'datasets/d/',
      classes: [{ label: 0, name: 'a' }],
      counts: { train: { a: 1 }, test: { a: 1 } },
      totals: { train: 1, test: 1 },
      imageShape: [3, 32, 32],
    };
    const parsed = datasetRecordSchema.parse(older);
    expect(parsed.duplicates).to.equal(undefined);
    expect(datasetRecordSchema.parse({ ...older, duplicates: 3 }).duplicates).to.equal(3);
  });
});
