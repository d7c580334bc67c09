import { createHash } from 'node:crypto';
import type { Reporter } from '../console-reporter.js';
import {
  DATASET_SPLITS,
  type DatasetSplit,
  datasetImagesPrefix,
  datasetKeys,
  datasetListKey,
  datasetPrefix,
} from '../contracts/layout.js';
import { InputError, SconesError } from '../errors.js';
import { type DatasetRecord, datasetRecordSchema } from '../manifest.js';
import type { DatasetReader, ObjectStore, StagedDataset } from '../ports.js';
import { mapConcurrent } from '../util/concurrency.js';
import { formatLst, parseLst } from '../util/lst.js';
import { getJson } from '../util/object-text.js';
import type { StageContext, StageResult } from './context.js';

/**
 * Reads the configured source, names the dataset by the digest of its content, and uploads it under
 * `datasets/<digest>/` unless that dataset is already there. `dataset.json` is written last, so a
 * dataset without it was never completed and is uploaded again.
 */
export async function stageData(
  context: StageContext,
  readDataset: DatasetReader,
): Promise<StageResult<'stage-data'>> {
  const { config, backend, reporter } = context;
  const { dataset, digest, counts, duplicates } = await readDataset(config, reporter);
  const lists = splitLists(dataset);
  const prefix = datasetPrefix(digest);
  const keys = datasetKeys(prefix);
  const store = backend.store;
  // The reader stages every image at one size: the first one's is the dataset's.
  const { height, width } = dataset.images[0] ?? { height: 32, width: 32 };
  const record: DatasetRecord = {
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
      validation: dataset.images.filter((i) => i.split === 'validation').length,
      test: dataset.images.filter((i) => i.split === 'test').length,
    },
    validationFraction: config.data.validationFraction,
    testSplitDigest: testSplitDigest(dataset),
    imageShape: [3, height, width],
    duplicates,
  };

  const existing = await store.head(keys.record);
  const stored =
    existing === undefined
      ? undefined
      : await readDatasetRecord(store, keys.record).catch((error: unknown) => {
          if (!(error instanceof SconesError)) throw error; // the store itself failed
          // The record is rewritten below, after every object is checked: a damaged one heals too.
          reporter.warn(
            `${(error as Error).message.replace(/: delete it and re-stage$/, '')}: staging again`,
          );
          return undefined;
        });
  if (stored !== undefined) {
    // Recorded as staged is not proof: objects deleted by hand or a partial copy are noticed here, before
    // training, and put back from the source just read.
    const damage = await missingObjects(store, dataset, lists, prefix);
    if (damage.length === 0) {
      reporter.info(`dataset ${digest} is already staged at ${stored.uri}: nothing uploaded`);
      return result(stored, true);
    }
    reporter.warn(
      `dataset ${digest} is recorded as staged at ${stored.uri} but ${damage.length} of its objects are missing ` +
        `or damaged (${damage.slice(0, 3).join(', ')}${damage.length > 3 ? ', ...' : ''}): staging them again`,
    );
  }

  await uploadDataset(store, dataset, lists, prefix, config.data.uploadConcurrency, reporter);
  await store.put(keys.record, `${JSON.stringify(record, null, 2)}\n`, { contentType: 'application/json' });
  return result(record, false);
}

function result(record: DatasetRecord, reused: boolean): StageResult<'stage-data'> {
  const counts = Object.entries(record.counts.train)
    .map(
      ([name, n]) => `${name} ${n}/${record.counts.validation[name] ?? 0}/${record.counts.test[name] ?? 0}`,
    )
    .join(', ');
  return {
    inputsDigest: record.digest,
    reused,
    outputs: record,
    summary: `dataset ${record.digest}: ${record.totals.train} train / ${record.totals.validation} validation / ${record.totals.test} test images (${counts}) ${
      reused ? 'already staged' : 'staged'
    } at ${record.uri}`,
    markdown: datasetMarkdown(record, reused),
    stepOutputs: { 'dataset-digest': record.digest, 'dataset-uri': record.uri },
  };
}

/** Digest of the test split alone: its names, labels and image bytes, in name order. */
export function testSplitDigest(dataset: StagedDataset): string {
  const rows = dataset.images
    .filter((image) => image.split === 'test')
    .map((image) => `${image.label}\t${image.name}\t${createHash('sha256').update(image.png).digest('hex')}`)
    .sort();
  return createHash('sha256').update(rows.join('\n')).digest('hex').slice(0, 20);
}

/**
 * Each split's `.lst` text, checked to read back as exactly the entries written: a name that the
 * format cannot carry (a tab or newline in it) fails here, naming the file, before anything is uploaded.
 */
function splitLists(dataset: StagedDataset): Map<DatasetSplit, string> {
  const lists = new Map<DatasetSplit, string>();
  for (const split of DATASET_SPLITS) {
    const images = dataset.images.filter((image) => image.split === split);
    for (const image of images)
      if (/[\t\r\n]/.test(image.name))
        throw new InputError(
          `${dataset.source}: ${split} image ${JSON.stringify(image.name)} has a tab or line break in its name, ` +
            'which a .lst file cannot hold: rename the file',
        );
    const entries = images.map((image, index) => ({ index, label: image.label, path: image.name }));
    const text = formatLst(entries);
    const readBack = parseLst(text, `${split}.lst`);
    // Read back and written again, the list must be the same text: the same entries, none changed.
    if (formatLst(readBack) !== text) {
      const bad = entries.find((e, i) => readBack[i]?.path !== e.path);
      throw new InputError(
        `${dataset.source}: ${split} image ${JSON.stringify(bad?.path ?? '?')} does not read back from ${split}.lst as written ` +
          '(a name the list format changes, e.g. with "./" or "//"): rename the file',
      );
    }
    lists.set(split, text);
  }
  return lists;
}

/** The keys of a staged dataset that are absent or of another size than the source's: what a heal uploads. */
async function missingObjects(
  store: ObjectStore,
  dataset: StagedDataset,
  lists: ReadonlyMap<DatasetSplit, string>,
  prefix: string,
): Promise<string[]> {
  const present = new Map<string, number>();
  for await (const object of store.list(prefix)) present.set(object.key, object.size);
  const expected = [
    ...dataset.images.map(
      (image) => [`${datasetImagesPrefix(prefix, image.split)}${image.name}`, image.png.length] as const,
    ),
    ...[...lists].map(([split, text]) => [datasetListKey(prefix, split), Buffer.byteLength(text)] as const),
  ];
  return expected.filter(([key, size]) => present.get(key) !== size).map(([key]) => key.slice(prefix.length));
}

/** Uploads images (skipping those already present with the same size, from an interrupted run) and the lists. */
async function uploadDataset(
  store: ObjectStore,
  dataset: StagedDataset,
  lists: ReadonlyMap<DatasetSplit, string>,
  prefix: string,
  concurrency: number,
  reporter: Reporter,
): Promise<void> {
  const present = new Map<string, number>();
  for await (const object of store.list(prefix)) present.set(object.key, object.size);
  const key = (image: StagedDataset['images'][number]) =>
    `${datasetImagesPrefix(prefix, image.split)}${image.name}`;
  const pending = dataset.images.filter((image) => present.get(key(image)) !== image.png.length);
  if (pending.length < dataset.images.length)
    reporter.info(`${dataset.images.length - pending.length} images already uploaded by an earlier attempt`);
  const progress = reporter.progress('upload images', pending.length, 'images');
  await mapConcurrent(pending, concurrency, async (image) => {
    await store.put(key(image), image.png, { contentType: 'image/png' });
    progress.tick();
  });
  progress.done(`${pending.length} images`);
  for (const [split, text] of lists) {
    const listKey = datasetListKey(prefix, split);
    await store.put(listKey, text, { contentType: 'text/plain' });
    // What the trainer will read must be what was meant: check the stored copy before dataset.json marks it staged.
    const stored = Buffer.from(await store.get(listKey)).toString('utf8');
    if (stored !== text)
      throw new SconesError(`${store.uri(listKey)} did not read back as written: stage again`);
  }
}

/** Reads and validates a staged dataset's record. */
export function readDatasetRecord(store: ObjectStore, key: string): Promise<DatasetRecord> {
  return getJson(store, key, datasetRecordSchema, 'a valid dataset record', 'delete it and re-stage');
}

function datasetMarkdown(record: DatasetRecord, reused: boolean): string {
  const rows = record.classes
    .map(
      (c) =>
        `| ${c.label} | ${c.name} | ${record.counts.train[c.name] ?? 0} | ${record.counts.validation[c.name] ?? 0} | ${record.counts.test[c.name] ?? 0} |`,
    )
    .join('\n');
  return [
    `### stage-data${reused ? ' (reused)' : ''}`,
    '',
    `Dataset \`${record.digest}\` from \`${record.source}\` at \`${record.uri}\``,
    '',
    '| label | class | train | validation | test |',
    '| --- | --- | --- | --- | --- |',
    rows,
    '',
  ].join('\n');
}
