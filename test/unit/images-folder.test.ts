import { existsSync, mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { countsByClass, datasetDigest } from '../../pipeline/data/dataset.js';
import { checkedPngsOf, readImagesFolder } from '../../pipeline/data/images-folder.js';
import { resolveClasses } from '../../pipeline/data/sources.js';
import { syntheticDataset } from '../../pipeline/data/synthetic.js';
import { InputError } from '../../pipeline/errors.js';
import { jpegBytes, pngBytes, writeListLayout } from '../helpers/fixtures.js';
import { tempDir } from '../helpers/workspace.js';

const SHARED = join(import.meta.dirname, '..', '..', '..', 'shared', 'data', 'cifar100-vehicles');
const TWO = resolveClasses([8, 48], 'images:x');
const MAX = 16_777_216;

describe('images folder source', () => {
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => {
    ({ dir, cleanup } = tempDir());
  });
  afterEach(() => cleanup());

  it('reads the list layout (train/, test/, train.lst, test.lst)', () => {
    writeListLayout(dir, { trainPerClass: 3, testPerClass: 2, classes: 2 });
    const dataset = readImagesFolder(dir, TWO, MAX);
    expect(countsByClass(dataset)).to.deep.equal({
      train: { bicycle: 3, motorcycle: 3 },
      // A source has no validation split: stage-data carves it.
      validation: { bicycle: 0, motorcycle: 0 },
      test: { bicycle: 2, motorcycle: 2 },
    });
  });

  it('reads class folders with PNG, JPEG and grayscale images, converting JPEG to PNG', () => {
    for (const split of ['train', 'test']) {
      mkdirSync(join(dir, split, 'bicycle'), { recursive: true });
      mkdirSync(join(dir, split, 'motorcycle'), { recursive: true });
      writeFileSync(join(dir, split, 'bicycle', 'a.png'), pngBytes(8, 8, 1));
      writeFileSync(join(dir, split, 'bicycle', 'b.png'), pngBytes(8, 8, 2, { colorType: 0 }));
      writeFileSync(join(dir, split, 'motorcycle', 'c.jpg'), jpegBytes(8, 8, 3));
    }
    const dataset = readImagesFolder(dir, TWO, MAX);
    expect(countsByClass(dataset).train).to.deep.equal({ bicycle: 2, motorcycle: 1 });
    const converted = dataset.images.find((i) => i.label === 1);
    expect(converted?.name).to.equal('motorcycle_c.png');
    expect(converted?.png.subarray(1, 4).toString()).to.equal('PNG');
  });

  it('decodes again only bytes it has not checked: a changed image is found whatever its size and time', () => {
    writeListLayout(dir, { trainPerClass: 3, testPerClass: 2, classes: 2 });
    const first = readImagesFolder(dir, TWO, MAX);
    const checked = checkedPngsOf(first);
    expect(checked.size).to.equal(10);
    // The memo is what is trusted: a recorded size stands in for the decode.
    const file = join(dir, 'train', 'img_0_0.png');
    const digest = [...checked.keys()][0]!;
    const again = readImagesFolder(dir, TWO, MAX, undefined, new Map([...checked, [digest, [7, 9]]]));
    expect(again.images.map((i) => [i.width, i.height])).to.deep.include([7, 9]);
    expect(datasetDigest(readImagesFolder(dir, TWO, MAX, undefined, checked))).to.equal(datasetDigest(first));
    // Other bytes of the same size, with the old time put back: a new digest, decoded and refused.
    const { size, atime, mtime } = statSync(file);
    const corrupt = Buffer.from(readFileSync(file));
    corrupt.fill(0, 40);
    writeFileSync(file, corrupt);
    utimesSync(file, atime, mtime);
    expect(statSync(file).size).to.equal(size);
    expect(() => readImagesFolder(dir, TWO, MAX, undefined, checked)).to.throw(
      InputError,
      /img_0_0\.png.* corrupt PNG/,
    );
    // Another valid image: the dataset's digest changes.
    writeFileSync(file, pngBytes(8, 8, 99));
    expect(datasetDigest(readImagesFolder(dir, TWO, MAX, undefined, checked))).to.not.equal(
      datasetDigest(first),
    );
  });

  const broken: [string, (dir: string) => void, RegExp][] = [
    [
      'a .lst line naming a missing file',
      (d) => writeFileSync(join(d, 'train.lst'), '0\t0\tmissing.png\n'),
      /train\.lst line 1: train\/missing\.png does not exist/,
    ],
    [
      'an unknown label',
      (d) => writeFileSync(join(d, 'test.lst'), '0\t5\timg_0_0.png\n'),
      /test\.lst line 1: label 5 is not a configured class/,
    ],
    [
      'a path escaping the folder',
      (d) => writeFileSync(join(d, 'train.lst'), '0\t0\t../../etc/passwd\n'),
      /train\.lst line 1: path "\.\.\/\.\.\/etc\/passwd"/,
    ],
    [
      'an empty split',
      (d) => writeFileSync(join(d, 'test.lst'), ''),
      /test\.lst lists no images: the test split is empty/,
    ],
    [
      'a corrupt image',
      (d) => writeFileSync(join(d, 'train', 'img_0_0.png'), 'garbage'),
      /train\.lst line 1 \(train\/img_0_0\.png\) is not a PNG or JPEG/,
    ],
  ];
  for (const [name, breakIt, message] of broken) {
    it(`rejects ${name}, naming the file and line`, () => {
      writeListLayout(dir, { trainPerClass: 2, testPerClass: 1, classes: 2 });
      breakIt(dir);
      expect(() => readImagesFolder(dir, TWO, MAX)).to.throw(InputError, message);
    });
  }

  it('rejects an unknown class folder and a non-image file', () => {
    mkdirSync(join(dir, 'train', 'unicycle'), { recursive: true });
    expect(() => readImagesFolder(dir, TWO, MAX)).to.throw(InputError, /unknown class "unicycle"/);
    cleanup();
    mkdirSync(join(dir, 'train', 'bicycle'), { recursive: true });
    writeFileSync(join(dir, 'train', 'bicycle', 'notes.txt'), 'hello');
    expect(() => readImagesFolder(dir, TWO, MAX)).to.throw(
      InputError,
      /notes\.txt is not a \.png, \.jpg or \.jpeg image/,
    );
  });

  it('rejects a missing folder with the fix', () => {
    expect(() => readImagesFolder(join(dir, 'nope'), TWO, MAX)).to.throw(
      InputError,
      /does not exist: pass --source images:DIR/,
    );
  });

  it('reads the real 1200-image subset where it is present', function () {
    if (!existsSync(SHARED)) {
      this.skip(); // The shared data folder is absent on this machine: nothing real to read.
    }
    const dataset = readImagesFolder(SHARED, TWO, MAX);
    expect(countsByClass(dataset)).to.deep.equal({
      train: { bicycle: 500, motorcycle: 500 },
      validation: { bicycle: 0, motorcycle: 0 },
      test: { bicycle: 100, motorcycle: 100 },
    });
  });
});

describe('dataset digest', () => {
  const classes = resolveClasses(['red', 'green'], 'synthetic');
  const options = { classes, trainPerClass: 3, testPerClass: 1, imageSize: 8, seed: 4 };

  it('is stable for the same content, whatever the order', () => {
    const a = syntheticDataset(options);
    const b = syntheticDataset(options);
    expect(datasetDigest(a)).to.equal(datasetDigest({ ...b, images: [...b.images].reverse() }));
  });

  it('changes when one pixel changes', async () => {
    const a = syntheticDataset(options);
    const { PNG } = await import('pngjs');
    const first = a.images[0]!;
    const png = PNG.sync.read(first.png);
    png.data[0] = (png.data[0]! + 1) % 256;
    const changed = { ...a, images: [{ ...first, png: PNG.sync.write(png) }, ...a.images.slice(1)] };
    expect(datasetDigest(changed)).to.not.equal(datasetDigest(a));
  });

  it('changes with the labels and the seed', () => {
    const a = syntheticDataset(options);
    const relabelled = { ...a, images: a.images.map((i, n) => (n === 0 ? { ...i, label: 1 } : i)) };
    expect(datasetDigest(relabelled)).to.not.equal(datasetDigest(a));
    expect(datasetDigest(syntheticDataset({ ...options, seed: 5 }))).to.not.equal(datasetDigest(a));
  });
});
