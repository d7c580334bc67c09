import { inferenceIdFor } from '../contracts/inference-id.js';
import { datasetImagesPrefix, datasetListKey } from '../contracts/layout.js';
import { decodeImage } from '../data/image.js';
import type { ObjectStore } from '../ports.js';
import { parseLst } from '../util/lst.js';
import { getText } from '../util/object-text.js';
import { seededRandom, shuffled } from '../util/random.js';
import { type ImageStatistics, imageStatistics } from './image-statistics.js';

/** Labels by inference id from test cases, as the classify Lambda derives the id from the key. */
export function labelsByInferenceId(cases: readonly { s3Key: string; label: number }[]): Map<string, number> {
  return new Map(cases.map((c) => [inferenceIdFor(c.s3Key), c.label]));
}

/**
 * Image statistics of a seeded sample of the training split: the input-drift baseline (the images
 * the model learnt from, as the endpoint would receive them).
 */
export async function trainingImageStatistics(
  store: ObjectStore,
  datasetPrefix: string,
  sample = 300,
  seed = 17,
): Promise<ImageStatistics[]> {
  const lstKey = datasetListKey(datasetPrefix, 'train');
  const entries = shuffled(parseLst(await getText(store, lstKey), store.uri(lstKey)), seededRandom(seed));
  const statistics: ImageStatistics[] = [];
  for (const entry of entries.slice(0, sample)) {
    const key = `${datasetImagesPrefix(datasetPrefix, 'train')}${entry.path}`;
    statistics.push(imageStatistics(decodeImage(await store.get(key), store.uri(key), 4096 * 4096)));
  }
  return statistics;
}
