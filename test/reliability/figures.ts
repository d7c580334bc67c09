interface Figures {
  faultsInjected: number;
  faultsSurvived: number;
  badInputsTried: number;
  badInputsClearErrors: number;
  recordsLost: number;
}

/**
 * The suite's figures, collected across its tests and printed as one table at the end of `npm test`.
 * Kept on globalThis: mocha loads the root-hooks file as CommonJS and the tests as ESM, two module copies.
 */
const shared = globalThis as { __sconesReliabilityFigures?: Figures };
shared.__sconesReliabilityFigures ??= {
  faultsInjected: 0,
  faultsSurvived: 0,
  badInputsTried: 0,
  badInputsClearErrors: 0,
  recordsLost: 0,
};
export const figures: Figures = shared.__sconesReliabilityFigures;

/**
 * Counts `count` injected faults, and counts them survived only when every check made after them held
 * (the run completed, the data read back whole...): a survived figure is what was verified, never
 * incremented alongside the injected one. Returns the names of the checks that failed, for the test to
 * assert empty after the figures are counted.
 */
export function recordFaults(count: number, checks: Record<string, boolean>): string[] {
  if (Object.keys(checks).length === 0) throw new Error('recordFaults needs at least one check');
  figures.faultsInjected += count;
  const failed = Object.entries(checks)
    .filter(([, held]) => !held)
    .map(([name]) => name);
  if (failed.length === 0) figures.faultsSurvived += count;
  return failed;
}

export function printFigures(): void {
  const rows = [
    ['faults injected / survived', `${figures.faultsInjected} / ${figures.faultsSurvived}`],
    ['bad inputs tried / clear errors', `${figures.badInputsTried} / ${figures.badInputsClearErrors}`],
    ['records lost (must be 0)', String(figures.recordsLost)],
  ];
  const width = Math.max(...rows.map(([a]) => (a as string).length));
  process.stdout.write(
    `\nReliability figures\n${rows.map(([a, b]) => `  ${(a as string).padEnd(width)}  ${b}`).join('\n')}\n`,
  );
}
