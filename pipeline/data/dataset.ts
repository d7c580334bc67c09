import { createHash } from 'node:crypto';
import { DATASET_SPLITS, type DatasetSplit } from '../contracts/layout.js';
import { InputError } from '../errors.js';
import type { StagedDataset } from '../ports.js';
import { seededRandom, shuffled } from '../util/random.js';
import { decodeImage, encodePng, resizeBilinear } from './image.js';

/** The splits a source provides. */
export type Split = 'train' | 'test';
export const SPLITS: readonly Split[] = ['train', 'test'];

/** A class: its label 0..N-1 (the `.lst` label and the model's output index), name, CIFAR-100 id if one. */
export type ClassInfo = StagedDataset['classes'][number];

/** One image ready for upload, from one of the source's two splits. */
export type LabeledImage = Omit<StagedDataset['images'][number], 'split'> & { split: Split };

/** What a source yields: the classes and every selected image of both splits. */
export type SourceDataset = Omit<StagedDataset, 'images'> & { images: LabeledImage[] };

/** Seed of the validation carve: fixed, so the same source and fraction always give the same dataset. */
export const VALIDATION_SEED = 20261123;

/**
 * Moves `fraction` of each class's training images (rounded, at least one when the class has two or
 * more) to a validation split, chosen by a seeded shuffle of the names, so the split is stratified
 * and reproducible whatever order the source listed the images in.
 */
export function carveValidation(
  dataset: SourceDataset,
  fraction: number,
  seed = VALIDATION_SEED,
): StagedDataset {
  const validationNames = new Set<string>();
  if (fraction > 0)
    for (const c of dataset.classes) {
      const names = dataset.images
        .filter((image) => image.split === 'train' && image.label === c.label)
        .map((image) => image.name)
        .sort();
      const count = names.length < 2 ? 0 : Math.max(1, Math.round(names.length * fraction));
      for (const name of shuffled(names, seededRandom(seed + c.label)).slice(0, count))
        validationNames.add(name);
    }
  // Copies of one image (allowed within a split) move together: one in train and one in validation
  // would score the model on an image it learnt.
  const moved = new Set(
    dataset.images
      .filter((image) => image.split === 'train' && validationNames.has(image.name))
      .map((image) => contentDigest(image.png)),
  );
  return {
    source: dataset.source,
    classes: dataset.classes,
    images: dataset.images.map((image) =>
      image.split === 'train' &&
      (validationNames.has(image.name) || (moved.size > 0 && moved.has(contentDigest(image.png))))
        ? { ...image, split: 'validation' as const }
        : image,
    ),
  };
}

const contentDigests = new WeakMap<Buffer, string>();

/** The SHA-256 of an image's bytes (remembered: the leakage check and the carve both ask). */
export function contentDigest(png: Buffer): string {
  let digest = contentDigests.get(png);
  if (digest === undefined) {
    digest = createHash('sha256').update(png).digest('hex');
    contentDigests.set(png, digest);
  }
  return digest;
}

/** At most this many groups of copies are named in an error: enough to find the pattern. */
const NAMED_GROUPS = 5;

/**
 * Finds images whose bytes are equal (PNG bytes; JPEGs compared as the PNGs they become, so two
 * encodings of the same pixels are one image). Refused, naming the files: the same image in train and
 * test (leakage: the test score would count images the model learnt), the same image under two labels
 * (the data contradicts itself), and copies within one split unless `allowWithinSplit`. Returns how
 * many images are exact copies of an earlier one (0 for a clean source).
 */
export function checkDuplicates(dataset: SourceDataset, allowWithinSplit: boolean): number {
  const groups = new Map<string, LabeledImage[]>();
  for (const image of dataset.images) {
    const digest = contentDigest(image.png);
    const group = groups.get(digest);
    if (group === undefined) groups.set(digest, [image]);
    else group.push(image);
  }
  const copies = [...groups.values()].filter((group) => group.length > 1);
  const name = (image: LabeledImage) =>
    `${image.origin ?? `${image.split}/${image.name}`} (${image.split}, ${dataset.classes[image.label]?.name ?? image.label})`;
  const problems = copies.flatMap((group): string[] => {
    const files = group.map(name).join(' = ');
    if (new Set(group.map((image) => image.label)).size > 1)
      return [`the same image under two labels: ${files}`];
    if (new Set(group.map((image) => image.split)).size > 1)
      return [`the same image in train and test (leakage): ${files}`];
    return allowWithinSplit ? [] : [`the same image twice in one split: ${files}`];
  });
  if (problems.length > 0) {
    const more = problems.length > NAMED_GROUPS ? `\n  ... and ${problems.length - NAMED_GROUPS} more` : '';
    throw new InputError(
      `${dataset.source} has ${problems.length} group${problems.length === 1 ? '' : 's'} of identical images:\n  ` +
        `${problems.slice(0, NAMED_GROUPS).join('\n  ')}${more}\nremove the copies (keep each image once, ` +
        'in one split, under its label); copies within one split may be allowed with data.allowDuplicatesWithinSplit=true',
    );
  }
  return copies.reduce((sum, group) => sum + group.length - 1, 0);
}

/**
 * A classifier needs at least two classes, and every split needs an image of each: a split missing a
 * class can neither train that class, select on it nor score it.
 */
export function checkClassCoverage(dataset: StagedDataset): void {
  if (dataset.classes.length < 2)
    throw new InputError(
      `${dataset.source} has ${dataset.classes.length} class${dataset.classes.length === 1 ? '' : 'es'} ` +
        `(${dataset.classes.map((c) => c.name).join(', ') || 'none'}): a classifier needs at least two; ` +
        'add a class (data.classes or another class folder)',
    );
  const counts = countsByClass(dataset);
  for (const split of DATASET_SPLITS) {
    const missing = dataset.classes.filter((c) => (counts[split][c.name] ?? 0) === 0).map((c) => c.name);
    if (missing.length > 0)
      throw new InputError(
        `${dataset.source}: the ${split} split has no image of ${missing.join(', ')}; every split needs ` +
          `every class${split === 'validation' ? ' (it is carved from train: add training images or raise data.validationFraction)' : `: add ${split} images of ${missing.join(', ')}`}`,
      );
  }
}

/**
 * The dataset's identity: a digest of its classes and of every image's split, label, name and bytes,
 * independent of the order the source produced them in.
 */
export function datasetDigest(dataset: Pick<StagedDataset, 'classes' | 'images'>): string {
  const hash = createHash('sha256');
  hash.update(JSON.stringify(dataset.classes.map((c) => [c.label, c.name])));
  const rows = dataset.images
    .map(
      (image) =>
        `${image.split}\t${image.label}\t${image.name}\t${createHash('sha256').update(image.png).digest('hex')}`,
    )
    .sort();
  for (const row of rows) hash.update(`${row}\n`);
  return hash.digest('hex').slice(0, 20);
}

/** Images per class name, for each split. */
export function countsByClass(
  dataset: Pick<StagedDataset, 'classes' | 'images'>,
): Record<DatasetSplit, Record<string, number>> {
  const counts: Record<DatasetSplit, Record<string, number>> = { train: {}, validation: {}, test: {} };
  for (const split of DATASET_SPLITS) for (const c of dataset.classes) counts[split][c.name] = 0;
  for (const image of dataset.images) {
    const name = dataset.classes[image.label]?.name ?? String(image.label);
    counts[image.split][name] = (counts[image.split][name] ?? 0) + 1;
  }
  return counts;
}

/**
 * One rule for images of other sizes, the same on both backends: the dataset is staged at one square
 * size, the shorter side of its most common size, and every image of another size is staged resized to
 * it (bilinear, stretched like the local model's input). Both trainers then read the same pixels:
 * the local one uses them as they are, SageMaker's `image_shape` matches every image so its algorithm
 * neither resizes nor crops. Returns the dataset and the sizes that were resized (for a warning).
 */
export function stageAtOneSize(dataset: SourceDataset): {
  dataset: SourceDataset;
  side: number;
  resized: Map<string, number>;
} {
  const counts = new Map<string, number>();
  for (const image of dataset.images) {
    const size = `${image.width}x${image.height}`;
    counts.set(size, (counts.get(size) ?? 0) + 1);
  }
  const [common] = [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0] ?? [
    '32x32',
  ];
  const side = Math.min(...common.split('x').map(Number));
  const resized = new Map([...counts].filter(([size]) => size !== `${side}x${side}`));
  if (resized.size === 0) return { dataset, side, resized };
  const images = dataset.images.map((image) => {
    if (image.width === side && image.height === side) return image;
    const decoded = decodeImage(image.png, image.origin ?? image.name, image.width * image.height);
    const png = encodePng(resizeBilinear(decoded, side, side));
    return { ...image, png, width: side, height: side };
  });
  return { dataset: { ...dataset, images }, side, resized };
}
