/** Statistics of the monitor report, on plain arrays (no dependency needed for these few formulas). */

export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const position = (sorted.length - 1) * q;
  const low = Math.floor(position);
  const high = Math.ceil(position);
  const a = sorted[low] as number;
  const b = sorted[high] as number;
  return a + (b - a) * (position - low);
}

/** Counts of values in `bins` equal-width bins over [0, 1]. */
export function histogram(values: ArrayLike<number>, bins: number): number[] {
  const counts = new Array<number>(bins).fill(0);
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    const bin = Math.min(bins - 1, Math.max(0, Math.floor(v * bins)));
    counts[bin] = (counts[bin] as number) + 1;
  }
  return counts;
}

export function argmax(values: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if ((values[i] as number) > (values[best] as number)) best = i;
  return best;
}

/** `value` rounded to `digits` decimals (records keep 4 unless they say otherwise). */
export function round(value: number, digits = 4): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
