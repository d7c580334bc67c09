import { expect } from 'chai';
import { PNG } from 'pngjs';
import {
  decodeImage,
  encodePng,
  endpointPixelLimit,
  rgbaFromPlanar,
  shrinkByBlocks,
  sniffImageFormat,
} from '../../pipeline/data/image.js';
import { InputError } from '../../pipeline/errors.js';
import { formatLst, parseLst } from '../../pipeline/util/lst.js';
import { bombPng, jpegBytes, pngBytes, randomPixels } from '../helpers/fixtures.js';

describe('images', () => {
  it('shrinks a large image by averaging whole blocks, and leaves a small one as it is', () => {
    // Prepare: 300x260, each pixel's red = its column, green = its row, blue 10, alpha 255.
    const width = 300;
    const height = 260;
    const data = new Uint8Array(width * height * 4);
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) data.set([x % 256, y % 256, 10, 255], (y * width + x) * 4);
    // Act: for a 32x32 model, blocks of floor(300 / 128) = 2
    const shrunk = shrinkByBlocks({ width, height, data }, 32);
    // Assess: the mean of each 2x2 block, computed here from the source pixels
    expect(shrunk).to.include({ width: 150, height: 130 });
    for (const [x, y] of [
      [0, 0],
      [37, 91],
      [149, 129],
    ] as const) {
      const mean = (channel: number) =>
        Math.round(
          [0, 1]
            .flatMap((dy) =>
              [0, 1].map((dx) => data[((2 * y + dy) * width + 2 * x + dx) * 4 + channel] as number),
            )
            .reduce((a, b) => a + b, 0) / 4,
        );
      expect(Array.from(shrunk.data.subarray((y * 150 + x) * 4, (y * 150 + x) * 4 + 4))).to.deep.equal([
        mean(0),
        mean(1),
        10,
        255,
      ]);
    }
    const small = { width: 100, height: 100, data: new Uint8Array(100 * 100 * 4) };
    expect(shrinkByBlocks(small, 32)).to.equal(small);
  });

  it("bounds the endpoint's decoded pixels by its model's input side, never above 4096x4096", () => {
    expect(endpointPixelLimit(32)).to.equal(2048 * 2048);
    expect(endpointPixelLimit(16)).to.equal(1024 * 1024);
    expect(endpointPixelLimit(224)).to.equal(4096 * 4096);
  });

  it('decodes RGBA, RGB and grayscale PNGs and JPEGs to RGBA', () => {
    for (const colorType of [6, 2, 0] as const) {
      const decoded = decodeImage(pngBytes(5, 4, 3, { colorType }), 'x.png', 1000);
      expect(decoded).to.include({ format: 'png', width: 5, height: 4 });
      expect(decoded.data).to.have.length(5 * 4 * 4);
    }
    const jpg = decodeImage(jpegBytes(16, 8, 2), 'x.jpg', 1000);
    expect(jpg).to.include({ format: 'jpeg', width: 16, height: 8 });
  });

  it('round-trips pixels through encodePng exactly (alpha dropped)', () => {
    const data = randomPixels(6, 6, 9);
    const png = PNG.sync.read(encodePng({ width: 6, height: 6, data }));
    for (let i = 0; i < 36; i++)
      expect([...png.data.subarray(i * 4, i * 4 + 3)]).to.deep.equal([...data.subarray(i * 4, i * 4 + 3)]);
  });

  it('converts CIFAR planar RGB to RGBA', () => {
    const planar = new Uint8Array(12);
    planar.set([1, 2, 3, 4], 0);
    planar.set([5, 6, 7, 8], 4);
    planar.set([9, 10, 11, 12], 8);
    const rgba = rgbaFromPlanar(planar, 2, 2);
    expect([...rgba.data.subarray(0, 8)]).to.deep.equal([1, 5, 9, 255, 2, 6, 10, 255]);
  });

  const bad: [string, Uint8Array, RegExp][] = [
    ['a zero-byte file', new Uint8Array(0), /bad\.png is empty \(0 bytes\)/],
    ['a non-image', Buffer.from('hello, not an image'), /bad\.png is not a PNG or JPEG/],
    ['a corrupt PNG', pngBytes(4, 4, 1).subarray(0, 40), /bad\.png is a corrupt PNG/],
    ['a decompression bomb', bombPng(50000, 50000), /declares 50000x50000 pixels.*refused before decoding/],
  ];
  for (const [name, bytes, message] of bad) {
    it(`refuses ${name} with an error naming the file`, () => {
      expect(() => decodeImage(bytes, 'bad.png', 16_777_216)).to.throw(InputError, message);
    });
  }

  it('sniffs formats by magic bytes, not names', () => {
    expect(sniffImageFormat(pngBytes(1, 1, 1))).to.equal('png');
    expect(sniffImageFormat(jpegBytes(8, 8, 1))).to.equal('jpeg');
    expect(sniffImageFormat(Buffer.from('GIF89a'))).to.equal(undefined);
  });
});

describe('.lst files', () => {
  it('parses and formats the tab-separated list format', () => {
    const text = formatLst([
      { index: 0, label: 1, path: 'a.png' },
      { index: 1, label: 0, path: 'b.png' },
    ]);
    expect(text).to.equal('0\t1\ta.png\n1\t0\tb.png\n');
    expect(parseLst(text, 'x.lst').map((e) => [e.label, e.path])).to.deep.equal([
      [1, 'a.png'],
      [0, 'b.png'],
    ]);
  });

  const bad: [string, string, RegExp][] = [
    ['too few fields', '0\t1\n', /x\.lst line 1: expected 3 tab-separated fields/],
    ['a non-integer label', '0\t1\ta.png\n1\tcat\tb.png\n', /x\.lst line 2: label "cat"/],
    ['a negative index', '-1\t0\ta.png\n', /x\.lst line 1: index "-1"/],
    [
      'a path escaping the folder',
      '0\t0\t../../etc/passwd\n',
      /x\.lst line 1: path "\.\.\/\.\.\/etc\/passwd" must be relative and stay inside/,
    ],
    ['an absolute path', '0\t0\t/etc/passwd\n', /x\.lst line 1: path "\/etc\/passwd"/],
  ];
  for (const [name, text, message] of bad) {
    it(`rejects ${name}, naming file and line`, () => {
      expect(() => parseLst(text, 'x.lst')).to.throw(InputError, message);
    });
  }
});
