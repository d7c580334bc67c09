import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { expect } from 'chai';
import { FileObjectStore, type StoreError } from '../../pipeline/local-s3/files.js';
import { rejection } from '../helpers/assertions.js';
import { tempDir } from '../helpers/workspace.js';

describe('local object store files: one rename commits an object, and a start repairs what a kill left', () => {
  let dir: string;
  let cleanup: () => void;
  let store: FileObjectStore;
  beforeEach(() => {
    ({ dir, cleanup } = tempDir());
    store = new FileObjectStore(dir);
    store.createBucket('bucket');
  });
  afterEach(() => cleanup());

  const keys = async (prefix = '') =>
    (await store.list('bucket', { prefix, maxKeys: 1000 })).objects.map((object) => object.key);

  it('keeps bytes where a user can look at them, and metadata beside', async () => {
    const object = await store.put('bucket', 'datasets/d1/train/a.png', Buffer.from('png'), {
      contentType: 'image/png',
      userMetadata: {},
    });
    expect(object.etag).to.equal(createHash('md5').update('png').digest('hex'));
    expect(object.size).to.equal(3);
    expect(existsSync(join(dir, 'bucket', 'datasets', 'd1', 'train', 'a.png'))).to.equal(true);
    expect((await store.head('bucket', 'datasets/d1/train/a.png')).contentType).to.equal('image/png');
  });

  it('lists only committed objects: bytes without metadata are an upload that never finished', async () => {
    await store.put('bucket', 'x/committed', Buffer.from('1'), { userMetadata: {} });
    mkdirSync(join(dir, 'bucket', 'x'), { recursive: true });
    writeFileSync(join(dir, 'bucket', 'x', 'uncommitted'), 'half');
    expect(await keys('x/')).to.deep.equal(['x/committed']);
    const missing = (await rejection(store.head('bucket', 'x/uncommitted'))) as StoreError;
    expect(missing.code).to.equal('NoSuchKey');
  });

  it('recover() finishes or undoes each interrupted commit, keeping the old object or the new, never losing both', async () => {
    const md5 = (text: string) => createHash('md5').update(text).digest('hex');
    const metadata = (key: string, text: string) =>
      JSON.stringify({
        key,
        size: text.length,
        etag: md5(text),
        md5: md5(text),
        lastModified: new Date().toISOString(),
        userMetadata: {},
      });
    const at = (...parts: string[]) => join(dir, ...parts);
    for (const key of ['keep/a', 'forward/x', 'back/y', 'truncated/z'])
      await store.put('bucket', key, Buffer.from(`old ${key}`), { userMetadata: {} });
    // Killed after the new bytes were renamed into place, before their pending metadata was: roll forward.
    mkdirSync(at('.pending', 'bucket', 'forward'), { recursive: true });
    writeFileSync(at('.pending', 'bucket', 'forward', 'x.json'), metadata('forward/x', 'the new x'));
    writeFileSync(at('bucket', 'forward', 'x'), 'the new x');
    // Killed after the pending metadata was written, before the bytes were renamed: roll back.
    mkdirSync(at('.pending', 'bucket', 'back'), { recursive: true });
    writeFileSync(at('.pending', 'bucket', 'back', 'y.json'), metadata('back/y', 'the new y'));
    // A first write killed before its bytes were renamed: only its pending metadata exists.
    mkdirSync(at('.pending', 'bucket', 'first'), { recursive: true });
    writeFileSync(at('.pending', 'bucket', 'first', 'w.json'), metadata('first/w', 'w'));
    // A pending record cut short while it was written.
    writeFileSync(at('.pending', 'bucket', 'keep', 'a.json'), '{"key": "kee');
    // Bytes that lost their tail (a power cut): the size no longer matches.
    writeFileSync(at('bucket', 'truncated', 'z'), 'old');
    // Bytes with no metadata, metadata with no bytes, and a temporary file.
    writeFileSync(at('bucket', 'keep', 'orphan'), 'orphan');
    await store.put('bucket', 'gone/bytes', Buffer.from('zzzz'), { userMetadata: {} });
    rmSync(at('bucket', 'gone', 'bytes'));
    writeFileSync(at('.tmp', 'leftover'), 'partial');
    const unfinished = store.createUpload('bucket', 'big/upload', { userMetadata: {} });
    await store.putPart('bucket', 'big/upload', unfinished, 1, Buffer.from('part one'));

    const { removed, kept } = new FileObjectStore(dir).recover();
    // Only the store's own files are removed: temporary, upload, pending, and metadata of deleted bytes.
    expect(removed.sort()).to.deep.equal([
      '.metadata/bucket/gone/bytes.json',
      '.pending/bucket/back/y.json',
      '.pending/bucket/first/w.json',
      '.pending/bucket/keep/a.json',
      '.tmp/leftover',
      `.uploads/${unfinished}`,
    ]);
    // Bytes no metadata describes are kept where they are, and reported.
    expect(kept.sort()).to.deep.equal(['bucket/keep/orphan', 'bucket/truncated/z']);
    expect(readFileSync(at('bucket', 'keep', 'orphan'), 'utf8')).to.equal('orphan');
    expect(readFileSync(at('bucket', 'truncated', 'z'), 'utf8')).to.equal('old');
    expect(await keys()).to.deep.equal(['back/y', 'forward/x', 'keep/a']);
    expect((await store.head('bucket', 'forward/x')).etag).to.equal(md5('the new x'));
    expect((await store.head('bucket', 'back/y')).etag).to.equal(md5('old back/y'));
    expect(
      readdirSync(at('.pending'), { recursive: true, withFileTypes: true }).filter((e) => e.isFile()),
    ).to.deep.equal([]);
    expect(readdirSync(at('.tmp'))).to.deep.equal([]);
    expect(existsSync(at('.uploads', unfinished))).to.equal(false);
    expect(new FileObjectStore(dir).recover()).to.deep.equal({ removed: [], kept });
  });

  it('leaves no temporary file behind when a streamed body fails, even before its file is open', async () => {
    // A body that fails at once settles the write before the file's open does: the cleanup must still find it.
    async function* torn(): AsyncGenerator<Buffer> {
      yield* [];
      throw new Error('the client went away');
    }
    for (let attempt = 0; attempt < 50; attempt++) {
      const error = await rejection(
        store.put('bucket', 'torn.bin', Readable.from(torn()), { userMetadata: {} }),
      );
      expect((error as Error).message).to.equal('the client went away');
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(readdirSync(join(dir, '.tmp'))).to.deep.equal([]);
    expect(await keys()).to.deep.equal([]);
  });

  it('refuses keys it cannot keep as files, naming the key and why', async () => {
    for (const key of ['a/../b', 'a//b', 'trailing/', '.', 'x'.repeat(256)]) {
      const refused = (await rejection(
        store.put('bucket', key, Buffer.from('1'), { userMetadata: {} }),
      )) as StoreError;
      expect(refused.code, key).to.equal('InvalidArgument');
      expect(refused.message).to.include(key);
    }
    await store.put('bucket', 'file', Buffer.from('1'), { userMetadata: {} });
    const conflict = (await rejection(
      store.put('bucket', 'file/inside', Buffer.from('1'), { userMetadata: {} }),
    )) as StoreError;
    expect(conflict.status).to.equal(409);
    expect(await keys()).to.deep.equal(['file']);
  });

  it('lists in UTF-8 byte order, as S3 does, across folders', async () => {
    const names = ['b', 'a/z', 'a-b', 'é', 'Z', 'a/b/c', '\u{1F600}', '\uFFFD'];
    for (const key of names) await store.put('bucket', key, Buffer.from(key), { userMetadata: {} });
    const expected = [...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    expect(await keys()).to.deep.equal(expected);
  });
});
