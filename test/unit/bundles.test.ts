import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { type BuildOptions, build, type Metafile } from 'esbuild';
import { unzipSync } from 'fflate';
import { bundleLambdas } from '../../pipeline/templates/lambda-bundles.js';
import { tempDir } from '../helpers/workspace.js';

/** The packages a chunk of the compiled CLI loads before any of its code runs: its static imports, transitively. */
function loadedWith(metafile: Metafile, source: string): Set<string> {
  const chunk = Object.keys(metafile.outputs).find((out) => source in metafile.outputs[out]!.inputs);
  const packages = new Set<string>();
  const seen = new Set<string>();
  const visit = (out: string) => {
    if (seen.has(out)) return;
    seen.add(out);
    for (const { path, kind, external } of metafile.outputs[out]!.imports)
      if (kind === 'import-statement') external ? packages.add(path) : visit(path);
  };
  visit(chunk ?? '');
  return packages;
}

describe('Lambda bundles', function () {
  this.timeout(60_000);

  it('build one zip per function, byte-identical from the same source, each under 1 MB with index.js', async () => {
    const a = tempDir();
    const b = tempDir();
    try {
      const first = await bundleLambdas(a.dir);
      const second = await bundleLambdas(b.dir);
      expect(first.map((x) => x.name)).to.deep.equal([
        'serialize-image-data',
        'classify-image',
        'filter-inferences',
      ]);
      for (const [i, bundle] of first.entries()) {
        expect(bundle.zipName).to.equal(second[i]!.zipName);
        expect(readFileSync(bundle.zipPath).equals(readFileSync(second[i]!.zipPath))).to.equal(true);
        expect(bundle.zipName).to.match(new RegExp(`^${bundle.name}-[0-9a-f]{16}\\.zip$`));
        expect(bundle.zipBytes, bundle.name).to.be.below(1024 * 1024);
        const files = unzipSync(readFileSync(bundle.zipPath));
        expect(Object.keys(files)).to.deep.equal(['index.js']);
        // The SDK is bundled: nothing is required from the runtime's SDK, except the optional CRT signer
        // that the SDK itself loads inside a try/catch (only SigV4a needs it).
        const code = Buffer.from(files['index.js']!).toString();
        const required = [...code.matchAll(/require\("(@aws-sdk\/[^"]+)"\)/g)].map((m) => m[1]);
        expect(
          required.filter((name) => name !== '@aws-sdk/signature-v4-crt'),
          bundle.name,
        ).to.deep.equal([]);
      }
    } finally {
      a.cleanup();
      b.cleanup();
    }
  });

  it('reuse a folder holding the bundles of the same sources; a changed input or a changed bundle builds again', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const built = await bundleLambdas(dir);
      const recordPath = join(dir, 'bundles.json');
      const recorded = () =>
        JSON.parse(readFileSync(recordPath, 'utf8')) as { inputs: Record<string, string> };
      const writtenAt = statSync(recordPath).mtimeMs;
      expect(await bundleLambdas(dir)).to.deep.equal(built);
      expect(statSync(recordPath).mtimeMs, 'nothing bundled again').to.equal(writtenAt);
      // A source the bundle read, a package file it read, and the lockfile that decides which package
      // versions it read, each recorded otherwise (as after an edit): bundled again, the record says what is there now.
      const packageFile = Object.keys(recorded().inputs).find((input) => input.includes('node_modules/'))!;
      for (const input of ['lambdas/classify-image/index.ts', packageFile, 'package-lock.json']) {
        const truth = recorded().inputs[input];
        expect(truth, input).to.be.a('string');
        writeFileSync(
          recordPath,
          JSON.stringify({ ...recorded(), inputs: { ...recorded().inputs, [input]: 'edited' } }),
        );
        expect(await bundleLambdas(dir)).to.deep.equal(built);
        expect(recorded().inputs[input], input).to.equal(truth);
      }
      // A handler file changed by hand is rebuilt, not served.
      const handler = built[1]!.jsPath;
      const code = readFileSync(handler);
      writeFileSync(handler, 'exports.handler = async () => 42;');
      expect(await bundleLambdas(dir)).to.deep.equal(built);
      expect(readFileSync(handler).equals(code)).to.equal(true);
    } finally {
      cleanup();
    }
  });

  it('the compiled CLI loads a heavy module only where it is used: --version none, the local backend not its workflow, bake or bundler, the report not its renderers', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const script = '../../scripts/build-cli.mjs'; // plain JavaScript, without types
      const { CLI_BUILD_OPTIONS } = (await import(script)) as { CLI_BUILD_OPTIONS: BuildOptions };
      const { metafile } = await build({ ...CLI_BUILD_OPTIONS, outdir: dir, write: false, metafile: true });
      const heavy = (packages: Set<string>) =>
        [...packages].filter((name) =>
          /^(@tensorflow|@aws-sdk|@resvg|vega|esbuild|aws-local-stepfunctions)/.test(name),
        );
      expect(heavy(loadedWith(metafile, 'pipeline/cli.ts'))).to.deep.equal([]);
      // The store's process starts before TensorFlow.js loads (backends/local/index.ts).
      expect(heavy(loadedWith(metafile, 'pipeline/backends/local/index.ts'))).to.deep.equal([
        '@aws-sdk/client-s3',
      ]);
      const backend = heavy(loadedWith(metafile, 'pipeline/backends/local/backend.ts'));
      expect(backend).to.include('@tensorflow/tfjs-core').and.to.include('@aws-sdk/client-s3');
      for (const lazy of ['aws-local-stepfunctions', '@aws-sdk/client-sagemaker-runtime', 'esbuild'])
        expect(backend, lazy).to.not.include(lazy);
      // The report draws with vega and resvg only the charts its cache does not hold (report/charts.ts).
      expect(heavy(loadedWith(metafile, 'pipeline/report/charts.ts'))).to.deep.equal([]);
    } finally {
      cleanup();
    }
  });
});
