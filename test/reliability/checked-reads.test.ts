import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { writeListLayout } from '../helpers/fixtures.js';
import { tempDir } from '../helpers/workspace.js';
import { figures } from './figures.js';

const ROOT = join(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'bin', 'scones.mjs');

/**
 * Runs the CLI in its own process: a read that blocks (a FIFO) would otherwise hang this test process
 * too. A run still going after `timeoutMs` is killed and reported as hung.
 */
function runIsolated(
  args: string[],
  cwd: string,
  timeoutMs = 30_000,
): Promise<{ code: number | null; stderr: string; hung: boolean }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      {
        cwd,
        timeout: timeoutMs,
        killSignal: 'SIGKILL',
        env: { PATH: process.env.PATH, HOME: process.env.HOME, CI: 'true' },
      },
      (error, _stdout, stderr) => {
        const killed = error !== null && (error as { killed?: boolean }).killed === true;
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
        resolve({ code, stderr, hung: killed });
      },
    );
  });
}

const mkfifo = (path: string) => execFileSync('mkfifo', [path]);
/** A file that declares `bytes` without using the disk. */
const sparse = (path: string, bytes: number) => {
  writeFileSync(path, '');
  truncateSync(path, bytes);
};

describe('reliability: every file the CLI reads is checked by type and size before it is read', function () {
  this.timeout(120_000);
  let dir: string;
  let cleanup: () => void;
  before(function () {
    if (process.platform === 'win32') this.skip(); // FIFOs and /dev/zero
    ({ dir, cleanup } = tempDir());
  });
  after(() => cleanup?.());

  /** A fresh folder for one case; `prepare` breaks one input and returns the command to run there. */
  const cases: [string, (work: string) => string[], number, RegExp][] = [
    [
      'the default scones.config.yaml is a FIFO',
      (work) => {
        mkfifo(join(work, 'scones.config.yaml'));
        return ['config'];
      },
      2,
      /config file .*scones\.config\.yaml is a FIFO \(named pipe\), not a YAML file/,
    ],
    [
      '--config is /dev/zero',
      () => ['config', '--config', '/dev/zero'],
      2,
      /config file \/dev\/zero is a device/,
    ],
    [
      '--config is a folder',
      (work) => {
        mkdirSync(join(work, 'conf.yaml'));
        return ['config', '--config', 'conf.yaml'];
      },
      2,
      /config file .*conf\.yaml is a folder, not a YAML file/,
    ],
    [
      '--config is 2 MiB',
      (work) => {
        sparse(join(work, 'big.yaml'), 2 * 1024 * 1024);
        return ['config', '--config', 'big.yaml'];
      },
      2,
      /config file .*big\.yaml is 2097152 bytes, over the limit of 1048576 \(the fixed limit for configuration files\)/,
    ],
    [
      'a capture file is a FIFO',
      (work) => {
        mkdirSync(join(work, 'capture'));
        mkfifo(join(work, 'capture', 'a.jsonl'));
        return ['monitor-report', '--capture', 'capture'];
      },
      1,
      /capture file capture\/a\.jsonl is a FIFO \(named pipe\), not a \.jsonl capture file/,
    ],
    [
      'a capture file links to /dev/zero',
      (work) => {
        mkdirSync(join(work, 'capture'));
        symlinkSync('/dev/zero', join(work, 'capture', 'zero.jsonl'));
        return ['monitor-report', '--capture', 'capture'];
      },
      1,
      /capture file capture\/zero\.jsonl is a device/,
    ],
    [
      'a folder named *.jsonl under --capture',
      (work) => {
        mkdirSync(join(work, 'capture', 'day.jsonl'), { recursive: true });
        return ['monitor-report', '--capture', 'capture'];
      },
      1,
      /capture file capture\/day\.jsonl is a folder, not a \.jsonl capture file/,
    ],
    [
      '--capture names a FIFO',
      (work) => {
        mkfifo(join(work, 'pipe.jsonl'));
        return ['monitor-report', '--capture', 'pipe.jsonl'];
      },
      1,
      /capture file pipe\.jsonl is a FIFO/,
    ],
    [
      'a capture file of 300 MiB',
      (work) => {
        mkdirSync(join(work, 'capture'));
        sparse(join(work, 'capture', 'huge.jsonl'), 300 * 1024 * 1024);
        return ['monitor-report', '--capture', 'capture'];
      },
      1,
      /capture file capture\/huge\.jsonl is 314572800 bytes, over the limit of 268435456 \(the fixed limit for capture files\)/,
    ],
    [
      'train.lst is a FIFO',
      (work) => {
        writeListLayout(join(work, 'images'), { trainPerClass: 2, testPerClass: 1, classes: 2 });
        execFileSync('rm', [join(work, 'images', 'train.lst')]);
        mkfifo(join(work, 'images', 'train.lst'));
        return ['stage-data', '--source', 'images:images'];
      },
      1,
      /images\/train\.lst is a FIFO \(named pipe\), not a list file/,
    ],
    [
      'test.lst is 100 MiB',
      (work) => {
        writeListLayout(join(work, 'images'), { trainPerClass: 2, testPerClass: 1, classes: 2 });
        sparse(join(work, 'images', 'test.lst'), 100 * 1024 * 1024);
        return ['stage-data', '--source', 'images:images'];
      },
      1,
      /images\/test\.lst is 104857600 bytes, over the limit of 67108864 \(the fixed limit for list files\)/,
    ],
    [
      "a run's manifest is a FIFO",
      (work) => {
        mkdirSync(join(work, '.scones', 'runs', 'r1'), { recursive: true });
        mkfifo(join(work, '.scones', 'runs', 'r1', 'manifest.json'));
        return ['train', '--run-id', 'r1'];
      },
      1,
      /run manifest .*runs\/r1\/manifest\.json is a FIFO \(named pipe\), not a manifest file/,
    ],
    [
      'the work folder lock is a FIFO',
      (work) => {
        mkdirSync(join(work, '.scones'));
        mkfifo(join(work, '.scones', 'lock'));
        return ['stage-data', '--source', 'synthetic'];
      },
      1,
      /lock file .*\.scones\/lock is a FIFO \(named pipe\), not a lock file: if no scones command is running, remove/,
    ],
    [
      'the cached CIFAR-100 archive is a FIFO',
      (work) => {
        mkdirSync(join(work, 'cache'));
        mkfifo(join(work, 'cache', 'cifar-100-binary.tar.gz'));
        return ['stage-data', '--set', 'data.cifar100.cacheDir=cache'];
      },
      1,
      /cached archive .*cifar-100-binary\.tar\.gz is a FIFO \(named pipe\), not the CIFAR-100 archive: remove it/,
    ],
  ];

  for (const [name, prepare, code, message] of cases)
    it(`${name}: refused by name, exit ${code}, nothing hangs`, async () => {
      const work = join(dir, name.replace(/\W+/g, '-'));
      mkdirSync(work, { recursive: true });
      const args = prepare(work);
      const result = await runIsolated(args, work);
      figures.badInputsTried++;
      expect(result.hung, `${args.join(' ')} hung (killed after 30 s)`).to.equal(false);
      expect(result.stderr).to.match(message);
      expect(result.code, result.stderr).to.equal(code);
      figures.badInputsClearErrors++;
    });

  it('the deployment record is a FIFO: refused by name, nothing hangs', async () => {
    const work = join(dir, 'deployment-fifo');
    mkdirSync(work);
    mkfifo(join(work, 'deployment.json'));
    const script =
      "const m = await import('./pipeline/backends/local/deployment-record.ts');" +
      `try { m.readLocalDeployment(${JSON.stringify(join(work, 'deployment.json'))}); } catch (e) { console.error(e.message); process.exit(1); }`;
    const result = await new Promise<{ stderr: string; hung: boolean }>((resolve) =>
      execFile(
        process.execPath,
        ['--import', 'tsx', '--input-type=module', '-e', script],
        { cwd: ROOT, timeout: 30_000, killSignal: 'SIGKILL' },
        (error, _stdout, stderr) =>
          resolve({ stderr, hung: (error as { killed?: boolean } | null)?.killed === true }),
      ),
    );
    figures.badInputsTried++;
    expect(result.hung, 'reading the deployment record hung').to.equal(false);
    expect(result.stderr).to.match(
      /deployment record .*deployment\.json is a FIFO \(named pipe\), not a deployment record: remove it/,
    );
    figures.badInputsClearErrors++;
  });
});
