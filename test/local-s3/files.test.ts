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

  it('keeps bytes where a user can look at them (each folder named with its "/" as %2F), and metadata beside', async () => {
    const object = await store.put('bucket', 'datasets/d1/train/a.png', Buffer.from('png'), {
      contentType: 'image/png',
      userMetadata: {},
    });
    expect(object.etag).to.equal(createHash('md5').update('png').digest('hex'));
    expect(object.size).to.equal(3);
    expect(readFileSync(join(dir, 'bucket', 'datasets%2F', 'd1%2F', 'train%2F', 'a.png'), 'utf8')).to.equal(
      'png',
    );
    expect(
      existsSync(join(dir, '.metadata', 'bucket', 'datasets%2F', 'd1%2F', 'train%2F', 'a.png.json')),
    ).to.equal(true);
    expect((await store.head('bucket', 'datasets/d1/train/a.png')).contentType).to.equal('image/png');
  });

  it('lists only committed objects: bytes without metadata are an upload that never finished', async () => {
    await store.put('bucket', 'x/committed', Buffer.from('1'), { userMetadata: {} });
    writeFileSync(join(dir, 'bucket', 'x%2F', 'uncommitted'), 'half');
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
    mkdirSync(at('.pending', 'bucket', 'forward%2F'), { recursive: true });
    writeFileSync(at('.pending', 'bucket', 'forward%2F', 'x.json'), metadata('forward/x', 'the new x'));
    writeFileSync(at('bucket', 'forward%2F', 'x'), 'the new x');
    // Killed after the pending metadata was written, before the bytes were renamed: roll back.
    mkdirSync(at('.pending', 'bucket', 'back%2F'), { recursive: true });
    writeFileSync(at('.pending', 'bucket', 'back%2F', 'y.json'), metadata('back/y', 'the new y'));
    // A first write killed before its bytes were renamed: only its pending metadata exists.
    mkdirSync(at('.pending', 'bucket', 'first%2F'), { recursive: true });
    writeFileSync(at('.pending', 'bucket', 'first%2F', 'w.json'), metadata('first/w', 'w'));
    // A pending record cut short while it was written.
    writeFileSync(at('.pending', 'bucket', 'keep%2F', 'a.json'), '{"key": "kee');
    // Bytes that lost their tail (a power cut): the size no longer matches.
    writeFileSync(at('bucket', 'truncated%2F', 'z'), 'old');
    // Bytes with no metadata, metadata with no bytes, and a temporary file.
    writeFileSync(at('bucket', 'keep%2F', 'orphan'), 'orphan');
    await store.put('bucket', 'gone/bytes', Buffer.from('zzzz'), { userMetadata: {} });
    rmSync(at('bucket', 'gone%2F', 'bytes'));
    writeFileSync(at('.tmp', 'leftover'), 'partial');
    const unfinished = store.uploads.create('bucket', 'big/upload', { userMetadata: {} });
    await store.uploads.putPart('bucket', 'big/upload', unfinished, 1, Buffer.from('part one'));

    const { removed, kept } = new FileObjectStore(dir).recover();
    // Only the store's own files are removed: temporary, upload, pending, and metadata of deleted bytes.
    expect(removed.sort()).to.deep.equal([
      '.metadata/bucket/gone%2F/bytes.json',
      '.pending/bucket/back%2F/y.json',
      '.pending/bucket/first%2F/w.json',
      '.pending/bucket/keep%2F/a.json',
      '.tmp/leftover',
      `.uploads/${unfinished}`,
    ]);
    // Bytes no metadata describes are kept where they are, and reported.
    expect(kept.sort()).to.deep.equal(['bucket/keep/orphan', 'bucket/truncated/z']);
    expect(readFileSync(at('bucket', 'keep%2F', 'orphan'), 'utf8')).to.equal('orphan');
    expect(readFileSync(at('bucket', 'truncated%2F', 'z'), 'utf8')).to.equal('old');
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

  it('refuses "." and ".." segments, NUL and segments too long for a file name, naming the key and the limit', async () => {
    for (const key of ['a/../b', '..', '.', 'a/./b', 'a\0b', 'x'.repeat(251), `a/${'%'.repeat(85)}/b`]) {
      const refused = (await rejection(
        store.put('bucket', key, Buffer.from('1'), { userMetadata: {} }),
      )) as StoreError;
      expect(refused.code, key).to.equal('InvalidArgument');
      expect(refused.status, key).to.equal(400);
      expect(refused.message).to.include(key).and.to.include('250 bytes');
    }
    const tooLong = (await rejection(
      store.put('bucket', 'k/'.repeat(600), Buffer.from('1'), { userMetadata: {} }),
    )) as StoreError;
    expect([tooLong.code, tooLong.status]).to.deep.equal(['KeyTooLongError', 400]);
    expect(await keys()).to.deep.equal([]);
  });

  it('keeps any other S3 key beside any other: a key and keys below it, folder markers, empty segments, "%"', async () => {
    const names = [
      'file',
      'file/inside',
      'file/inside/deeper',
      'prefix/',
      'a//b',
      '/lead',
      '%2F',
      'x%',
      '%',
      'x'.repeat(250),
    ];
    for (const key of names)
      await store.put('bucket', key, Buffer.from(`bytes of ${key}`), { userMetadata: {} });
    expect(await keys()).to.deep.equal(
      [...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))),
    );
    for (const key of names) {
      const chunks: Buffer[] = [];
      for await (const chunk of store.read('bucket', key)) chunks.push(chunk as Buffer);
      expect(Buffer.concat(chunks).toString(), key).to.equal(`bytes of ${key}`);
    }
    // Recovery finds every one of them again, and keeps nothing as a stranger's file.
    expect(new FileObjectStore(dir).recover()).to.deep.equal({ removed: [], kept: [] });
    await store.delete('bucket', 'file');
    expect(await keys('file')).to.deep.equal(['file/inside', 'file/inside/deeper']);
  });

  it("recover() moves the objects a store before 2026-12-03 kept at their key's path into the layout, keeping other files", async () => {
    const old = (key: string, text: string) => {
      mkdirSync(join(dir, 'bucket', key, '..'), { recursive: true });
      mkdirSync(join(dir, '.metadata', 'bucket', key, '..'), { recursive: true });
      writeFileSync(join(dir, 'bucket', key), text);
      const md5 = createHash('md5').update(text).digest('hex');
      const record = {
        key,
        size: text.length,
        etag: md5,
        md5,
        lastModified: new Date().toISOString(),
        userMetadata: {},
      };
      writeFileSync(join(dir, '.metadata', 'bucket', `${key}.json`), JSON.stringify(record));
    };
    old('datasets/d1/train/a.png', 'png bytes');
    old('top.txt', 'top');
    writeFileSync(join(dir, 'bucket', 'datasets', 'notes.txt'), 'a user file');
    const { kept } = new FileObjectStore(dir).recover();
    expect(kept).to.deep.equal(['bucket/datasets/notes.txt']);
    expect(await keys()).to.deep.equal(['datasets/d1/train/a.png', 'top.txt']);
    expect(readFileSync(join(dir, 'bucket', 'datasets%2F', 'd1%2F', 'train%2F', 'a.png'), 'utf8')).to.equal(
      'png bytes',
    );
    expect(existsSync(join(dir, '.metadata', 'bucket', 'top.txt.json'))).to.equal(true); // same path in both layouts
    expect(new FileObjectStore(dir).recover()).to.deep.equal({
      removed: [],
      kept: ['bucket/datasets/notes.txt'],
    });
  });

  it('lists in UTF-8 byte order, as S3 does, across folders', async () => {
    const names = ['b', 'a/z', 'a-b', 'é', 'Z', 'a/b/c', '\u{1F600}', '\uFFFD'];
    for (const key of names) await store.put('bucket', key, Buffer.from(key), { userMetadata: {} });
    const expected = [...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    expect(await keys()).to.deep.equal(expected);
  });
});
