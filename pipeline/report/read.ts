import { z } from 'zod';
import { inferenceIdFor } from '../contracts/inference-id.js';
import { datasetImagesPrefix, datasetListKey } from '../contracts/layout.js';
import { decodeImage } from '../data/image.js';
import type { ObjectStore } from '../ports.js';
import { mapConcurrent } from '../util/concurrency.js';
import { parseLst } from '../util/lst.js';
import { getText } from '../util/object-text.js';
import { seededRandom, shuffled } from '../util/random.js';
import { cached, cacheKey, remember } from './cache.js';
import { type ImageStatistics, imageStatistics } from './image-statistics.js';

/** Labels by inference id from test cases, as the classify Lambda derives the id from the key. */
export function labelsByInferenceId(cases: readonly { s3Key: string; label: number }[]): Map<string, number> {
  return new Map(cases.map((c) => [inferenceIdFor(c.s3Key), c.label]));
}

const keptStatistics = z.array(
  z.object({ pixels: z.number(), brightness: z.number(), contrast: z.number(), saturation: z.number() }),
);

/**
 * Image statistics of a seeded sample of the training split: the input-drift baseline (the images
 * the model learnt from, as the endpoint would receive them). A dataset's prefix names its content, so
 * the figures are kept under the digest of prefix, sample, seed and the code that measures them.
 */
export async function trainingImageStatistics(
  store: ObjectStore,
  datasetPrefix: string,
  sample = 300,
  seed = 17,
  cacheDir?: string,
): Promise<ImageStatistics[]> {
  const file = cacheKey({ datasetPrefix, sample, seed, code: `${imageStatistics}` }, '.json');
  try {
    const known = cached(cacheDir, file);
    if (known !== undefined) return keptStatistics.parse(JSON.parse(known.toString('utf8')));
  } catch {
    // A damaged file: measured again below.
  }
  const lstKey = datasetListKey(datasetPrefix, 'train');
  const entries = shuffled(parseLst(await getText(store, lstKey), store.uri(lstKey)), seededRandom(seed));
  // Several reads in flight: one at a time, the round trips to the store were most of the report's time.
  const statistics = await mapConcurrent(entries.slice(0, sample), 16, async (entry) => {
    const key = `${datasetImagesPrefix(datasetPrefix, 'train')}${entry.path}`;
    return imageStatistics(decodeImage(await store.get(key), store.uri(key), 4096 * 4096));
  });
  remember(cacheDir, { [file]: JSON.stringify(statistics) });
  return statistics;
}
