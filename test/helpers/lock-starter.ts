/**
 * One starter of the lock race: waits for the shared start time, tries the lock, prints `won` or
 * `lost: <message>`, and holds a won lock until every starter has answered (the test then writes
 * `<lock>.done`; at most `holdMs`), so a starter that a busy machine started late cannot take it after
 * release. Arguments: lock path, start time (ms since the epoch), longest hold (ms).
 */
import { existsSync } from 'node:fs';
import { acquireLock } from '../../pipeline/util/lock.js';

const [path, startAt, holdMs] = process.argv.slice(2) as [string, string, string];
while (Date.now() < Number(startAt)) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
try {
  const lock = acquireLock(path, { runId: `starter-${process.pid}`, command: 'race' });
  process.stdout.write('won\n');
  const until = Date.now() + Number(holdMs);
  const poll = setInterval(() => {
    if (!existsSync(`${path}.done`) && Date.now() < until) return;
    clearInterval(poll);
    lock.release();
  }, 50);
} catch (error) {
  process.stdout.write(`lost: ${(error as Error).message}\n`);
}
