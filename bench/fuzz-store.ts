/**
 * The local store's fuzz property (test/local-s3/fuzz.ts) for longer than `npm test` runs it: random
 * keys, methods, queries and bodies, checking that nothing outside the store's folder changes and every
 * stored object reads back whole. Not part of `npm run bench`: it measures correctness, not speed.
 *
 *   node --import tsx bench/fuzz-store.ts [runs=3000] [seed=random] [--smoke]   (--smoke: 20 runs)
 *
 * A failure prints fast-check's report with its seed and path, so the case can be replayed.
 */
import { fuzzLocalStore } from '../test/local-s3/fuzz.js';

const args = process.argv.slice(2).filter((a) => a !== '--smoke');
const runs = Number(args[0] ?? (process.argv.includes('--smoke') ? 20 : 3000));
const seed = Number(args[1] ?? Math.floor(Math.random() * 2 ** 31));
process.stdout.write(`fuzzing the local store: ${runs} sequences, seed ${seed}\n`);
const started = performance.now();
const outcome = await fuzzLocalStore({ seed, runs });
const seconds = ((performance.now() - started) / 1000).toFixed(1);
process.stdout.write(`${JSON.stringify({ seed, seconds: Number(seconds), ...outcome })}\n`);
