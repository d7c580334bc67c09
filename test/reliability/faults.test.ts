import { expect } from 'chai';
import { openLocalBackend } from '../../pipeline/backends/local/backend.js';
import { LocalTrainer } from '../../pipeline/backends/local/trainer.js';
import { S3ObjectStore } from '../../pipeline/backends/s3-object-store.js';
import { carveValidation, datasetDigest } from '../../pipeline/data/dataset.js';
import { resolveClasses } from '../../pipeline/data/sources.js';
import { syntheticDataset } from '../../pipeline/data/synthetic.js';
import { localS3Client } from '../../pipeline/local-s3/launcher.js';
import { newManifest } from '../../pipeline/manifest.js';
import type { Backend } from '../../pipeline/ports.js';
import { executeStage } from '../../pipeline/run.js';
import { captureReporter, tempDir, testConfig } from '../helpers/workspace.js';
import { startFaultProxy } from './fault-proxy.js';
import { figures, recordFaults } from './figures.js';

describe('reliability: object store faults during stage-data and train', function () {
  this.timeout(180_000);

  it('both stages complete through SDK retries; nothing is stored twice; the dataset is intact', async () => {
    const { dir, cleanup } = tempDir();
    const config = testConfig({
      workDir: dir,
      'data.source': 'synthetic',
      'data.synthetic.trainPerClass': 40,
      'data.synthetic.testPerClass': 10,
      'data.synthetic.imageSize': 16,
      'train.epochs': 2,
      'train.batchSize': 16,
    });
    const local = await openLocalBackend(config);
    // Every 7th request fails: 500, 503, SlowDown or a dropped connection, in turn.
    const proxy = await startFaultProxy(local.s3Endpoint, 7);
    try {
      const store = new S3ObjectStore(
        localS3Client({ endpoint: proxy.endpoint, credentials: local.credentials }, config.region),
        config.bucket,
      );
      const backend: Backend = { ...local, store, trainer: new LocalTrainer(store) };
      const { reporter } = captureReporter();
      let manifest = newManifest('faults', 'local', 'x');
      manifest = (await executeStage('stage-data', { config, backend, reporter, manifest })).manifest;
      const trained = await executeStage('train', { config, backend, reporter, manifest });

      const injected = Object.values(proxy.injected).reduce((a, b) => a + b, 0);
      expect(injected).to.be.greaterThan(20);
      for (const fault of ['http500', 'http503', 'slowDown', 'drop'] as const)
        expect(proxy.injected[fault], fault).to.be.greaterThan(0);

      // Each object reached the store exactly once, and holds what the source produced.
      const twice = [...proxy.putsByKey].filter(([, n]) => n > 1);
      // What stage-data stages: the source with its validation split carved out.
      const expected = carveValidation(
        syntheticDataset({
          classes: resolveClasses(config.data.classes, 'synthetic'),
          ...config.data.synthetic,
        }),
        config.data.validationFraction,
      );
      const record = manifest.stages['stage-data']!.outputs as { digest: string; prefix: string };
      const { createHash } = await import('node:crypto');
      let lost = 0;
      for (const image of expected.images) {
        const stored = await local.store
          .get(`${record.prefix}${image.split}/${image.name}`)
          .catch(() => undefined);
        if (
          stored === undefined ||
          createHash('md5').update(stored).digest('hex') !== createHash('md5').update(image.png).digest('hex')
        )
          lost++;
      }
      figures.recordsLost += lost;
      const failed = recordFaults(injected, {
        'the run completed': typeof trained.record.outputs.validationAccuracy === 'number',
        'every object was written once': twice.length === 0,
        'the dataset digest matches the source': record.digest === datasetDigest(expected),
        'every image read back whole': lost === 0,
      });
      expect(failed).to.deep.equal([]);
    } finally {
      await proxy.stop();
      await local.close();
      cleanup();
    }
  });
});
