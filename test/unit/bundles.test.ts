import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { unzipSync } from 'fflate';
import { bundleLambdas } from '../../pipeline/templates/lambda-bundles.js';
import { tempDir } from '../helpers/workspace.js';

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
      // A source the bundle read, and the lockfile that decides which package versions it read, each
      // recorded with another digest (as after an edit): bundled again, the record says what is there now.
      for (const input of ['lambdas/classify-image/index.ts', 'package-lock.json']) {
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
});
