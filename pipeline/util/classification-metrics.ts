import type { ClassMetrics, Quality } from '../contracts/evaluation.js';

/** Wilson score interval for a proportion, two-sided 95% by default (z); better than the normal one near 0 and 1 and for small n. */
export function wilsonInterval(
  successes: number,
  total: number,
  z = 1.959964,
): { low: number; high: number } {
  if (total === 0) return { low: 0, high: 1 };
  const p = successes / total;
  const z2 = z * z;
  const centre = (p + z2 / (2 * total)) / (1 + z2 / total);
  const half = (z * Math.sqrt((p * (1 - p)) / total + z2 / (4 * total * total))) / (1 + z2 / total);
  return { low: Math.max(0, centre - half), high: Math.min(1, centre + half) };
}

export interface LabelledPrediction {
  /** The true class label, 0..N-1. */
  label: number;
  /** Class probabilities in label order. */
  probabilities: readonly number[];
}

/** Accuracy, per-class precision/recall/F1, confusion matrix, log loss and expected calibration error. */
export function classificationQuality(
  predictions: readonly LabelledPrediction[],
  classNames: readonly string[],
  split: Quality['split'],
  calibrationBins = 10,
): Quality {
  const n = classNames.length;
  const confusion = classNames.map(() => new Array<number>(n).fill(0));
  const binCount = new Array<number>(calibrationBins).fill(0);
  const binConfidence = new Array<number>(calibrationBins).fill(0);
  const binCorrect = new Array<number>(calibrationBins).fill(0);
  let correct = 0;
  let logLoss = 0;
  for (const { label, probabilities } of predictions) {
    if (!Number.isInteger(label) || label < 0 || label >= n)
      throw new RangeError(`label ${label} is outside 0..${n - 1} (classes: ${classNames.join(', ')})`);
    let predicted = 0;
    for (let i = 1; i < probabilities.length; i++)
      if ((probabilities[i] ?? 0) > (probabilities[predicted] ?? 0)) predicted = i;
    const row = confusion[label] as number[];
    row[predicted] = (row[predicted] ?? 0) + 1;
    const hit = predicted === label;
    if (hit) correct++;
    logLoss -= Math.log(Math.max(1e-15, probabilities[label] ?? 0));
    const confidence = probabilities[predicted] ?? 0;
    const bin = Math.min(calibrationBins - 1, Math.floor(confidence * calibrationBins));
    binCount[bin] = (binCount[bin] ?? 0) + 1;
    binConfidence[bin] = (binConfidence[bin] ?? 0) + confidence;
    binCorrect[bin] = (binCorrect[bin] ?? 0) + (hit ? 1 : 0);
  }
  const total = predictions.length;
  const classes: ClassMetrics[] = classNames.map((name, c) => {
    const truePositives = confusion[c]?.[c] ?? 0;
    const support = (confusion[c] ?? []).reduce((a, b) => a + b, 0);
    const predictedAs = confusion.reduce((sum, row) => sum + (row[c] ?? 0), 0);
    const precision = predictedAs === 0 ? 0 : truePositives / predictedAs;
    const recall = support === 0 ? 0 : truePositives / support;
    const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
    return { name, precision, recall, f1, support };
  });
  let ece = 0;
  for (let b = 0; b < calibrationBins; b++) {
    const count = binCount[b] ?? 0;
    if (count === 0) continue;
    ece += (count / total) * Math.abs((binCorrect[b] ?? 0) / count - (binConfidence[b] ?? 0) / count);
  }
  return {
    split,
    count: total,
    accuracy: total === 0 ? 0 : correct / total,
    accuracyInterval: wilsonInterval(correct, total),
    classes,
    confusionMatrix: confusion,
    logLoss: total === 0 ? 0 : logLoss / total,
    expectedCalibrationError: ece,
    calibrationBins,
  };
}
