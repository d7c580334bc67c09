import { join } from 'node:path';
import { z } from 'zod';
import { type Config, defaultCacheDir } from '../config.js';
import type { Reporter } from '../console-reporter.js';
import { ConfigError } from '../errors.js';
import type { DatasetReader } from '../ports.js';
import { FILE_LIMITS, fixedLimit, readCheckedFileIfPresent, writeFileAtomic } from '../util/files.js';
import {
  CIFAR100_FINE_LABELS,
  ensureCifarArchive,
  readCifarArchive,
  resolveCifarClasses,
} from './cifar100.js';
import {
  type ClassInfo,
  carveValidation,
  checkClassCoverage,
  checkDuplicates,
  countsByClass,
  datasetDigest,
  type SourceDataset,
  stageAtOneSize,
} from './dataset.js';
import { type CheckedPngs, checkedPngsOf, readImagesFolder } from './images-folder.js';
import { syntheticDataset } from './synthetic.js';

/**
 * Configured classes as labels 0..N-1. CIFAR-100 needs CIFAR ids or names; other sources accept any
 * names, and ids still mean CIFAR-100's names (so the default [8, 48] is bicycle, motorcycle everywhere).
 * A class listed twice is refused by the configuration (config.ts); an id and a name of the same class here.
 */
export function resolveClasses(classes: readonly (number | string)[], source: string): ClassInfo[] {
  if (source === 'cifar100') return resolveCifarClasses(classes);
  const resolved = classes.map((c, label): ClassInfo => {
    if (typeof c === 'number') return resolveCifarClasses([c]).map((r) => ({ ...r, label }))[0] as ClassInfo;
    const cifarId = CIFAR100_FINE_LABELS.indexOf(c as (typeof CIFAR100_FINE_LABELS)[number]);
    return cifarId >= 0 ? { label, name: c, cifarId } : { label, name: c };
  });
  if (new Set(resolved.map((c) => c.name)).size !== resolved.length)
    throw new ConfigError(
      `data.classes names the same class twice (${classes.join(', ')}): list each class once`,
    );
  return resolved;
}

/**
 * The stage-data port: reads the configured source, refuses copies across splits and labels, stages it at
 * one image size and carves the validation split from its training images.
 */
export const readDataset: DatasetReader = async (config, reporter) => {
  const source = await loadSource(config, reporter);
  const duplicates = checkDuplicates(source, config.data.allowDuplicatesWithinSplit);
  if (duplicates > 0)
    reporter.warn(
      `${duplicates} images are exact copies of another in the same split (data.allowDuplicatesWithinSplit)`,
    );
  const sized = stageAtOneSize(source);
  if (sized.resized.size > 0)
    reporter.warn(
      `images of other sizes staged resized to ${sized.side}x${sized.side} (the most common size's shorter side), ` +
        `so both backends train on the same pixels: ${[...sized.resized].map(([size, n]) => `${n} of ${size}`).join(', ')}`,
    );
  const dataset = carveValidation(sized.dataset, config.data.validationFraction);
  checkClassCoverage(dataset);
  return { dataset, digest: datasetDigest(dataset), counts: countsByClass(dataset), duplicates };
};

/** Reads the configured source into memory (a few thousand small images at most). */
async function loadSource(config: Config, reporter: Reporter): Promise<SourceDataset> {
  const { source } = config.data;
  const classes = resolveClasses(config.data.classes, source);
  if (source === 'synthetic') {
    reporter.info(
      `generating a synthetic set: ${classes.length} classes, seed ${config.data.synthetic.seed}`,
    );
    return syntheticDataset({ classes, ...config.data.synthetic });
  }
  if (source.startsWith('images:')) {
    const dir = source.slice('images:'.length);
    reporter.info(`reading images from ${dir}`);
    const memo = join(config.workDir, 'checked-images.json');
    const dataset = readImagesFolder(
      dir,
      classes,
      config.data.maxImagePixels,
      config.data.maxImageBytes,
      readCheckedPngs(memo),
    );
    try {
      writeFileAtomic(memo, JSON.stringify(Object.fromEntries(checkedPngsOf(dataset))));
    } catch {
      // Only a re-run's time depends on it: the next one decodes again.
    }
    return dataset;
  }
  const archive = await ensureCifarArchive({
    url: config.data.cifar100.url,
    md5: config.data.cifar100.md5,
    cacheDir: config.data.cifar100.cacheDir ?? defaultCacheDir(),
    reporter,
  });
  reporter.info(
    `extracting classes ${classes.map((c) => `${c.cifarId}=${c.name}`).join(', ')} from ${archive}`,
  );
  return readCifarArchive(archive, classes);
}

const checkedPngsSchema = z.record(
  z.string(),
  z.tuple([z.number().int().positive(), z.number().int().positive()]),
);

/** The PNGs the last read of an images folder decoded (images-folder.ts); none when the file is absent or damaged. */
function readCheckedPngs(path: string): CheckedPngs {
  try {
    const text = readCheckedFileIfPresent(path, path, {
      maxBytes: FILE_LIMITS.record,
      overLimit: fixedLimit('the checked-images memo', 'remove it'),
      expected: 'the checked-images memo: remove it',
    });
    const parsed = checkedPngsSchema.safeParse(text === undefined ? {} : JSON.parse(text.toString('utf8')));
    return new Map(parsed.success ? Object.entries(parsed.data) : []);
  } catch {
    return new Map();
  }
}
