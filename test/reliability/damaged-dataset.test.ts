import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { openLocalBackend } from '../../pipeline/backends/local/backend.js';
import type { ObjectStore } from '../../pipeline/ports.js';
import { runCli, tempDir, testConfig } from '../helpers/workspace.js';
import { figures, recordFaults } from './figures.js';

const SMALL = `
data:
  source: synthetic
  synthetic: { trainPerClass: 20, testPerClass: 6, imageSize: 16, seed: 5 }
train: { epochs: 2, batchSize: 16 }
`;

/** Every object under `prefix`, key to bytes. */
async function snapshot(store: ObjectStore, prefix: string): Promise<Map<string, string>> {
  const objects = new Map<string, string>();
  for await (const object of store.list(prefix))
    objects.set(object.key, Buffer.from(await store.get(object.key)).toString('base64'));
  return objects;
}

describe('reliability: a damaged staged dataset heals before training', function () {
  this.timeout(180_000);
  let dir: string;
  let cleanup: () => void;
  before(() => {
    ({ dir, cleanup } = tempDir());
    writeFileSync(join(dir, 'scones.config.yaml'), SMALL);
  });
  after(() => cleanup());

  /** Opens the work folder's store (the CLI is not running), runs `damage` on it, closes it. */
  async function withStore<T>(use: (store: ObjectStore) => Promise<T>): Promise<T> {
    const backend = await openLocalBackend(testConfig({ workDir: join(dir, '.scones') }));
    try {
      return await use(backend.store);
    } finally {
      await backend.close();
    }
  }

  it('objects deleted or cut short, and a truncated dataset.json: the next stage-data stages them again', async () => {
    const first = await runCli(['stage-data', '--run-id', 'heal', '--json'], { cwd: dir });
    expect(first.code, first.stderr).to.equal(0);
    const prefix: string = JSON.parse(first.stdout).outputs.prefix;
    const whole = await withStore((store) => snapshot(store, prefix));
    const images = [...whole.keys()].filter((key) => key.endsWith('.png'));

    // Three images deleted by hand, one cut short (a partial copy), one list gone.
    await withStore(async (store) => {
      for (const key of images.slice(0, 3)) await store.delete(key);
      await store.put(
        images[3] as string,
        Buffer.from(whole.get(images[3] as string) as string, 'base64').subarray(0, 40),
      );
      await store.delete(`${prefix}validation.lst`);
    });
    const healed = await runCli(['stage-data', '--run-id', 'heal'], { cwd: dir });
    const afterHeal = await withStore((store) => snapshot(store, prefix));
    const again = await runCli(['stage-data', '--run-id', 'heal'], { cwd: dir });

    // A dataset.json cut short: the record is not trusted, every object checked, the record written again.
    await withStore((store) => store.put(`${prefix}dataset.json`, '{"digest": "'));
    const recordHealed = await runCli(['stage-data', '--run-id', 'heal'], { cwd: dir });
    const afterRecordHeal = await withStore((store) => snapshot(store, prefix));

    const same = (a: Map<string, string>, b: Map<string, string>) =>
      a.size === b.size && [...a].every(([key, bytes]) => b.get(key) === bytes);
    const failed = recordFaults(2, {
      'the heal run exits 0': healed.code === 0,
      'it says what was missing':
        /recorded as staged at .* but 5 of its objects are missing or damaged \(/.test(healed.stderr),
      'every object is back, byte for byte': same(whole, afterHeal),
      'a healed dataset is then reused as is': /already staged at .*: nothing uploaded/.test(again.stderr),
      'a truncated record is named and rewritten': /dataset\.json is not valid JSON .*: staging again/.test(
        recordHealed.stderr,
      ),
      'the record reads back whole': recordHealed.code === 0 && same(whole, afterRecordHeal),
    });
    expect(failed, `${healed.stderr}\n${recordHealed.stderr}`).to.deep.equal([]);
  });

  it('train on a damaged dataset names the missing object and the command that heals it', async () => {
    const first = await runCli(['stage-data', '--run-id', 'damaged', '--json'], { cwd: dir });
    expect(first.code, first.stderr).to.equal(0);
    const prefix: string = JSON.parse(first.stdout).outputs.prefix;
    const missing = await withStore(async (store) => {
      for await (const object of store.list(`${prefix}train/`)) {
        await store.delete(object.key);
        return store.uri(object.key);
      }
      throw new Error('no training image staged');
    });
    const train = await runCli(['train', '--run-id', 'damaged'], { cwd: dir });
    figures.badInputsTried++;
    expect(train.code, train.stderr).to.equal(1);
    expect(train.stderr).to.include(
      `the staged dataset s3://scones-artifacts/${prefix} is damaged: ${missing} is missing: run \`scones stage-data\``,
    );
    figures.badInputsClearErrors++;
  });
});
