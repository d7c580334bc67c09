import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { expect } from 'chai';
import { PNG } from 'pngjs';
import {
  CIFAR100_FINE_LABELS,
  ensureCifarArchive,
  readCifarArchive,
  resolveCifarClasses,
} from '../../pipeline/data/cifar100.js';
import { DownloadError, InputError } from '../../pipeline/errors.js';
import { rejection } from '../helpers/assertions.js';
import { writeCifarArchive } from '../helpers/fixtures.js';
import { captureReporter, tempDir } from '../helpers/workspace.js';

const md5 = (bytes: Buffer) => createHash('md5').update(bytes).digest('hex');

function serve(body: Buffer): Promise<{ url: string; server: Server; hits: () => number }> {
  let hits = 0;
  const server = createServer((_req, res) => {
    hits++;
    res.writeHead(200, { 'content-length': body.length });
    res.end(body);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({ url: `http://127.0.0.1:${port}/cifar-100-binary.tar.gz`, server, hits: () => hits });
    }),
  );
}

describe('CIFAR-100 source', () => {
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => {
    ({ dir, cleanup } = tempDir());
  });
  afterEach(() => cleanup());

  it('knows the published fine label ids of bicycle and motorcycle', () => {
    expect(CIFAR100_FINE_LABELS).to.have.length(100);
    expect(CIFAR100_FINE_LABELS[8]).to.equal('bicycle');
    expect(CIFAR100_FINE_LABELS[48]).to.equal('motorcycle');
    expect(resolveCifarClasses(['motorcycle', 8]).map((c) => [c.label, c.cifarId])).to.deep.equal([
      [0, 48],
      [1, 8],
    ]);
    expect(() => resolveCifarClasses([8, 'unicycle'])).to.throw(
      InputError,
      /unknown CIFAR-100 class "unicycle"/,
    );
  });

  it('streams the binary archive and keeps only the selected classes of both splits', async () => {
    // Prepare
    const archive = await writeCifarArchive(dir, {
      fineLabels: [8, 48, 3],
      trainPerClass: 4,
      testPerClass: 2,
    });
    // Act
    const dataset = await readCifarArchive(archive, resolveCifarClasses([8, 48]));
    // Assess
    const count = (split: string, label: number) =>
      dataset.images.filter((i) => i.split === split && i.label === label).length;
    expect([count('train', 0), count('train', 1), count('test', 0), count('test', 1)]).to.deep.equal([
      4, 4, 2, 2,
    ]);
    const first = dataset.images.find((i) => i.split === 'train' && i.label === 1);
    expect(first?.name).to.equal('motorcycle_train_00004.png');
    const png = PNG.sync.read(first!.png);
    expect([png.width, png.height]).to.deep.equal([32, 32]);
  });

  it('decodes the record layout: pixel (0,0) comes from bytes 0, 1024 and 2048 of the image', async () => {
    const archive = await writeCifarArchive(dir, {
      fineLabels: [8, 48],
      trainPerClass: 1,
      testPerClass: 1,
      seed: 5,
    });
    const dataset = await readCifarArchive(archive, resolveCifarClasses([8, 48]));
    // Rebuild the expected first record the way the fixture wrote it.
    const { seededRandom } = await import('../../pipeline/util/random.js');
    const random = seededRandom(5);
    const pixels = Array.from({ length: 3072 }, () => Math.floor(random() * 256));
    const png = PNG.sync.read(dataset.images.find((i) => i.split === 'train' && i.label === 0)!.png);
    expect([...png.data.subarray(0, 3)]).to.deep.equal([pixels[0], pixels[1024], pixels[2048]]);
  });

  it('fails on a truncated archive, naming the file', async () => {
    const archive = await writeCifarArchive(dir, {
      fineLabels: [8, 48],
      trainPerClass: 50,
      testPerClass: 10,
    });
    const truncated = join(dir, 'truncated.tar.gz');
    const bytes = readFileSync(archive);
    writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
    try {
      await readCifarArchive(truncated, resolveCifarClasses([8, 48]));
      expect.fail('a truncated archive was accepted');
    } catch (error) {
      expect(error).to.be.instanceOf(InputError);
      expect((error as Error).message).to.match(/truncated\.tar\.gz/);
    }
  });

  it('downloads once, verifies the MD5 and reuses the cached archive', async () => {
    const archive = readFileSync(
      await writeCifarArchive(dir, { fineLabels: [8], trainPerClass: 1, testPerClass: 1 }),
    );
    const { url, server, hits } = await serve(archive);
    try {
      const { reporter } = captureReporter();
      const cacheDir = join(dir, 'cache');
      const first = await ensureCifarArchive({ url, md5: md5(archive), cacheDir, reporter });
      const second = await ensureCifarArchive({ url, md5: md5(archive), cacheDir, reporter });
      expect(first).to.equal(second);
      expect(readFileSync(first).equals(archive)).to.equal(true);
      expect(hits()).to.equal(1);
    } finally {
      server.close();
    }
  });

  it('removes a download whose MD5 does not match and says so', async () => {
    const { url, server } = await serve(Buffer.from('definitely not the archive'));
    try {
      const cacheDir = join(dir, 'cache');
      const { reporter } = captureReporter();
      const attempt = ensureCifarArchive({ url, md5: '0'.repeat(32), cacheDir, reporter });
      await expectRejection(attempt, DownloadError, /has MD5 [0-9a-f]{32}, expected 0{32}.*removed/);
      expect(existsSync(join(cacheDir, 'cifar-100-binary.tar.gz'))).to.equal(false);
      expect(existsSync(join(cacheDir, 'cifar-100-binary.tar.gz.part'))).to.equal(false);
    } finally {
      server.close();
    }
  });

  it('leaves no partial file when the download breaks off, at its first byte as well', async () => {
    const cacheDir = join(dir, 'cache');
    const { reporter } = captureReporter();
    // A body that fails at once: the failure may settle before the .part file's open does.
    const brokenFetch: typeof fetch = async () =>
      new Response(
        new ReadableStream({
          start(controller) {
            controller.error(new Error('connection reset'));
          },
        }),
      );
    for (let attempt = 0; attempt < 20; attempt++) {
      const download = ensureCifarArchive({
        url: 'http://cifar.invalid/cifar-100-binary.tar.gz',
        md5: '0'.repeat(32),
        cacheDir,
        reporter,
        fetch: brokenFetch,
      });
      await expectRejection(download, DownloadError, /broke off after 0 bytes: run again/);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(readdirSync(cacheDir)).to.deep.equal([]);
  });

  it('removes a corrupted cached archive', async () => {
    const cacheDir = join(dir, 'cache');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(cacheDir);
    writeFileSync(join(cacheDir, 'cifar-100-binary.tar.gz'), 'corrupted');
    const { reporter } = captureReporter();
    await expectRejection(
      ensureCifarArchive({
        url: 'http://127.0.0.1:9/cifar-100-binary.tar.gz',
        md5: '1'.repeat(32),
        cacheDir,
        reporter,
      }),
      DownloadError,
      /cached archive .* removed it/,
    );
    expect(existsSync(join(cacheDir, 'cifar-100-binary.tar.gz'))).to.equal(false);
  });

  it('names the URL and suggests offline sources when the host cannot be reached, leaving no cache folder', async () => {
    // Port 9 (discard) on loopback refuses connections here: the same failure as being offline.
    const url = 'http://127.0.0.1:9/cifar-100-binary.tar.gz';
    const { reporter } = captureReporter();
    const cacheDir = join(dir, 'unreachable-cache');
    await expectRejection(
      ensureCifarArchive({ url, md5: '1'.repeat(32), cacheDir, reporter }),
      DownloadError,
      /cannot reach http:\/\/127\.0\.0\.1:9\/cifar-100-binary\.tar\.gz.*--source images:DIR.*--source synthetic/,
    );
    expect(existsSync(cacheDir)).to.equal(false);
  });
});

async function expectRejection(
  promise: Promise<unknown>,
  type: new (...args: never[]) => Error,
  message: RegExp,
) {
  const error = await rejection(promise);
  expect(error).to.be.instanceOf(type);
  expect(error.message).to.match(message);
}
