import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LambdaBundle } from '../../pipeline/templates/lambda-bundles.js';

let folder: string | undefined;

/** Stand-ins for the three Lambda bundles (a line of text each), in one temporary folder removed at exit. */
export function fakeBundles(): LambdaBundle[] {
  if (folder === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'scones-test-bundles-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    folder = dir;
  }
  const dir = folder;
  return (['serialize-image-data', 'classify-image', 'filter-inferences'] as const).map((name) => {
    const zipPath = join(dir, `${name}.zip`);
    writeFileSync(zipPath, `zip of ${name}`);
    return { name, zipName: `${name}-0123456789abcdef.zip`, zipPath, jsPath: '', sha256: 'x', zipBytes: 10 };
  });
}
