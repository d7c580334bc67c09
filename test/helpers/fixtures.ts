import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { create as createTar } from 'tar';
import { CIFAR_RECORD_BYTES, CIFAR100_FINE_LABELS } from '../../pipeline/data/cifar100.js';
import { seededRandom } from '../../pipeline/util/random.js';

/** A random RGBA image. */
export function randomPixels(width: number, height: number, seed: number): Uint8Array {
  const random = seededRandom(seed);
  const data = new Uint8Array(width * height * 4);
  for (let i = 0; i < data.length; i++) data[i] = i % 4 === 3 ? 255 : Math.floor(random() * 256);
  return data;
}

export function pngBytes(
  width: number,
  height: number,
  seed: number,
  options: { colorType?: 0 | 2 | 6; data?: Uint8Array } = {},
): Buffer {
  const png = new PNG({ width, height });
  png.data = Buffer.from(options.data ?? randomPixels(width, height, seed));
  return PNG.sync.write(png, { colorType: options.colorType ?? 6 });
}

export function jpegBytes(width: number, height: number, seed: number): Buffer {
  return jpeg.encode({ width, height, data: Buffer.from(randomPixels(width, height, seed)) }, 90).data;
}

/** A PNG whose header declares width x height but carries almost no data (a decompression bomb). */
export function bombPng(width: number, height: number): Buffer {
  const small = pngBytes(1, 1, 1);
  const bomb = Buffer.from(small);
  bomb.writeUInt32BE(width, 16);
  bomb.writeUInt32BE(height, 20);
  return bomb;
}

/**
 * Writes a CIFAR-100 *binary version* archive in the real format: `cifar-100-binary/` with
 * train.bin and test.bin (records of coarse label, fine label, 3072 planar RGB bytes) and the label
 * name files. `perClass` records are written for each fine label in `fineLabels`, plus one record of
 * an unselected class per split so selection is exercised.
 */
export async function writeCifarArchive(
  dir: string,
  options: { fineLabels: number[]; trainPerClass: number; testPerClass: number; seed?: number },
): Promise<string> {
  const root = join(dir, 'cifar-src');
  const folder = join(root, 'cifar-100-binary');
  mkdirSync(folder, { recursive: true });
  const random = seededRandom(options.seed ?? 1);
  const records = (perClass: number) => {
    const labels = [...options.fineLabels.flatMap((label) => Array<number>(perClass).fill(label)), 99];
    const buffer = Buffer.alloc(labels.length * CIFAR_RECORD_BYTES);
    labels.forEach((label, i) => {
      const offset = i * CIFAR_RECORD_BYTES;
      buffer[offset] = Math.floor(label / 5);
      buffer[offset + 1] = label;
      for (let p = 2; p < CIFAR_RECORD_BYTES; p++) buffer[offset + p] = Math.floor(random() * 256);
    });
    return buffer;
  };
  writeFileSync(join(folder, 'train.bin'), records(options.trainPerClass));
  writeFileSync(join(folder, 'test.bin'), records(options.testPerClass));
  writeFileSync(join(folder, 'fine_label_names.txt'), `${CIFAR100_FINE_LABELS.join('\n')}\n`);
  writeFileSync(join(folder, 'coarse_label_names.txt'), 'aquatic_mammals\nfish\n');
  const archive = join(dir, 'cifar-100-binary.tar.gz');
  await createTar({ gzip: true, file: archive, cwd: root, portable: true }, ['cifar-100-binary']);
  return archive;
}

/** An images folder in the list layout (train/, test/, train.lst, test.lst). */
export function writeListLayout(
  dir: string,
  options: { trainPerClass: number; testPerClass: number; classes: number },
): void {
  for (const [split, perClass] of [
    ['train', options.trainPerClass],
    ['test', options.testPerClass],
  ] as const) {
    mkdirSync(join(dir, split), { recursive: true });
    const lines: string[] = [];
    let index = 0;
    for (let label = 0; label < options.classes; label++) {
      for (let i = 0; i < perClass; i++) {
        const name = `img_${label}_${i}.png`;
        writeFileSync(
          join(dir, split, name),
          pngBytes(8, 8, index * 31 + label + (split === 'test' ? 7 : 0)),
        );
        lines.push(`${index}\t${label}\t${name}`);
        index++;
      }
    }
    writeFileSync(join(dir, `${split}.lst`), `${lines.join('\n')}\n`);
  }
}
