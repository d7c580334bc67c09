import { readFileSync } from 'node:fs';
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
});
