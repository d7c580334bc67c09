import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeListLayout } from '../test/helpers/fixtures.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const SHARED_IMAGES = join(ROOT, '..', 'shared', 'data', 'cifar100-vehicles');
/**
 * `--smoke`: the same bench on tiny sizes and synthetic images, recording nothing. `npm test` runs every
 * bench so (test/bench/smoke.test.ts), so a bench that no longer works on the current code fails the tests.
 */
export const SMOKE = process.argv.includes('--smoke');
/** The arguments after the script's name, without --smoke. */
export const ARGS = process.argv.slice(2).filter((a) => a !== '--smoke');

/**
 * The real 1200-image subset, or exit with a message when this machine does not have it; with --smoke,
 * 40 synthetic images in the same list layout (2 classes; 16 train and 4 test images each).
 */
export function requireSharedImages(name: string): string {
  if (SMOKE) {
    const images = join(scratchDir(`${name}-smoke`), 'images');
    writeListLayout(images, { trainPerClass: 16, testPerClass: 4, classes: 2 });
    return images;
  }
  if (!existsSync(SHARED_IMAGES)) {
    process.stdout.write(`${name}: skipped, ${SHARED_IMAGES} is absent on this machine\n`);
    process.exit(0);
  }
  return SHARED_IMAGES;
}

/** A scratch folder for this bench process, removed when it exits (a bench's record is its results file). */
export function scratchDir(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `scones-bench-${name}-`));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function machine() {
  return {
    cpus: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
  };
}

/** Prints the figures and keeps them in bench/results/<name>.json for RESULTS.md (not with --smoke). */
export function record(name: string, figures: Record<string, unknown>): void {
  const result = { benchmark: name, date: new Date().toISOString(), machine: machine(), ...figures };
  if (SMOKE) {
    process.stdout.write(`${JSON.stringify({ smoke: true, ...result })}\n`);
    return;
  }
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench', 'results', `${name}.json`), `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

/**
 * `scones run` on an images folder; with `epochs`, a short run (no accuracy floor, two test executions) for a
 * bench that times something else than training, or for --smoke.
 */
export function runArgs(images: string, epochs?: number): string[] {
  const short =
    epochs === undefined ? [] : ['--epochs', String(epochs), '--min-accuracy', '0', '--count', '2'];
  return ['run', '--source', `images:${images}`, ...short];
}

export const round = (n: number) => Math.round(n * 100) / 100;
