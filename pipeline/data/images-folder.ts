import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, extname, join, relative, resolve } from 'node:path';
import { InputError } from '../errors.js';
import type { ClassInfo, LabeledImage, SourceDataset, Split } from './dataset.js';
import { SPLITS } from './dataset.js';
import { decodeImage, encodePng } from './image.js';
import { parseLst } from './lst.js';

const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg']);

/**
 * Reads a folder in either layout:
 * - list layout: `train/`, `test/`, `train.lst`, `test.lst` (labels 0..N-1 in the configured class order);
 * - class folders: `train/<class>/*`, `test/<class>/*` (folder names are configured class names).
 * Every image is decoded to check it; PNGs are kept byte for byte, JPEGs become PNGs.
 */
export function readImagesFolder(
  dir: string,
  classes: readonly ClassInfo[],
  maxPixels: number,
): SourceDataset {
  const root = resolve(dir);
  if (!existsSync(root) || !statSync(root).isDirectory())
    throw new InputError(
      `images folder ${dir} does not exist: pass --source images:DIR with a folder that has train/ and test/`,
    );
  const hasLists = existsSync(join(root, 'train.lst')) || existsSync(join(root, 'test.lst'));
  const images = hasLists
    ? readListLayout(root, classes, maxPixels)
    : readClassFolders(root, classes, maxPixels);
  for (const split of SPLITS) {
    if (!images.some((image) => image.split === split))
      throw new InputError(`images folder ${dir}: the ${split} split is empty; add images under ${split}/`);
  }
  return { source: `images:${dir}`, classes: [...classes], images };
}

function readListLayout(root: string, classes: readonly ClassInfo[], maxPixels: number): LabeledImage[] {
  const images: LabeledImage[] = [];
  for (const split of SPLITS) {
    const listFile = join(root, `${split}.lst`);
    const shown = relative(process.cwd(), listFile) || listFile;
    if (!existsSync(listFile))
      throw new InputError(`${shown} is missing: the list layout needs train.lst and test.lst`);
    const entries = parseLst(readFileSync(listFile, 'utf8'), shown);
    if (entries.length === 0) throw new InputError(`${shown} lists no images: the ${split} split is empty`);
    const names = new Set<string>();
    for (const entry of entries) {
      if (classes[entry.label] === undefined)
        throw new InputError(
          `${shown} line ${entry.line}: label ${entry.label} is not a configured class ` +
            `(data.classes has ${classes.length}: ${classes.map((c) => `${c.label}=${c.name}`).join(', ')})`,
        );
      const file = join(root, split, entry.path);
      if (!existsSync(file))
        throw new InputError(
          `${shown} line ${entry.line}: ${join(split, entry.path)} does not exist in ${root}`,
        );
      const name = uniqueName(entry.path.replaceAll('/', '_'), names);
      images.push(
        loadImage(
          file,
          `${shown} line ${entry.line} (${join(split, entry.path)})`,
          split,
          entry.label,
          name,
          maxPixels,
        ),
      );
    }
  }
  return images;
}

function readClassFolders(root: string, classes: readonly ClassInfo[], maxPixels: number): LabeledImage[] {
  const byName = new Map(classes.map((c) => [c.name, c]));
  const images: LabeledImage[] = [];
  for (const split of SPLITS) {
    const splitDir = join(root, split);
    if (!existsSync(splitDir))
      throw new InputError(
        `${splitDir} is missing: use train/<class>/ and test/<class>/ folders, or train.lst and test.lst`,
      );
    const names = new Set<string>();
    for (const folder of readdirSync(splitDir, { withFileTypes: true })) {
      if (!folder.isDirectory()) continue;
      const cls = byName.get(folder.name);
      if (cls === undefined)
        throw new InputError(
          `${join(splitDir, folder.name)}: unknown class "${folder.name}"; configured classes (data.classes) are ` +
            `${classes.map((c) => c.name).join(', ')}: rename the folder or change data.classes`,
        );
      for (const file of readdirSync(join(splitDir, folder.name)).sort()) {
        const path = join(splitDir, folder.name, file);
        if (!statSync(path).isFile() || file.startsWith('.')) continue;
        if (!IMAGE_EXTENSIONS.has(extname(file).toLowerCase()))
          throw new InputError(
            `${path} is not a .png, .jpg or .jpeg image: remove it from the images folder`,
          );
        images.push(
          loadImage(path, path, split, cls.label, uniqueName(`${cls.name}_${file}`, names), maxPixels),
        );
      }
    }
  }
  return images;
}

function loadImage(
  file: string,
  where: string,
  split: Split,
  label: number,
  name: string,
  maxPixels: number,
): LabeledImage {
  const bytes = readFileSync(file);
  const decoded = decodeImage(bytes, where, maxPixels);
  const png = decoded.format === 'png' ? bytes : encodePng(decoded);
  const pngName = decoded.format === 'png' ? name : `${basename(name, extname(name))}.png`;
  return { split, label, name: pngName, png, width: decoded.width, height: decoded.height };
}

function uniqueName(name: string, taken: Set<string>): string {
  let candidate = name;
  for (let i = 1; taken.has(candidate); i++)
    candidate = `${basename(name, extname(name))}-${i}${extname(name)}`;
  taken.add(candidate);
  return candidate;
}
