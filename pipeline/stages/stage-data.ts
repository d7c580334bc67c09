import { KEYS } from '../constants.js';
import {
  countsByClass,
  datasetDigest,
  type LabeledImage,
  type SourceDataset,
  SPLITS,
} from '../data/dataset.js';
import { formatLst } from '../data/lst.js';
import { loadSource } from '../data/sources.js';
import { SconesError } from '../errors.js';
import { type DatasetRecord, datasetRecordSchema } from '../manifest.js';
import type { ObjectStore } from '../ports.js';
import type { Reporter } from '../reporter.js';
import { mapConcurrent } from '../util/concurrency.js';
import type { StageContext, StageResult } from './context.js';

export const DATASET_FILE = 'dataset.json';

/** Object keys of a staged dataset, relative to the bucket. */
export function datasetKeys(prefix: string) {
  return {
    trainImages: `${prefix}train/`,
    testImages: `${prefix}test/`,
    trainLst: `${prefix}train.lst`,
    testLst: `${prefix}test.lst`,
    record: `${prefix}${DATASET_FILE}`,
  };
}

export interface StageDataOptions {
  fetch?: typeof fetch;
}

/**
 * Reads the configured source, names the dataset by the digest of its content, and uploads it under
 * `datasets/<digest>/` unless that dataset is already there. `dataset.json` is written last, so a
 * dataset without it was never completed and is uploaded again.
 */
export async function stageData(
  context: StageContext,
  options: StageDataOptions = {},
): Promise<StageResult<'stage-data'>> {
  const { config, backend, reporter } = context;
  const dataset = await loadSource(config, reporter, options.fetch);
  const digest = datasetDigest(dataset);
  const prefix = `${KEYS.datasets}/${digest}/`;
  const keys = datasetKeys(prefix);
  const store = backend.store;
  const record = describe(dataset, digest, prefix, store);

  const existing = await store.head(keys.record);
  if (existing !== undefined) {
    const stored = await readDatasetRecord(store, keys.record);
    reporter.info(`dataset ${digest} is already staged at ${stored.uri}: nothing uploaded`);
    return result(stored, true);
  }

  await uploadDataset(store, dataset, prefix, config.data.uploadConcurrency, reporter);
  await store.put(keys.record, `${JSON.stringify(record, null, 2)}\n`, { contentType: 'application/json' });
  return result(record, false);
}

function result(record: DatasetRecord, reused: boolean): StageResult<'stage-data'> {
  const counts = Object.entries(record.counts.train)
    .map(([name, n]) => `${name} ${n}/${record.counts.test[name] ?? 0}`)
    .join(', ');
  return {
    inputsDigest: record.digest,
    reused,
    outputs: record,
    summary: `dataset ${record.digest}: ${record.totals.train} train / ${record.totals.test} test images (${counts}) ${
      reused ? 'already staged' : 'staged'
    } at ${record.uri}`,
    markdown: datasetMarkdown(record, reused),
    stepOutputs: { 'dataset-digest': record.digest, 'dataset-uri': record.uri },
  };
}

function describe(dataset: SourceDataset, digest: string, prefix: string, store: ObjectStore): DatasetRecord {
  const counts = countsByClass(dataset);
  const sizes = new Map<string, number>();
  for (const image of dataset.images) {
    const key = `${image.height}x${image.width}`;
    sizes.set(key, (sizes.get(key) ?? 0) + 1);
  }
  const [commonSize] = [...sizes.entries()].sort((a, b) => b[1] - a[1])[0] ?? ['32x32'];
  const [height, width] = commonSize.split('x').map(Number) as [number, number];
  return {
    digest,
    source: dataset.source,
    uri: store.uri(prefix),
    prefix,
    classes: dataset.classes.map((c) => ({
      label: c.label,
      name: c.name,
      ...(c.cifarId === undefined ? {} : { cifarId: c.cifarId }),
    })),
    counts,
    totals: {
      train: dataset.images.filter((i) => i.split === 'train').length,
      test: dataset.images.filter((i) => i.split === 'test').length,
    },
    imageShape: [3, height, width],
  };
}

/** Uploads images (skipping those already present with the same size, from an interrupted run) and the lists. */
async function uploadDataset(
  store: ObjectStore,
  dataset: SourceDataset,
  prefix: string,
  concurrency: number,
  reporter: Reporter,
): Promise<void> {
  const present = new Map<string, number>();
  for await (const object of store.list(prefix)) present.set(object.key, object.size);
  const key = (image: LabeledImage) => `${prefix}${image.split}/${image.name}`;
  const pending = dataset.images.filter((image) => present.get(key(image)) !== image.png.length);
  if (pending.length < dataset.images.length)
    reporter.info(`${dataset.images.length - pending.length} images already uploaded by an earlier attempt`);
  const progress = reporter.progress('upload images', pending.length, 'images');
  await mapConcurrent(pending, concurrency, async (image) => {
    await store.put(key(image), image.png, { contentType: 'image/png' });
    progress.tick();
  });
  progress.done(`${pending.length} images`);
  for (const split of SPLITS) {
    const entries = dataset.images
      .filter((image) => image.split === split)
      .map((image, index) => ({ index, label: image.label, path: image.name }));
    await store.put(`${prefix}${split}.lst`, formatLst(entries), { contentType: 'text/plain' });
  }
}

/** Reads and validates a staged dataset's record. */
export async function readDatasetRecord(store: ObjectStore, key: string): Promise<DatasetRecord> {
  const text = Buffer.from(await store.get(key)).toString('utf8');
  const parsed = datasetRecordSchema.safeParse(JSON.parse(text));
  if (!parsed.success)
    throw new SconesError(
      `${store.uri(key)} is not a valid dataset record (${parsed.error.message}): delete it and re-stage`,
    );
  return parsed.data;
}

function datasetMarkdown(record: DatasetRecord, reused: boolean): string {
  const rows = record.classes
    .map(
      (c) =>
        `| ${c.label} | ${c.name} | ${record.counts.train[c.name] ?? 0} | ${record.counts.test[c.name] ?? 0} |`,
    )
    .join('\n');
  return [
    `### stage-data ${reused ? '(reused)' : ''}`,
    '',
    `Dataset \`${record.digest}\` from \`${record.source}\` at \`${record.uri}\``,
    '',
    '| label | class | train | test |',
    '| --- | --- | --- | --- |',
    rows,
    '',
  ].join('\n');
}
