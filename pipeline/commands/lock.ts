import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { SconesError } from '../errors.js';

export interface LockOwner {
  pid: number;
  runId: string;
  command: string;
  since: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One CLI run at a time per work directory: the lock file is created exclusively; a lock whose process is
 * gone (killed with -9) is taken over. The second run fails at once, naming the holder.
 */
export function acquireLock(
  path: string,
  owner: Omit<LockOwner, 'pid' | 'since'>,
): { update(runId: string): void; release(): void } {
  const write = (runId: string, flag: 'wx' | 'w') =>
    writeFileSync(
      path,
      JSON.stringify({ pid: process.pid, runId, command: owner.command, since: new Date().toISOString() }),
      { flag },
    );
  try {
    write(owner.runId, 'wx');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    let holder: LockOwner | undefined;
    try {
      holder = JSON.parse(readFileSync(path, 'utf8')) as LockOwner;
    } catch {
      holder = undefined;
    }
    if (holder !== undefined && holder.pid !== process.pid && alive(holder.pid))
      throw new SconesError(
        `another run holds the lock (pid ${holder.pid}, run id ${holder.runId}, ${holder.command} since ${holder.since}): wait for it to finish, or stop it`,
      );
    write(owner.runId, 'w');
  }
  return {
    update: (runId: string) => write(runId, 'w'),
    release: () => rmSync(path, { force: true }),
  };
}
