import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { recoverStore } from '../../pipeline/backends/local/store-recovery.js';
import { tempDir } from '../helpers/workspace.js';

describe('local store recovery at startup', () => {
  it('removes objects whose metadata or bytes are incomplete, and keeps whole ones', () => {
    const { dir, cleanup } = tempDir();
    try {
      const folder = join(dir, 'bucket', 'datasets', 'd');
      mkdirSync(folder, { recursive: true });
      const write = (name: string, bytes: string, options: { md5Of?: string; metadata?: string } = {}) => {
        writeFileSync(join(folder, `${name}._S3rver_object`), bytes);
        writeFileSync(
          join(folder, `${name}._S3rver_object.md5`),
          createHash('md5')
            .update(options.md5Of ?? bytes)
            .digest('hex'),
        );
        if (options.metadata !== undefined)
          writeFileSync(join(folder, `${name}._S3rver_metadata.json`), options.metadata);
      };
      write('whole.png', 'all the bytes', { metadata: '{"content-type":"image/png"}' });
      write('truncated.png', 'all the b', { md5Of: 'all the bytes', metadata: '{}' });
      write('no-metadata.png', 'bytes');
      write('bad-metadata.png', 'bytes', { metadata: '{"content-ty' });
      const removed = recoverStore(dir).sort();
      expect(removed).to.deep.equal([
        'bucket/datasets/d/bad-metadata.png',
        'bucket/datasets/d/no-metadata.png',
        'bucket/datasets/d/truncated.png',
      ]);
      expect(existsSync(join(folder, 'whole.png._S3rver_object'))).to.equal(true);
      expect(existsSync(join(folder, 'truncated.png._S3rver_object'))).to.equal(false);
      expect(existsSync(join(folder, 'truncated.png._S3rver_object.md5'))).to.equal(false);
      // A second start finds nothing more to remove.
      expect(recoverStore(dir)).to.deep.equal([]);
    } finally {
      cleanup();
    }
  });
});
