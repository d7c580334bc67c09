/**
 * A small seeded PRNG (mulberry32). Hand-written because it is five lines and every consumer
 * (synthetic data, test-case draws, augmentation) needs the same reproducible stream in tests.
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher-Yates shuffle with the given random source; returns a new array. */
export function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/**
 * Stratified folds: each label's items, in the order given, shuffled with seededRandom(seed + label) and
 * dealt round-robin into `folds`. Returns each item's fold (bench/kfold.ts and the local trainer's
 * cross-fitting deal alike).
 */
export function stratifiedFolds(labels: readonly number[], folds: number, seed: number): number[] {
  const foldOf = new Array<number>(labels.length).fill(0);
  for (const label of new Set(labels)) {
    const members = labels.flatMap((l, index) => (l === label ? [index] : []));
    shuffled(members, seededRandom(seed + label)).forEach((index, i) => {
      foldOf[index] = i % folds;
    });
  }
  return foldOf;
}
