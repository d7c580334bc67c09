import { existsSync, lstatSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { basename, extname, join, relative, resolve, sep } from 'node:path';
import { InputError } from '../errors.js';
import { FILE_LIMITS, fixedLimit, readCheckedFile } from '../util/files.js';
import { parseLst } from '../util/lst.js';
import type { ClassInfo, LabeledImage, SourceDataset, Split } from './dataset.js';
import { contentDigest, SPLITS } from './dataset.js';
import { decodeImage, encodePng } from './image.js';

const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg']);

/** Default cap on one image file's size: far above any real 32x32 to 4096x4096 photo, far below memory. */
export const DEFAULT_MAX_IMAGE_BYTES = 64 * 1024 * 1024;

/** What a file name may not hold: `.lst` lines are tab-separated and newline-terminated. */
const UNLISTABLE = /[\t\n\r]/;

/**
 * Reads a folder in either layout:
 * - list layout: `train/`, `test/`, `train.lst`, `test.lst` (labels 0..N-1 in the configured class order);
 * - class folders: `train/<class>/*`, `test/<class>/*` (folder names are configured class names).
 * Every image is decoded to check it, unless `checked` holds its bytes' digest from an earlier decode; PNGs
 * are kept byte for byte, JPEGs become PNGs.
 */
export function readImagesFolder(
  dir: string,
  classes: readonly ClassInfo[],
  maxPixels: number,
  maxBytes = DEFAULT_MAX_IMAGE_BYTES,
  checked: CheckedPngs = new Map(),
): SourceDataset {
  if (!existsSync(dir))
    throw new InputError(
      `images folder ${dir} does not exist: pass --source images:DIR with a folder that has train/ and test/`,
    );
  if (!statSync(dir).isDirectory())
    throw new InputError(
      `images folder ${dir} is a file, not a folder: pass --source images:DIR with the folder that has train/ and test/`,
    );
  // Real path: a symlink inside may point anywhere under it, never out of it.
  const root = realpathSync(resolve(dir));
  const limits = { root, maxPixels, maxBytes, checked };
  const hasLists = existsSync(join(root, 'train.lst')) || existsSync(join(root, 'test.lst'));
  const images = hasLists ? readListLayout(root, classes, limits) : readClassFolders(root, classes, limits);
  for (const split of SPLITS) {
    if (!images.some((image) => image.split === split))
      throw new InputError(`images folder ${dir}: the ${split} split is empty; add images under ${split}/`);
  }
  return { source: `images:${dir}`, classes: [...classes], images };
}

/**
 * Width and height of PNGs that decoded without error, by the SHA-256 of their bytes: the same bytes decode
 * the same way, so they are not decoded again (a changed image has other bytes, whatever its size and time).
 */
export type CheckedPngs = ReadonlyMap<string, readonly [width: number, height: number]>;

/** What to remember of a dataset read from a folder: each image's digest and size (JPEGs as the PNGs they became). */
export function checkedPngsOf(dataset: SourceDataset): CheckedPngs {
  return new Map(dataset.images.map((image) => [contentDigest(image.png), [image.width, image.height]]));
}

interface Limits {
  root: string;
  maxPixels: number;
  maxBytes: number;
  checked: CheckedPngs;
}

function readListLayout(root: string, classes: readonly ClassInfo[], limits: Limits): LabeledImage[] {
  const images: LabeledImage[] = [];
  for (const split of SPLITS) {
    const listFile = join(root, `${split}.lst`);
    const shown = relative(process.cwd(), listFile) || listFile;
    if (!existsSync(listFile))
      throw new InputError(`${shown} is missing: the list layout needs train.lst and test.lst`);
    const text = readCheckedFile(listFile, shown, {
      maxBytes: FILE_LIMITS.list,
      overLimit: fixedLimit('list files', 'split the dataset or check the file'),
      expected: 'a list file: make train.lst and test.lst text files',
    }).toString('utf8');
    const entries = parseLst(text, shown);
    if (entries.length === 0) throw new InputError(`${shown} lists no images: the ${split} split is empty`);
    const names = new Set<string>();
    const listedAt = new Map<string, number>();
    for (const entry of entries) {
      const earlier = listedAt.get(entry.path);
      if (earlier !== undefined)
        throw new InputError(
          `${shown} lines ${earlier} and ${entry.line} both list ${join(split, entry.path)}: list each file once`,
        );
      listedAt.set(entry.path, entry.line);
      if (classes[entry.label] === undefined)
        throw new InputError(
          `${shown} line ${entry.line}: label ${entry.label} is not a configured class ` +
            `(data.classes has ${classes.length}: ${classes.map((c) => `${c.label}=${c.name}`).join(', ')})`,
        );
      const file = join(root, split, entry.path);
      if (!existsSync(file) && !isSymlink(file))
        throw new InputError(
          `${shown} line ${entry.line}: ${join(split, entry.path)} does not exist in ${root}`,
        );
      const name = uniqueName(entry.path.replaceAll('/', '_'), names);
      const where = `${shown} line ${entry.line} (${join(split, entry.path)})`;
      images.push(loadImage(file, where, split, entry.label, name, limits));
    }
  }
  return images;
}

function readClassFolders(root: string, classes: readonly ClassInfo[], limits: Limits): LabeledImage[] {
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
      if (folder.isSymbolicLink())
        throw new InputError(
          `${join(splitDir, folder.name)} is a symlink: class folders must be real folders; replace the link with a folder holding the images`,
        );
      if (!folder.isDirectory()) continue;
      const cls = byName.get(folder.name);
      if (cls === undefined)
        throw new InputError(
          `${join(splitDir, folder.name)}: unknown class "${folder.name}"; configured classes (data.classes) are ` +
            `${classes.map((c) => c.name).join(', ')}: rename the folder or change data.classes`,
        );
      for (const file of readdirSync(join(splitDir, folder.name)).sort()) {
        const path = join(splitDir, folder.name, file);
        if (file.startsWith('.')) continue;
        if (UNLISTABLE.test(file))
          throw new InputError(
            `${JSON.stringify(path)} has a tab or line break in its name, which a .lst file cannot hold: rename the file`,
          );
        if (lstatSync(path).isDirectory()) continue;
        if (!IMAGE_EXTENSIONS.has(extname(file).toLowerCase()))
          throw new InputError(
            `${path} is not a .png, .jpg or .jpeg image: remove it from the images folder`,
          );
        images.push(
          loadImage(path, path, split, cls.label, uniqueName(`${cls.name}_${file}`, names), limits),
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
  limits: Limits,
): LabeledImage {
  const bytes = readImageFile(file, where, limits);
  const [width = 0, height = 0] = limits.checked.get(contentDigest(bytes)) ?? [];
  if (width * height > 0 && width * height <= limits.maxPixels)
    return { split, label, name, png: bytes, width, height, origin: where };
  const decoded = decodeImage(bytes, where, limits.maxPixels);
  const png = decoded.format === 'png' ? bytes : encodePng(decoded);
  const pngName = decoded.format === 'png' ? name : `${basename(name, extname(name))}.png`;
  return { split, label, name: pngName, png, width: decoded.width, height: decoded.height, origin: where };
}

function uniqueName(name: string, taken: Set<string>): string {
  let candidate = name;
  for (let i = 1; taken.has(candidate); i++)
    candidate = `${basename(name, extname(name))}-${i}${extname(name)}`;
  taken.add(candidate);
  return candidate;
}

function isSymlink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

/**
 * Reads one image file after checking what it is: a symlink must stay inside the folder and lead
 * somewhere, and only a regular file within the size limit is read (see readCheckedFile).
 */
function readImageFile(file: string, where: string, limits: Limits): Buffer {
  if (isSymlink(file)) {
    let target: string;
    try {
      target = realpathSync(file);
    } catch {
      throw new InputError(`${where} is a symlink to nothing (dangling): fix the link or remove the file`);
    }
    if (!target.startsWith(`${limits.root}${sep}`))
      throw new InputError(
        `${where} is a symlink to ${target}, outside the images folder ${limits.root}: copy the image into the folder`,
      );
  }
  return readCheckedFile(file, where, {
    maxBytes: limits.maxBytes,
    overLimit: '(data.maxImageBytes): resize the image or raise the limit',
    expected: 'an image file: list image files only',
  });
}
