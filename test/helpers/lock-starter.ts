/**
 * One starter of the lock race: waits for the shared start time, tries the lock, prints `won` or
 * `lost: <message>`, holds a won lock for a while (so a late starter cannot take it after release), exits.
 * Arguments: lock path, start time (ms since the epoch), hold time (ms).
 */
import { acquireLock } from '../../pipeline/util/lock.js';

const [path, startAt, holdMs] = process.argv.slice(2) as [string, string, string];
while (Date.now() < Number(startAt)) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
try {
  const lock = acquireLock(path, { runId: `starter-${process.pid}`, command: 'race' });
  process.stdout.write('won\n');
  setTimeout(() => lock.release(), Number(holdMs));
} catch (error) {
  process.stdout.write(`lost: ${(error as Error).message}\n`);
}
