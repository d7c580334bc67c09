import { execFile } from 'node:child_process';
import fs, { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { join, resolve, sep } from 'node:path';
import { expect } from 'chai';
import { lockWorkDir } from '../../pipeline/cli/actions.js';
import { fullDiskUnder } from '../helpers/full-disk.js';
import { runCli, tempDir, testConfig } from '../helpers/workspace.js';
import { figures, recordFaults } from './figures.js';

const CLI = join(import.meta.dirname, '..', '..', 'bin', 'scones.mjs');

/** Makes writeFileSync under `dir` fail as on a read-only file system: EROFS at open, nothing created. */
function readOnlyUnder(dir: string): () => void {
  const original = fs.writeFileSync;
  const root = `${resolve(dir)}${sep}`;
  fs.writeFileSync = ((path: fs.PathOrFileDescriptor, ...rest: unknown[]) => {
    if (typeof path === 'string' && resolve(path).startsWith(root))
      throw Object.assign(new Error(`EROFS: read-only file system, open '${path}'`), {
        code: 'EROFS',
        errno: -30,
        syscall: 'open',
      });
    return (original as (...args: unknown[]) => void)(path, ...rest);
  }) as typeof fs.writeFileSync;
  syncBuiltinESMExports();
  return () => {
    fs.writeFileSync = original;
    syncBuiltinESMExports();
  };
}

/** The CLI in its own process with exactly `env` (the AWS SDK reads process.env, not the CLI's io). */
function runWithEnv(
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stderr: string }> {
  return new Promise((done) =>
    execFile(
      process.execPath,
      [CLI, ...args],
      { cwd, env: { PATH: process.env.PATH, CI: 'true', ...env }, timeout: 120_000 },
      (error, _stdout, stderr) =>
        done({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : null, stderr }),
    ),
  );
}

describe('reliability: errors name their input and what to do', function () {
  this.timeout(180_000);
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => ({ dir, cleanup } = tempDir('named-errors-')));
  afterEach(() => cleanup());

  for (const [name, inject, advice] of [
    ['a full disk (ENOSPC)', fullDiskUnder, /no space left on the device: free space on it \(or set workDir/],
    [
      'a read-only file system (EROFS)',
      readOnlyUnder,
      /the file system is read-only: set workDir to a writable folder/,
    ],
  ] as const)
    it(`the lock step on ${name}: names the lock and what to do, leaves no lock.<pid>.tmp and no lock`, async () => {
      const workDir = join(dir, 'work');
      mkdirSync(workDir);
      const restore = inject(workDir);
      let message = '';
      try {
        await lockWorkDir(testConfig({ workDir }), 'train');
      } catch (error) {
        message = (error as Error).message;
      } finally {
        restore();
      }
      const left = readdirSync(workDir);
      const failed = recordFaults(1, {
        'the lock step fails': message !== '',
        'the message names the lock file': message.includes(join(workDir, 'lock')),
        'the message says what to do': advice.test(message),
        'no scratch file and no lock are left': left.length === 0,
      });
      expect(failed, `${message}; left: ${left.join(', ')}`).to.deep.equal([]);
    });

  it('workDir below a file (ENOTDIR): named, exit 2', async () => {
    writeFileSync(join(dir, 'a-file'), 'x');
    const result = await runCli(['stage-data', '--set', 'workDir=a-file/state'], { cwd: dir });
    figures.badInputsTried++;
    expect(result.code, result.stderr).to.equal(2);
    expect(result.stderr).to.match(
      /workDir .*a-file\/state: a folder on its path is a file \(ENOTDIR\): set workDir to a folder/,
    );
    expect(existsSync(join(dir, '.scones'))).to.equal(false);
    figures.badInputsClearErrors++;
  });

  it('no AWS credentials: says where the SDK looked and what to set, exit 1', async () => {
    const home = join(dir, 'home');
    mkdirSync(home);
    const result = await runWithEnv(['stage-data', '--backend', 'aws', '--source', 'synthetic'], dir, {
      HOME: home,
      AWS_EC2_METADATA_DISABLED: 'true',
    });
    figures.badInputsTried++;
    expect(result.code, result.stderr).to.equal(1);
    expect(result.stderr).to.include(`S3 HeadObject: no AWS credentials found.`);
    expect(result.stderr).to.include(`${home}/.aws/credentials and ${home}/.aws/config (profile default`);
    expect(result.stderr).to.match(/Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE/);
    figures.badInputsClearErrors++;
  });

  it('a host name that does not resolve: names the host and what to check, exit 1', async () => {
    // .invalid never resolves (RFC 2606): the SDK's answer to a DNS failure, without a network.
    const result = await runWithEnv(['stage-data', '--backend', 'aws', '--source', 'synthetic'], dir, {
      HOME: dir,
      AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'example',
      AWS_ENDPOINT_URL: 'http://scones-store.invalid',
    });
    figures.badInputsTried++;
    expect(result.code, result.stderr).to.equal(1);
    expect(result.stderr).to.match(
      /S3 HeadObject: the host name scones-store\.invalid does not resolve \(DNS (ENOTFOUND|EAI_AGAIN)\): check the network and DNS/,
    );
    figures.badInputsClearErrors++;
  });
});
