import { linkSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import { SconesError } from '../errors.js';
import { FILE_LIMITS, fixedLimit, readCheckedFileIfPresent, writeFailure } from './files.js';

/** The pid alone decides whether the lock is held; the rest only names the holder in the message. */
const lockOwnerSchema = z.object({
  pid: z.number().int(),
  runId: z.string().catch('unknown'),
  command: z.string().catch('unknown'),
  since: z.string().catch('unknown'),
});
export type LockOwner = z.infer<typeof lockOwnerSchema>;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readIfPresent(path: string): string | undefined {
  return readCheckedFileIfPresent(path, `lock file ${path}`, {
    maxBytes: FILE_LIMITS.lock,
    overLimit: fixedLimit('lock files', `if no scones command is running, remove ${path}`),
    expected: `a lock file: if no scones command is running, remove ${path}`,
    error: (message) => new SconesError(message),
  })?.toString('utf8');
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    return lockOwnerSchema.parse(JSON.parse(text));
  } catch {
    return undefined;
  }
}

/**
 * Writes the lock's content beside it; on a full, read-only or missing folder the half-written scratch
 * file is removed and the error names the lock and what to do.
 */
function writeScratch(scratch: string, content: string, path: string): void {
  try {
    writeFileSync(scratch, content);
  } catch (error) {
    rmSync(scratch, { force: true });
    throw writeFailure(path, error);
  }
}

/** Blocks the thread briefly: acquireLock is synchronous and runs before any async work starts. */
function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** How long a starter waits for another one that is removing a stale lock. */
const STEAL_WAIT_ATTEMPTS = 100;
const STEAL_WAIT_MS = 20;

/**
 * One CLI run at a time per work directory. The lock file appears whole and at most once: it is written
 * beside and hard-linked into place (link fails if the name exists), so no reader sees it half written
 * and no two starters both create it. A lock whose process is gone (kill -9) is removed only by the
 * starter that wins the exclusive `.steal` marker, and only if it still holds the dead owner's content;
 * then every starter races for the link again, and exactly one wins.
 */
export function acquireLock(
  path: string,
  owner: Omit<LockOwner, 'pid' | 'since'>,
): { update(runId: string): void; release(): void } {
  const content = (runId: string) =>
    JSON.stringify({ pid: process.pid, runId, command: owner.command, since: new Date().toISOString() });
  const scratch = `${path}.${process.pid}.tmp`;
  const marker = `${path}.steal`;
  for (let attempt = 0; ; attempt++) {
    writeScratch(scratch, content(owner.runId), path);
    try {
      linkSync(scratch, path);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw writeFailure(path, error);
    } finally {
      rmSync(scratch, { force: true });
    }
    const seen = readIfPresent(path);
    if (seen === undefined) continue; // released meanwhile: try again
    const holder = parseOwner(seen);
    if (holder !== undefined && holder.pid !== process.pid && alive(holder.pid))
      throw new SconesError(
        `another run holds the lock (pid ${holder.pid}, run id ${holder.runId}, ${holder.command} since ${holder.since}): wait for it to finish, or stop it (lock file ${path})`,
      );
    if (attempt >= STEAL_WAIT_ATTEMPTS)
      throw new SconesError(
        `the lock ${path} is stale but ${marker} stays: if no scones command is running, remove ${marker}`,
      );
    try {
      writeFileSync(marker, String(process.pid), { flag: 'wx' });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw writeFailure(marker, error);
      pause(STEAL_WAIT_MS); // another starter is removing the stale lock
      continue;
    }
    try {
      // Only the marker's holder removes a stale lock, and only the one it judged stale.
      if (readIfPresent(path) === seen) rmSync(path, { force: true });
    } finally {
      rmSync(marker, { force: true });
    }
  }
  const ours = () => parseOwner(readIfPresent(path) ?? '')?.pid === process.pid;
  return {
    update: (runId: string) => {
      // Written beside and renamed over, so a concurrent reader never sees a half-written owner.
      writeScratch(scratch, content(runId), path);
      try {
        renameSync(scratch, path);
      } catch (error) {
        rmSync(scratch, { force: true });
        throw writeFailure(path, error);
      }
    },
    release: () => {
      if (ours()) rmSync(path, { force: true });
    },
  };
}
