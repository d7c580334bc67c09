import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const SHARED_IMAGES = join(ROOT, '..', 'shared', 'data', 'cifar100-vehicles');

/** The real 1200-image subset, or exit with a message when this machine does not have it. */
export function requireSharedImages(name: string): string {
  if (!existsSync(SHARED_IMAGES)) {
    process.stdout.write(`${name}: skipped, ${SHARED_IMAGES} is absent on this machine\n`);
    process.exit(0);
  }
  return SHARED_IMAGES;
}

export function scratchDir(name: string): string {
  return mkdtempSync(join(tmpdir(), `scones-bench-${name}-`));
}

export function machine() {
  return {
    cpus: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
  };
}

/** Prints the figures and keeps them in bench/results/<name>.json for RESULTS.md. */
export function record(name: string, figures: Record<string, unknown>): void {
  const result = { benchmark: name, date: new Date().toISOString(), machine: machine(), ...figures };
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench', 'results', `${name}.json`), `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}
