/**
 * Bundles each Lambda with esbuild (platform node, minified, SDK v3 included so the code does not depend
 * on the runtime's SDK version) into one deterministic zip per function, named by the hash of its
 * content: the same source always gives byte-identical zips and names. A folder that already holds the
 * bundles of the same sources is reused without bundling (an unchanged local deploy then starts no esbuild).
 * `scripts/bundle-lambdas.ts` runs it from the shell.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BuildOptions } from 'esbuild';
import { zipSync } from 'fflate';
import { z } from 'zod';
import { FILE_LIMITS, readCheckedFileIfPresent, writeFileAtomic } from '../util/files.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The functions, by folder under lambdas/; the names the template and the local runner use. */
export const LAMBDA_FUNCTIONS = ['serialize-image-data', 'classify-image', 'filter-inferences'] as const;

// Zip entries carry a timestamp: a fixed one keeps the archive identical across builds.
const FIXED_MTIME = new Date('1980-01-01T00:00:00Z');

const BUILD_OPTIONS = {
  bundle: true,
  platform: 'node',
  target: 'node22',
  format: 'cjs',
  minify: true,
  legalComments: 'none',
  write: false,
  metafile: true,
  logLevel: 'silent',
  absWorkingDir: root,
} as const satisfies BuildOptions;

/**
 * What a folder's bundles were made from: every file esbuild read (its metafile's inputs) and the files that
 * decide how it reads them (inputDigest), and the bundles with the digest of each handler file.
 */
const BUILD_RECORD = 'bundles.json';
const buildRecordSchema = z.object({
  options: z.string(),
  inputs: z.record(z.string(), z.string()),
  bundles: z.array(
    z.object({
      name: z.enum(LAMBDA_FUNCTIONS),
      /** `<name>-<hash>.zip`, the S3 key's file name. */
      zipName: z.string(),
      zipPath: z.string(),
      /** The bundled handler, for the local runner (`exports.handler`). */
      jsPath: z.string(),
      sha256: z.string(),
      zipBytes: z.number(),
      jsSha256: z.string(),
    }),
  ),
});
type RecordedBundle = z.infer<typeof buildRecordSchema>['bundles'][number];
export type LambdaBundle = Omit<RecordedBundle, 'jsSha256'>;
const RESOLUTION_FILES = ['package.json', 'package-lock.json', 'tsconfig.json'];
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const fileDigest = (path: string) => (existsSync(path) ? sha256(readFileSync(path)) : 'absent');
/**
 * An input's identity: the content of the project's own files; for the thousand-odd package files, their
 * size and time (hashing them all cost more than bundling), with package-lock.json's content naming the versions.
 */
function inputDigest(input: string): string {
  const path = join(root, input);
  if (!input.includes('node_modules/')) return fileDigest(path);
  if (!existsSync(path)) return 'absent';
  const { size, mtimeMs } = statSync(path);
  return `${size}:${mtimeMs}`;
}
const optionsKey = JSON.stringify({ BUILD_OPTIONS, FIXED_MTIME, level: 9 });

/** The bundles recorded in outDir when every input and output is still as recorded; else undefined. */
function recordedBundles(outDir: string): LambdaBundle[] | undefined {
  const path = join(outDir, BUILD_RECORD);
  let record: z.infer<typeof buildRecordSchema>;
  try {
    const text = readCheckedFileIfPresent(path, path, { maxBytes: FILE_LIMITS.record, overLimit: '' });
    if (text === undefined) return undefined;
    record = buildRecordSchema.parse(JSON.parse(text.toString('utf8')));
  } catch {
    return undefined; // not a readable record: bundle again
  }
  if (record.options !== optionsKey) return undefined;
  const { inputs, bundles } = record;
  for (const [input, digest] of Object.entries(inputs)) if (inputDigest(input) !== digest) return undefined;
  for (const bundle of bundles)
    if (fileDigest(bundle.zipPath) !== bundle.sha256 || fileDigest(bundle.jsPath) !== bundle.jsSha256)
      return undefined;
  return bundles.map(({ jsSha256: _, ...bundle }) => bundle);
}

/** Builds every function's bundle into outDir (default dist/lambdas), unless it holds them already. */
export async function bundleLambdas(outDir = join(root, 'dist', 'lambdas')): Promise<LambdaBundle[]> {
  const recorded = recordedBundles(outDir);
  if (recorded !== undefined) return recorded;
  mkdirSync(outDir, { recursive: true });
  const { build } = await import('esbuild');
  const bundles: RecordedBundle[] = [];
  const inputs: Record<string, string> = {};
  for (const file of RESOLUTION_FILES) inputs[file] = inputDigest(file);
  for (const name of LAMBDA_FUNCTIONS) {
    const result = await build({ ...BUILD_OPTIONS, entryPoints: [join(root, 'lambdas', name, 'index.ts')] });
    const code = result.outputFiles[0]?.contents;
    if (code === undefined) throw new Error(`esbuild produced no output for ${name}`);
    for (const input of Object.keys(result.metafile.inputs)) inputs[input] ??= inputDigest(input);
    const zip = zipSync({ 'index.js': [code, { mtime: FIXED_MTIME, level: 9 }] });
    const digest = sha256(zip);
    const zipName = `${name}-${digest.slice(0, 16)}.zip`;
    const zipPath = join(outDir, zipName);
    // .cjs: the project is ESM, and the bundle is CommonJS as Lambda loads it from the zip.
    const jsPath = join(outDir, name, 'index.cjs');
    mkdirSync(dirname(jsPath), { recursive: true });
    writeFileSync(zipPath, zip);
    writeFileSync(jsPath, code);
    bundles.push({
      name,
      zipName,
      zipPath,
      jsPath,
      sha256: digest,
      zipBytes: zip.length,
      jsSha256: sha256(code),
    });
  }
  writeFileAtomic(join(outDir, BUILD_RECORD), JSON.stringify({ options: optionsKey, inputs, bundles }));
  return bundles.map(({ jsSha256: _, ...bundle }) => bundle);
}
