import { expect } from 'chai';
import { FileManifestStore, ObjectStoreManifestStore } from '../../pipeline/backends/manifest-stores.js';
import { newManifest, withStage } from '../../pipeline/manifest.js';
import type { ManifestStore } from '../../pipeline/ports.js';
import { MemoryObjectStore } from '../helpers/fake-backend.js';
import { tempDir } from '../helpers/workspace.js';

/** One suite, run against both manifest stores: the stages rely on the same behaviour from each. */
const stores: { name: string; open: () => { store: ManifestStore; cleanup: () => void } }[] = [
  {
    name: 'FileManifestStore (local)',
    open: () => {
      const { dir, cleanup } = tempDir();
      return { store: new FileManifestStore(dir), cleanup };
    },
  },
  {
    name: 'ObjectStoreManifestStore (aws, over an object store)',
    open: () => ({ store: new ObjectStoreManifestStore(new MemoryObjectStore()), cleanup: () => {} }),
  },
];

for (const { name, open } of stores) {
  describe(`manifest store contract: ${name}`, () => {
    let store: ManifestStore;
    let cleanup: () => void;
    beforeEach(() => {
      ({ store, cleanup } = open());
    });
    afterEach(() => cleanup());

    it('has no run before the first save', async () => {
      expect(await store.load('20261123T000000Z-aaaa')).to.equal(undefined);
      expect(await store.latestRunId()).to.equal(undefined);
    });

    it('reads back what it saved, whole, and the later save replaces it', async () => {
      const first = newManifest('20261123T000000Z-aaaa', 'local', 'c1', new Date('2026-11-23T00:00:00Z'));
      await store.save(first);
      expect(await store.load(first.runId)).to.deep.equal(first);
      const second = withStage(first, 'gate', {
        inputsDigest: 'g',
        startedAt: '2026-11-23T00:00:01.000Z',
        finishedAt: '2026-11-23T00:00:02.000Z',
        durationMs: 1000,
        reused: false,
        outputs: {
          passed: true,
          forced: false,
          accuracy: 0.9,
          minAccuracy: 0.8,
          maxRegression: 0.01,
          reasons: ['ok'],
          trainingId: 't',
          testSplitDigest: 's',
        },
      });
      await store.save(second);
      expect(await store.load(first.runId)).to.deep.equal(second);
    });

    it('names the newest run it saved, and each run where it lives', async () => {
      await store.save(newManifest('20261123T000000Z-aaaa', 'local', 'c'));
      // File times have a millisecond grain: the second save must be later than the first.
      await new Promise((resolve) => setTimeout(resolve, 20));
      await store.save(newManifest('20261123T000100Z-bbbb', 'local', 'c'));
      expect(await store.latestRunId()).to.equal('20261123T000100Z-bbbb');
      expect(store.location('20261123T000100Z-bbbb')).to.include('20261123T000100Z-bbbb');
    });
  });
}
