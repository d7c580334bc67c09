import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Parser, type ReadEntry } from 'tar';
import type { Reporter } from '../console-reporter.js';
import { DownloadError, InputError } from '../errors.js';
import { kindOfFile, writeFailure, writeFileFrom } from '../util/files.js';
import type { ClassInfo, LabeledImage, SourceDataset, Split } from './dataset.js';
import { encodePng, rgbaFromPlanar } from './image.js';

/** CIFAR-100's fine label names, in label-id order (the archive's fine_label_names.txt). */
export const CIFAR100_FINE_LABELS = [
  'apple',
  'aquarium_fish',
  'baby',
  'bear',
  'beaver',
  'bed',
  'bee',
  'beetle',
  'bicycle',
  'bottle',
  'bowl',
  'boy',
  'bridge',
  'bus',
  'butterfly',
  'camel',
  'can',
  'castle',
  'caterpillar',
  'cattle',
  'chair',
  'chimpanzee',
  'clock',
  'cloud',
  'cockroach',
  'couch',
  'crab',
  'crocodile',
  'cup',
  'dinosaur',
  'dolphin',
  'elephant',
  'flatfish',
  'forest',
  'fox',
  'girl',
  'hamster',
  'house',
  'kangaroo',
  'keyboard',
  'lamp',
  'lawn_mower',
  'leopard',
  'lion',
  'lizard',
  'lobster',
  'man',
  'maple_tree',
  'motorcycle',
  'mountain',
  'mouse',
  'mushroom',
  'oak_tree',
  'orange',
  'orchid',
  'otter',
  'palm_tree',
  'pear',
  'pickup_truck',
  'pine_tree',
  'plain',
  'plate',
  'poppy',
  'porcupine',
  'possum',
  'rabbit',
  'raccoon',
  'ray',
  'road',
  'rocket',
  'rose',
  'sea',
  'seal',
  'shark',
  'shrew',
  'skunk',
  'skyscraper',
  'snail',
  'snake',
  'spider',
  'squirrel',
  'streetcar',
  'sunflower',
  'sweet_pepper',
  'table',
  'tank',
  'telephone',
  'television',
  'tiger',
  'tractor',
  'train',
  'trout',
  'tulip',
  'turtle',
  'wardrobe',
  'whale',
  'willow_tree',
  'wolf',
  'woman',
  'worm',
] as const;

/** The binary version's record: coarse label byte, fine label byte, 32x32 planar RGB. */
export const CIFAR_RECORD_BYTES = 2 + 3072;
const SIDE = 32;
const SPLIT_MEMBERS: Record<string, Split> = { 'train.bin': 'train', 'test.bin': 'test' };

/** Resolves configured classes (fine label ids or names) to labels 0..N-1, in the configured order. */
export function resolveCifarClasses(classes: readonly (number | string)[]): ClassInfo[] {
  const resolved = classes.map((c, label) => {
    const id =
      typeof c === 'number' ? c : CIFAR100_FINE_LABELS.indexOf(c as (typeof CIFAR100_FINE_LABELS)[number]);
    const name = CIFAR100_FINE_LABELS[id];
    if (name === undefined)
      throw new InputError(
        `data.classes: unknown CIFAR-100 class ${JSON.stringify(c)}; use a fine label id 0-99 or a name such as "bicycle"`,
      );
    return { label, name, cifarId: id };
  });
  const ids = new Set(resolved.map((c) => c.cifarId));
  if (ids.size !== resolved.length)
    throw new InputError('data.classes names the same class twice: list each once');
  return resolved;
}

export interface DownloadOptions {
  url: string;
  md5: string;
  cacheDir: string;
  reporter: Reporter;
  fetch?: typeof fetch;
}

/** The real archive is 161 MB: a cached file far larger is not it. */
const MAX_ARCHIVE_BYTES = 1024 * 1024 * 1024;

/**
 * The archive in the cache, downloading it first when absent. The MD5 is checked on every use; a
 * mismatch removes the cached file. Downloads go to a `.part` file renamed only when complete.
 */
export async function ensureCifarArchive(options: DownloadOptions): Promise<string> {
  const { url, md5, cacheDir, reporter } = options;
  const file = join(cacheDir, basename(new URL(url).pathname) || 'cifar-100-binary.tar.gz');
  if (existsSync(file)) {
    // A FIFO or device in the cache would make the checksum read hang or never end.
    const stats = statSync(file);
    if (!stats.isFile() || stats.size > MAX_ARCHIVE_BYTES)
      throw new InputError(
        `cached archive ${file} is ${stats.isFile() ? `${stats.size} bytes, over the limit of ${MAX_ARCHIVE_BYTES}` : kindOfFile(stats)}, ` +
          'not the CIFAR-100 archive: remove it (or set data.cifar100.cacheDir to another folder) and run again',
      );
    const actual = await md5File(file);
    if (actual === md5) {
      reporter.info(`using cached ${file} (MD5 ok)`);
      return file;
    }
    rmSync(file, { force: true });
    throw new DownloadError(
      `cached archive ${file} has MD5 ${actual}, expected ${md5}: removed it; run again to download a fresh copy`,
    );
  }

  let response: Response;
  try {
    response = await (options.fetch ?? fetch)(url);
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
    throw new DownloadError(
      `cannot reach ${url} (${cause}): check the network or data.cifar100.url, or stage local images with ` +
        '--source images:DIR (or --source synthetic for an offline run)',
      { cause: error },
    );
  }
  if (!response.ok || response.body === null)
    throw new DownloadError(`downloading ${url} failed: HTTP ${response.status}; check data.cifar100.url`);

  const total = Number(response.headers.get('content-length') ?? 0);
  const progress = reporter.progress('download CIFAR-100', Math.max(1, Math.round(total / 1_048_576)), 'MB');
  const hash = createHash('md5');
  const part = `${file}.part`;
  let received = 0;
  let reportedMb = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      received += chunk.length;
      const mb = Math.floor(received / 1_048_576);
      if (mb > reportedMb) {
        progress.tick(mb - reportedMb);
        reportedMb = mb;
      }
      done(null, chunk);
    },
  });
  try {
    // Made only now: a download that cannot start leaves no empty cache folder behind.
    mkdirSync(cacheDir, { recursive: true });
    await writeFileFrom(part, (file) =>
      pipeline(Readable.fromWeb(response.body as import('node:stream/web').ReadableStream), meter, file),
    );
  } catch (error) {
    rmSync(part, { force: true });
    // A full or read-only cache is not a broken download: say where, and what to do.
    const disk = writeFailure(part, error, 'data.cifar100.cacheDir');
    if (disk !== error) throw disk;
    throw new DownloadError(`download of ${url} broke off after ${received} bytes: run again`, {
      cause: error,
    });
  }
  const actual = hash.digest('hex');
  if (actual !== md5) {
    rmSync(part, { force: true });
    throw new DownloadError(
      `${url} has MD5 ${actual}, expected ${md5} (data.cifar100.md5): the download was removed; check the URL`,
    );
  }
  renameSync(part, file);
  progress.done(`${(received / 1_048_576).toFixed(1)} MB, MD5 ok`);
  return file;
}

async function md5File(file: string): Promise<string> {
  const hash = createHash('md5');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Streams the binary archive (tar.gz) and keeps the images of the selected classes from both splits.
 * The archive is never unpacked to disk: each `*.bin` member is cut into records as it streams by.
 */
export async function readCifarArchive(file: string, classes: readonly ClassInfo[]): Promise<SourceDataset> {
  const labelOf = new Map(classes.map((c) => [c.cifarId, c]));
  const images: LabeledImage[] = [];
  const seen: Partial<Record<Split, number>> = {};
  const parser = new Parser({ strict: true });
  const finished = new Promise<void>((resolve, reject) => {
    parser.on('error', reject);
    parser.on('end', resolve);
  });
  parser.on('entry', (entry: ReadEntry) => {
    const split = SPLIT_MEMBERS[basename(entry.path)];
    if (split === undefined) {
      entry.resume();
      return;
    }
    if (entry.size % CIFAR_RECORD_BYTES !== 0) {
      parser.emit(
        'error',
        new InputError(
          `${file}: member ${entry.path} is ${entry.size} bytes, not a whole number of CIFAR records`,
        ),
      );
      entry.resume();
      return;
    }
    let pending: Buffer = Buffer.alloc(0);
    let index = 0;
    entry.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      let offset = 0;
      while (pending.length - offset >= CIFAR_RECORD_BYTES) {
        const fine = pending[offset + 1] as number;
        const cls = labelOf.get(fine);
        if (cls !== undefined) {
          const pixels = pending.subarray(offset + 2, offset + CIFAR_RECORD_BYTES);
          images.push({
            split,
            label: cls.label,
            name: `${cls.name}_${split}_${String(index).padStart(5, '0')}.png`,
            png: encodePng(rgbaFromPlanar(pixels, SIDE, SIDE)),
            width: SIDE,
            height: SIDE,
          });
        }
        offset += CIFAR_RECORD_BYTES;
        index++;
      }
      pending = pending.subarray(offset);
    });
    entry.on('end', () => {
      seen[split] = index;
    });
  });
  try {
    await Promise.all([pipeline(createReadStream(file), parser), finished]);
  } catch (error) {
    if (error instanceof InputError) throw error;
    throw new InputError(
      `${file} is not a complete CIFAR-100 binary archive (${(error as Error).message}): delete it from the cache and run again`,
      { cause: error },
    );
  }
  for (const split of ['train', 'test'] as const) {
    if (seen[split] === undefined)
      throw new InputError(
        `${file} has no ${split}.bin member: it is not the CIFAR-100 binary version (or it is truncated); delete it and run again`,
      );
  }
  return { source: 'cifar100', classes: [...classes], images };
}
