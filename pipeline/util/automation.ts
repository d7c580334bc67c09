import type { Automation, AutomationFigures } from '../contracts/evaluation.js';
import { type LabelledPrediction, wilsonInterval } from './classification-metrics.js';
import { argmax } from './statistics.js';

/** Top confidence and whether the top class is the true one, per prediction. */
function scored(predictions: readonly LabelledPrediction[]): { confidence: number; correct: boolean }[] {
  return predictions.map(({ label, probabilities }) => {
    const top = argmax(probabilities as number[]);
    return { confidence: probabilities[top] ?? 0, correct: top === label };
  });
}

/**
 * What a threshold does to labelled predictions: the share kept (top confidence >= threshold, as the
 * filter Lambda compares) and the accuracy of the kept ones, each with its 95% Wilson interval.
 */
export function automationAt(
  predictions: readonly LabelledPrediction[],
  threshold: number,
  split: AutomationFigures['split'],
): AutomationFigures {
  const rows = scored(predictions);
  const kept = rows.filter((r) => r.confidence >= threshold);
  const correct = kept.filter((r) => r.correct).length;
  return {
    split,
    count: rows.length,
    kept: kept.length,
    automationRate: rows.length === 0 ? 0 : kept.length / rows.length,
    automationRateInterval: wilsonInterval(kept.length, rows.length),
    keptAccuracy: kept.length === 0 ? 0 : correct / kept.length,
    keptAccuracyInterval: wilsonInterval(correct, kept.length),
  };
}

/** Thresholds the curve is drawn at: 0.50 to 0.99 in steps of 0.01 (below 0.5 nothing changes for two classes). */
export const CURVE_THRESHOLDS = Array.from({ length: 50 }, (_, i) => Math.round((0.5 + i / 100) * 100) / 100);

/** The normal quantile at 0.95: a lower bound that holds with 95% confidence on its own. */
const ONE_SIDED_95_Z = 1.644854;

/**
 * The threshold chosen on labelled predictions that are not the test split's: the lowest one whose kept
 * predictions' accuracy has a one-sided 95% Wilson lower bound at or above the target (so a lucky handful
 * cannot certify it; one-sided because the promise is "at least the target"). When no threshold is
 * certified (n predictions, all right, certify at most n/(n+1.645²): 87 cannot certify 0.97, which is
 * why the local trainer adds out-of-fold ones), the lowest threshold whose kept accuracy reaches the
 * target as measured (basis `measured`); when none even does, 1 (nothing routed automatically: basis
 * `unreachable`). Candidates are the confidences themselves, so the choice is exact, not a grid point.
 */
export function chooseThreshold(
  predictions: readonly LabelledPrediction[],
  targetAccuracy: number,
): Pick<Automation, 'chosenThreshold' | 'basis'> {
  const rows = scored(predictions).sort((a, b) => b.confidence - a.confidence);
  let correct = 0;
  let certified: number | undefined;
  let measured: number | undefined;
  // Walk down the confidences: the kept set at threshold rows[i].confidence is rows[0..i] (ties together).
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i] as (typeof rows)[number];
    if (row.correct) correct++;
    const next = rows[i + 1];
    if (next !== undefined && next.confidence === row.confidence) continue;
    const kept = i + 1;
    if (wilsonInterval(correct, kept, ONE_SIDED_95_Z).low >= targetAccuracy) certified = row.confidence;
    if (correct / kept >= targetAccuracy) measured = row.confidence;
  }
  if (certified !== undefined) return { chosenThreshold: certified, basis: 'wilson-lower-bound' };
  if (measured !== undefined) return { chosenThreshold: measured, basis: 'measured' };
  return { chosenThreshold: 1, basis: 'unreachable' };
}

/**
 * The automation record of a model: the threshold chosen on the validation and out-of-fold predictions
 * (never the test split's), what it does on each, and the held-out result on the test split at the
 * threshold that will be deployed (the chosen one under `deploy.threshold: auto`, else the explicit
 * value), plus the curve on the validation and test splits.
 */
export function automationRecord(inputs: {
  validation: readonly LabelledPrediction[];
  /** Training images scored by heads cross-fitted without them; absent where the trainer makes none (aws). */
  outOfFold?: readonly LabelledPrediction[] | undefined;
  test: readonly LabelledPrediction[];
  targetAccuracy: number;
  /** `auto` or an explicit threshold (the configuration's deploy.threshold). */
  threshold: number | 'auto';
}): Automation {
  const outOfFold = inputs.outOfFold ?? [];
  const choice = chooseThreshold([...inputs.validation, ...outOfFold], inputs.targetAccuracy);
  const threshold = inputs.threshold === 'auto' ? choice.chosenThreshold : inputs.threshold;
  const point = (split: 'validation' | 'test', t: number) => {
    const figures = automationAt(split === 'test' ? inputs.test : inputs.validation, t, split);
    return { automationRate: figures.automationRate, keptAccuracy: figures.keptAccuracy };
  };
  return {
    targetAccuracy: inputs.targetAccuracy,
    ...choice,
    validation: automationAt(inputs.validation, choice.chosenThreshold, 'validation'),
    ...(outOfFold.length === 0
      ? {}
      : { outOfFold: automationAt(outOfFold, choice.chosenThreshold, 'out-of-fold') }),
    threshold,
    thresholdSource: inputs.threshold === 'auto' ? 'auto' : 'explicit',
    heldOut: automationAt(inputs.test, threshold, 'test'),
    curve: CURVE_THRESHOLDS.map((t) => ({
      threshold: t,
      validation: point('validation', t),
      test: point('test', t),
    })),
  };
}

/** A share as a percentage with one decimal: `0.9734` is `97.3%`. */
export const percent = (v: number) => `${(v * 100).toFixed(1)}%`;

/** The headline: "routes 78.0% of orders automatically at 97.4% accuracy (held out, 95% intervals ...)". */
export function automationLine(automation: Automation): string {
  const h = automation.heldOut;
  return (
    `routes ${percent(h.automationRate)} of orders automatically at ${percent(h.keptAccuracy)} accuracy ` +
    `(held out on ${h.count} ${h.split} images, 95% intervals ${percent(h.automationRateInterval.low)}-${percent(h.automationRateInterval.high)} routed, ` +
    `${percent(h.keptAccuracyInterval.low)}-${percent(h.keptAccuracyInterval.high)} accurate; threshold ${automation.threshold.toFixed(4)} ` +
    (automation.thresholdSource === 'auto'
      ? `chosen on ${chosenOn(automation)} for target ${automation.targetAccuracy}, ${automation.basis})`
      : `set explicitly; ${chosenOn(automation)} would choose ${automation.chosenThreshold.toFixed(4)})`)
  );
}

/** What the threshold was chosen on: "100 validation images and 900 out-of-fold training images". */
export function chosenOn(automation: Automation): string {
  const validation = `${automation.validation.count} validation images`;
  return automation.outOfFold === undefined
    ? validation
    : `${validation} and ${automation.outOfFold.count} out-of-fold training images`;
}
