import jstat from 'jstat';

/**
 * Drift as a chi-square test of homogeneity between the baseline and the window (a 2 x k table of
 * counts), so the verdict accounts for sample size: 30 records must differ a lot to be called drift.
 * Continuous figures are binned at the baseline's quantiles, which keeps every bin's expected count equal.
 */

/** Below this many expected records per bin the chi-square approximation is not trusted (Cochran's rule). */
export const MIN_EXPECTED_PER_BIN = 5;
/** The p-value under which the window is said to differ from the baseline. */
export const DRIFT_ALPHA = 0.01;
const QUANTILE_BINS = 10;

export type DriftVerdict = 'pass' | 'warn' | 'too-few';

export interface DriftTest {
  verdict: DriftVerdict;
  statistic: number | null;
  degreesOfFreedom: number;
  pValue: number | null;
  baselineCount: number;
  windowCount: number;
  /** The smallest window that this test judges. */
  minimumWindow: number;
  /** Bin labels with the baseline's and the window's counts, side by side. */
  bins: { bin: string; baseline: number; window: number }[];
}

/** Chi-square test of homogeneity on counts over the same bins. */
export function chiSquareHomogeneity(
  labels: readonly string[],
  baseline: readonly number[],
  window: readonly number[],
): DriftTest {
  const bins = labels.map((bin, i) => ({ bin, baseline: baseline[i] ?? 0, window: window[i] ?? 0 }));
  const used = bins.filter((b) => b.baseline + b.window > 0);
  const baselineCount = sum(bins.map((b) => b.baseline));
  const windowCount = sum(bins.map((b) => b.window));
  const minimumWindow = MIN_EXPECTED_PER_BIN * Math.max(2, used.length);
  const degreesOfFreedom = Math.max(0, used.length - 1);
  const base = { degreesOfFreedom, baselineCount, windowCount, minimumWindow, bins };
  if (windowCount < minimumWindow || baselineCount < minimumWindow)
    return { ...base, verdict: 'too-few', statistic: null, pValue: null };
  // Every record of both in one bin (e.g. every image 32 x 32): the same distribution.
  if (degreesOfFreedom === 0) return { ...base, verdict: 'pass', statistic: 0, pValue: 1 };
  const total = baselineCount + windowCount;
  let statistic = 0;
  for (const b of used) {
    const column = b.baseline + b.window;
    for (const [observed, rowTotal] of [
      [b.baseline, baselineCount],
      [b.window, windowCount],
    ] as const) {
      const expected = (rowTotal * column) / total;
      statistic += (observed - expected) ** 2 / expected;
    }
  }
  const pValue = 1 - jstat.jStat.chisquare.cdf(statistic, degreesOfFreedom);
  return { ...base, verdict: pValue < DRIFT_ALPHA ? 'warn' : 'pass', statistic, pValue };
}

/**
 * Bin edges at the baseline's quantiles (deduplicated, so heavy ties give fewer bins). A constant
 * baseline gets edges around its value, so a window that leaves it still lands in other bins.
 */
export function quantileEdges(baseline: readonly number[], bins = QUANTILE_BINS): number[] {
  const sorted = [...baseline].sort((a, b) => a - b);
  const first = sorted[0];
  if (first !== undefined && first === sorted.at(-1))
    return [first, first + Math.max(1e-9, Math.abs(first) * 1e-9)];
  const edges: number[] = [];
  for (let i = 1; i < bins; i++) {
    const edge = sorted[Math.floor((i * sorted.length) / bins)];
    if (edge !== undefined && edge !== edges.at(-1) && edge !== sorted[0]) edges.push(edge);
  }
  return edges;
}

/** Counts of values below each edge, between edges, and from the last edge up. */
export function countByEdges(values: ArrayLike<number>, edges: readonly number[]): number[] {
  const counts = new Array<number>(edges.length + 1).fill(0);
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    let bin = 0;
    while (bin < edges.length && v >= (edges[bin] as number)) bin++;
    counts[bin] = (counts[bin] as number) + 1;
  }
  return counts;
}

/**
 * Drift of a continuous figure (confidence, brightness...): binned at the baseline's quantiles, up to
 * deciles, with fewer bins for a small window or a small baseline, so each bin of both still expects
 * MIN_EXPECTED_PER_BIN records (a 20-image validation baseline against a large window: 4 bins, not 10).
 */
export function continuousDrift(
  baseline: readonly number[],
  window: ArrayLike<number>,
  digits = 3,
): DriftTest {
  const smaller = Math.min(window.length, baseline.length);
  const bins = Math.max(2, Math.min(QUANTILE_BINS, Math.floor(smaller / MIN_EXPECTED_PER_BIN)));
  const edges = quantileEdges(baseline, bins);
  const labels = [...edges, Number.POSITIVE_INFINITY].map((high, i) => {
    const low = i === 0 ? Number.NEGATIVE_INFINITY : (edges[i - 1] as number);
    return `${Number.isFinite(low) ? low.toFixed(digits) : '-inf'} to ${Number.isFinite(high) ? high.toFixed(digits) : 'inf'}`;
  });
  return chiSquareHomogeneity(labels, countByEdges(baseline, edges), countByEdges(window, edges));
}

/** One line a person reads: the verdict with its evidence. */
export function describeDrift(what: string, test: DriftTest): string {
  if (test.verdict === 'too-few')
    return `too few records to judge ${what} (${test.windowCount} in the window, ${test.baselineCount} in the baseline; at least ${test.minimumWindow} each)`;
  const p = (test.pValue ?? 0) < 1e-4 ? '< 0.0001' : `= ${(test.pValue ?? 0).toFixed(4)}`;
  return `${what}: chi-square ${test.statistic?.toFixed(2)} on ${test.degreesOfFreedom} df, p ${p} (${test.windowCount} vs ${test.baselineCount} baseline records; drift when p < ${DRIFT_ALPHA})`;
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
