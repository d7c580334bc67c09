import { createHash } from 'node:crypto';

export type Split = 'train' | 'test';
export const SPLITS: readonly Split[] = ['train', 'test'];

export interface ClassInfo {
  /** 0..N-1, the label in `.lst` files and the model's output index. */
  label: number;
  name: string;
  /** CIFAR-100 fine label id, when the class is one. */
  cifarId?: number;
}

/** One image ready for upload: PNG bytes, its label and its file name inside the split folder. */
export interface LabeledImage {
  split: Split;
  label: number;
  name: string;
  png: Buffer;
  width: number;
  height: number;
}

/** What a source yields: the classes and every selected image of both splits. */
export interface SourceDataset {
  source: string;
  classes: ClassInfo[];
  images: LabeledImage[];
}

/**
 * The dataset's identity: a digest of its classes and of every image's split, label, name and bytes,
 * independent of the order the source produced them in.
 */
export function datasetDigest(dataset: Pick<SourceDataset, 'classes' | 'images'>): string {
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
  dataset: Pick<SourceDataset, 'classes' | 'images'>,
): Record<Split, Record<string, number>> {
  const counts: Record<Split, Record<string, number>> = { train: {}, test: {} };
  for (const split of SPLITS) for (const c of dataset.classes) counts[split][c.name] = 0;
  for (const image of dataset.images) {
    const name = dataset.classes[image.label]?.name ?? String(image.label);
    counts[image.split][name] = (counts[image.split][name] ?? 0) + 1;
  }
  return counts;
}
