import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { acquireLock } from '../../pipeline/util/lock.js';
import { tempDir } from '../helpers/workspace.js';
import { figures } from './figures.js';

const STARTER = join(import.meta.dirname, '..', 'helpers', 'lock-starter.ts');

/** A pid that was alive a moment ago and is not now: the owner of a lock left by kill -9. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', '']);
  return child.pid as number;
}

function staleLock(path: string): void {
  writeFileSync(
    path,
    JSON.stringify({ pid: deadPid(), runId: 'killed', command: 'train', since: new Date().toISOString() }),
  );
}

/** A starter's answer (its first line), and its exit once the winner lets go. */
function runStarter(path: string, startAt: number): { answer: Promise<string>; closed: Promise<void> } {
  const child = spawn(process.execPath, ['--import', 'tsx', STARTER, path, String(startAt), '60000'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const answer = new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('\n')) resolve(out.split('\n')[0] as string);
    });
    child.on('error', reject);
    child.on('close', () => resolve(out.trim()));
  });
  return { answer, closed: new Promise((resolve) => child.on('close', () => resolve())) };
}

describe('reliability: the work-directory lock', function () {
  this.timeout(120_000);
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => {
    ({ dir, cleanup } = tempDir());
  });
  afterEach(() => cleanup());

  it('a stale lock (its owner killed) raced by 8 starters released together is taken by exactly one, in each of 2 trials', async () => {
    for (let trial = 0; trial < 2; trial++) {
      // Prepare: a lock left by a process that is gone, and starters that all try at the same instant.
      const path = join(dir, `lock-${trial}`);
      staleLock(path);
      const startAt = Date.now() + 6000; // after every starter has loaded
      // Act
      const starters = Array.from({ length: 8 }, () => runStarter(path, startAt));
      const outcomes = await Promise.all(starters.map((s) => s.answer));
      // Every starter has answered: the winner may let go now.
      writeFileSync(`${path}.done`, '');
      await Promise.all(starters.map((s) => s.closed));
      // Assess
      figures.faultsInjected++;
      const winners = outcomes.filter((o) => o === 'won');
      expect(winners, outcomes.join('\n')).to.have.length(1);
      for (const loser of outcomes.filter((o) => o !== 'won'))
        expect(loser).to.match(
          /^lost: another run holds the lock \(pid \d+, run id starter-\d+, race since /,
        );
      expect(existsSync(path), 'the winner released its lock').to.equal(false);
      expect(existsSync(`${path}.steal`)).to.equal(false);
      figures.faultsSurvived++;
    }
  });

  it('a live holder keeps its lock; release removes only a lock it still owns', () => {
    const path = join(dir, 'lock');
    const lock = acquireLock(path, { runId: 'first', command: 'train' });
    lock.update('renamed');
    expect(JSON.parse(readFileSync(path, 'utf8'))).to.include({ pid: process.pid, runId: 'renamed' });
    // Another process's lock written over ours (as after a steal) is not removed by our release.
    const other = { pid: deadPid(), runId: 'other', command: 'x', since: 'now' };
    writeFileSync(path, JSON.stringify(other));
    lock.release();
    expect(JSON.parse(readFileSync(path, 'utf8'))).to.include({ runId: 'other' });
  });
});
