/**
 * The compiled CLI: pipeline/cli.ts, the file that runs in its own process (the local object store) and
 * the one that runs in worker threads (the local backend's compute pool), bundled by esbuild into
 * dist/cli-<key>/, with node_modules left external and every `import()` its own chunk, so a stage's heavy modules load only
 * when it runs. <key> digests the sources' paths, sizes and times: a changed source gets a new folder,
 * so the CLI never runs stale code and concurrent first runs never write into one folder.
 * The folder sits two levels below the root, as pipeline/<dir>/*.ts do, so their paths relative to
 * import.meta.url (package.json, cloudformation/, lambdas/) resolve the same from the bundle.
 *
 *   node scripts/build-cli.mjs   (npm's `prepare`, after `npm ci`); bin/scones.mjs calls compiledCli().
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DIST = join(ROOT, 'dist');
const ENTRY_POINTS = {
  cli: 'pipeline/cli.ts',
  // launcher.ts starts this file when it sits beside it, and server.ts through tsx otherwise.
  'local-s3-server': 'pipeline/local-s3/server.ts',
  // compute-pool.ts starts this file when it sits beside it, and compute-worker.ts through tsx otherwise.
  'compute-worker': 'pipeline/backends/local/compute-worker.ts',
};
/** Folders older than this that another key left are removed (a running CLI may still load chunks from its own). */
const STALE_MS = 24 * 60 * 60 * 1000;

/** The digest of every source the bundle is made from: about 200 stat calls, a few milliseconds. */
function sourcesKey() {
  const hash = createHash('sha256');
  const pipeline = readdirSync(join(ROOT, 'pipeline'), { recursive: true }).map((path) => `pipeline/${path}`);
  for (const path of [...pipeline.sort(), 'scripts/build-cli.mjs', 'package.json']) {
    const stat = statSync(join(ROOT, path));
    if (stat.isFile()) hash.update(`${path}\0${stat.size}\0${stat.mtimeMs}\n`);
  }
  return hash.digest('hex').slice(0, 16);
}

/** How the CLI is bundled (test/unit/bundles.test.ts reads which modules each chunk loads from its metafile). */
export const CLI_BUILD_OPTIONS = {
  absWorkingDir: ROOT,
  entryPoints: ENTRY_POINTS,
  outExtension: { '.js': '.mjs' },
  chunkNames: 'chunk-[hash]',
  bundle: true,
  splitting: true,
  platform: 'node',
  format: 'esm',
  target: 'node24',
  packages: 'external',
  logLevel: 'warning',
};

/** Bundles the CLI into dist/cli-<key>/ unless that folder is already complete; returns the folder. */
export async function buildCli(key = sourcesKey()) {
  const out = join(DIST, `cli-${key}`);
  if (existsSync(join(out, 'cli.mjs'))) return out;
  const staging = `${out}.${process.pid}.tmp`;
  const { build } = await import('esbuild');
  await build({ ...CLI_BUILD_OPTIONS, outdir: staging });
  try {
    renameSync(staging, out);
  } catch (error) {
    // Another process finished the same key first: its folder holds the same code.
    rmSync(staging, { recursive: true, force: true });
    if (!existsSync(join(out, 'cli.mjs'))) throw error;
  }
  for (const name of readdirSync(DIST)) {
    const path = join(DIST, name);
    if (name.startsWith('cli-') && path !== out && Date.now() - statSync(path).mtimeMs > STALE_MS)
      rmSync(path, { recursive: true, force: true });
  }
  return out;
}

/** The URL of the compiled CLI for the current sources, built first when they changed. */
export async function compiledCli() {
  return pathToFileURL(join(await buildCli(), 'cli.mjs')).href;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const started = performance.now();
  const out = await buildCli();
  process.stdout.write(
    `compiled CLI: ${out.slice(ROOT.length + 1)} (${Math.round(performance.now() - started)} ms)\n`,
  );
}
