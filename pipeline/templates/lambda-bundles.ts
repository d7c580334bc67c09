/**
 * Bundles each Lambda with esbuild (platform node, minified, SDK v3 included so the code does not depend
 * on the runtime's SDK version) into one deterministic zip per function, named by the hash of its
 * content: the same source always gives byte-identical zips and names.
 * `scripts/bundle-lambdas.ts` runs it from the shell.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { zipSync } from 'fflate';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The functions, by folder under lambdas/; the names the template and the local runner use. */
export const LAMBDA_FUNCTIONS = ['serialize-image-data', 'classify-image', 'filter-inferences'] as const;
export type LambdaFunctionName = (typeof LAMBDA_FUNCTIONS)[number];

export interface LambdaBundle {
  name: LambdaFunctionName;
  /** `<name>-<hash>.zip`, the S3 key's file name. */
  zipName: string;
  zipPath: string;
  /** The bundled handler, for the local runner (`exports.handler`). */
  jsPath: string;
  sha256: string;
  zipBytes: number;
}

// Zip entries carry a timestamp: a fixed one keeps the archive identical across builds.
const FIXED_MTIME = new Date('1980-01-01T00:00:00Z');

/** Builds every function's bundle into outDir (default dist/lambdas). */
export async function bundleLambdas(outDir = join(root, 'dist', 'lambdas')): Promise<LambdaBundle[]> {
  mkdirSync(outDir, { recursive: true });
  const bundles: LambdaBundle[] = [];
  for (const name of LAMBDA_FUNCTIONS) {
    const result = await build({
      entryPoints: [join(root, 'lambdas', name, 'index.ts')],
      bundle: true,
      platform: 'node',
      target: 'node22',
      format: 'cjs',
      minify: true,
      legalComments: 'none',
      write: false,
      logLevel: 'silent',
      absWorkingDir: root,
    });
    const code = result.outputFiles[0]?.contents;
    if (code === undefined) throw new Error(`esbuild produced no output for ${name}`);
    const zip = zipSync({ 'index.js': [code, { mtime: FIXED_MTIME, level: 9 }] });
    const sha256 = createHash('sha256').update(zip).digest('hex');
    const zipName = `${name}-${sha256.slice(0, 16)}.zip`;
    const zipPath = join(outDir, zipName);
    // .cjs: the project is ESM, and the bundle is CommonJS as Lambda loads it from the zip.
    const jsPath = join(outDir, name, 'index.cjs');
    mkdirSync(dirname(jsPath), { recursive: true });
    writeFileSync(zipPath, zip);
    writeFileSync(jsPath, code);
    bundles.push({ name, zipName, zipPath, jsPath, sha256, zipBytes: zip.length });
  }
  return bundles;
}
