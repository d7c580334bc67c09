import { z } from 'zod';
import { decodeImage, sniffImageFormat } from '../data/image.js';
import type { MonitorReportRequest } from '../ports.js';
import {
  classificationQuality,
  type LabelledPrediction,
  wilsonInterval,
} from '../util/classification-metrics.js';
import { argmax, quantile } from '../util/statistics.js';
import { type CapturedInference, type MalformedLine, parseCaptureText } from './capture.js';
import { chiSquareHomogeneity, continuousDrift, type DriftTest, describeDrift } from './drift.js';
import {
  IMAGE_FEATURES,
  type ImageFeature,
  type ImageStatistics,
  imageStatistics,
} from './image-statistics.js';

/** One check of a report (report.json's `verdicts`): what the scheduled monitor's alerting parses. */
export const checkSchema = z.object({ verdict: z.enum(['pass', 'warn', 'too-few']), detail: z.string() });
export type Check = z.infer<typeof checkSchema>;
export type Verdict = Check['verdict'];
/** Thumbnails kept of each kind: bounded, so a large capture keeps memory flat. */
const MAX_EXAMPLES = 12;
/** Images decoded for input statistics: enough for the test, not a million decodes. */
const MAX_IMAGE_SAMPLE = 20_000;
const MAX_IMAGE_PIXELS = 4096 * 4096;

/** What the capture is measured against (see MonitorReportRequest), with the labels and the baseline's images. */
export type ReportInputs = Pick<
  MonitorReportRequest,
  'classes' | 'threshold' | 'window' | 'minAccuracy' | 'promisedAutomationRate'
> & {
  /** True labels by inference id (the test cases' keys), to measure accuracy. */
  labels?: Map<string, number> | undefined;
  /** The drift baseline: the training run's validation predictions, and statistics of training images. */
  baseline?: { probabilities: number[][]; images?: ImageStatistics[] } | undefined;
};

export interface Example {
  inferenceId: string | null;
  time: string;
  predicted: string;
  label: string | null;
  confidence: number;
  /** The captured payload as a data URL, or null when it is not an image. */
  image: string | null;
}

/** Accumulates capture records in a few typed arrays, so a million records stay small. */
export class CaptureAggregator {
  private confidences = new Float64Array(1024);
  private times = new Float64Array(1024);
  private predicted = new Uint16Array(1024);
  private readonly images: Record<ImageFeature, number[]> = {
    pixels: [],
    brightness: [],
    contrast: [],
    saturation: [],
  };
  private readonly labelledPredictions: LabelledPrediction[] = [];
  private readonly misclassified: Example[] = [];
  private lowestConfidence: Example[] = [];
  count = 0;
  outsideWindow = 0;
  files = 0;
  undecodableInputs = 0;
  malformed: MalformedLine[] = [];
  malformedCount = 0;

  constructor(readonly inputs: ReportInputs) {}

  add(record: CapturedInference): void {
    const window = this.inputs.window;
    if (window !== undefined && (record.time < window.from || record.time > window.to)) {
      this.outsideWindow++;
      return;
    }
    if (this.count === this.confidences.length) this.grow();
    const cls = argmax(record.probabilities);
    const confidence = record.probabilities[cls] as number;
    this.confidences[this.count] = confidence;
    this.times[this.count] = record.time;
    this.predicted[this.count] = cls;
    this.count++;
    const label = record.inferenceId === undefined ? undefined : this.inputs.labels?.get(record.inferenceId);
    if (label !== undefined) this.labelledPredictions.push({ label, probabilities: record.probabilities });
    const input = this.count <= MAX_IMAGE_SAMPLE || label !== undefined ? record.input?.() : undefined;
    if (input !== undefined && this.count <= MAX_IMAGE_SAMPLE) this.addImageStatistics(input);
    const wrong = label !== undefined && label !== cls;
    const lowest = this.lowestConfidence.at(-1);
    const amongLowest = this.lowestConfidence.length < MAX_EXAMPLES || confidence < (lowest?.confidence ?? 1);
    if ((wrong && this.misclassified.length < MAX_EXAMPLES) || amongLowest) {
      const example: Example = {
        inferenceId: record.inferenceId ?? null,
        time: new Date(record.time).toISOString(),
        predicted: this.className(cls),
        label: label === undefined ? null : this.className(label),
        confidence,
        image: imageDataUrl(input ?? record.input?.()),
      };
      if (wrong && this.misclassified.length < MAX_EXAMPLES) this.misclassified.push(example);
      if (amongLowest)
        this.lowestConfidence = [...this.lowestConfidence, example]
          .sort((a, b) => a.confidence - b.confidence)
          .slice(0, MAX_EXAMPLES);
    }
  }

  addFile(text: string, file: string): void {
    this.files++;
    const bad = parseCaptureText(text, file, (record) => this.add(record));
    this.malformedCount += bad.length;
    // Keep the first examples only: a corrupt bucket must not grow memory without bound.
    for (const line of bad) if (this.malformed.length < 50) this.malformed.push(line);
  }

  private addImageStatistics(bytes: Buffer): void {
    if (sniffImageFormat(bytes) === undefined) {
      this.undecodableInputs++;
      return;
    }
    try {
      const stats = imageStatistics(decodeImage(bytes, 'captured input', MAX_IMAGE_PIXELS));
      for (const feature of IMAGE_FEATURES) this.images[feature].push(stats[feature]);
    } catch {
      this.undecodableInputs++;
    }
  }

  private className(cls: number): string {
    return this.inputs.classes[cls] ?? `class ${cls}`;
  }

  private grow(): void {
    const size = this.confidences.length * 2;
    const grow = <T extends Float64Array | Uint16Array>(array: T, make: (n: number) => T) => {
      const next = make(size);
      next.set(array);
      return next;
    };
    this.confidences = grow(this.confidences, (n) => new Float64Array(n));
    this.times = grow(this.times, (n) => new Float64Array(n));
    this.predicted = grow(this.predicted, (n) => new Uint16Array(n));
  }

  /** Every number of the report. */
  summarize() {
    const { classes, threshold, minAccuracy } = this.inputs;
    const n = this.count;
    const confidences = this.confidences.subarray(0, n);
    const sorted = Float64Array.from(confidences).sort();
    const classCounts = classes.map(() => 0);
    let under = 0;
    for (let i = 0; i < n; i++) {
      const cls = this.predicted[i] as number;
      classCounts[cls] = (classCounts[cls] ?? 0) + 1;
      if ((confidences[i] as number) < threshold) under++;
    }
    const classNames = classCounts.map((_, cls) => this.className(cls));
    const shareUnder = n === 0 ? 0 : under / n;
    const automationRate = n === 0 ? 0 : (n - under) / n;
    const promise = this.inputs.promisedAutomationRate;
    const quality =
      this.labelledPredictions.length === 0
        ? null
        : classificationQuality(this.labelledPredictions, classNames, 'executions');
    const drift = this.drift(classNames, classCounts, confidences);
    const span = this.timeSpan();
    const verdicts: Record<string, Check> = {
      records: {
        verdict: n > 0 ? 'pass' : 'warn',
        detail: n > 0 ? `${n} records` : 'no captured records in the window',
      },
      automationRate: automationVerdict(n, n - under, threshold, promise),
      accuracy:
        quality === null
          ? // Live traffic carries no labels: nothing to judge, not a warning (the daily monitor stays quiet).
            (this.inputs.labels?.size ?? 0) === 0
            ? { verdict: 'too-few', detail: 'no labels for these inferences: accuracy is not measured' }
            : { verdict: 'warn', detail: 'no captured inference could be joined to a known label' }
          : {
              verdict: quality.accuracy >= minAccuracy ? 'pass' : 'warn',
              detail: `${(quality.accuracy * 100).toFixed(1)}% of ${quality.count} labelled executions correct, 95% interval ${(quality.accuracyInterval.low * 100).toFixed(1)}-${(quality.accuracyInterval.high * 100).toFixed(1)}% (minimum ${minAccuracy})`,
            },
      malformed: {
        verdict: this.malformedCount === 0 ? 'pass' : 'warn',
        detail: `${this.malformedCount} malformed lines`,
      },
      ...Object.fromEntries(
        Object.entries(drift ?? {}).map(([name, test]) => [
          `${name}Drift`,
          { verdict: test.verdict, detail: describeDrift(name, test) },
        ]),
      ),
    };
    return {
      records: n,
      files: this.files,
      outsideWindow: this.outsideWindow,
      undecodableInputs: this.undecodableInputs,
      malformed: { count: this.malformedCount, examples: this.malformed },
      predictionsPerClass: Object.fromEntries(classNames.map((name, cls) => [name, classCounts[cls] ?? 0])),
      confidence: {
        min: sorted[0] ?? null,
        p05: quantile(sorted, 0.05),
        p25: quantile(sorted, 0.25),
        p50: quantile(sorted, 0.5),
        p75: quantile(sorted, 0.75),
        p95: quantile(sorted, 0.95),
        max: sorted[n - 1] ?? null,
      },
      threshold,
      underThreshold: under,
      shareUnderThreshold: shareUnder,
      automationRate,
      promisedAutomationRate: promise ?? null,
      labelled: this.labelledPredictions.length,
      accuracy: quality?.accuracy ?? null,
      quality,
      drift,
      examples: { misclassified: this.misclassified, lowestConfidence: this.lowestConfidence },
      timeRange: span && { from: new Date(span.from).toISOString(), to: new Date(span.to).toISOString() },
      verdicts,
    };
  }

  /** First and last inference time in ms (a loop: spreading a million values would overflow the stack). */
  timeSpan(): { from: number; to: number } | null {
    if (this.count === 0) return null;
    let from = Number.POSITIVE_INFINITY;
    let to = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < this.count; i++) {
      const t = this.times[i] as number;
      if (t < from) from = t;
      if (t > to) to = t;
    }
    return { from, to };
  }

  /** Chi-square tests of the window against the baseline; null without a baseline. */
  private drift(classNames: string[], classCounts: number[], confidences: Float64Array) {
    const baseline = this.inputs.baseline;
    if (baseline === undefined || baseline.probabilities.length === 0) return null;
    const baseClass = classNames.map(() => 0);
    const baseConfidence: number[] = [];
    for (const p of baseline.probabilities) {
      const cls = argmax(p);
      baseClass[cls] = (baseClass[cls] ?? 0) + 1;
      baseConfidence.push(p[cls] as number);
    }
    const tests: Record<string, DriftTest> = {
      predictedClass: chiSquareHomogeneity(classNames, baseClass, classCounts),
      confidence: continuousDrift(baseConfidence, confidences),
    };
    const images = baseline.images ?? [];
    if (images.length > 0)
      for (const feature of IMAGE_FEATURES)
        tests[`image${feature[0]?.toUpperCase()}${feature.slice(1)}`] = continuousDrift(
          images.map((s) => s[feature]),
          this.images[feature],
          feature === 'pixels' ? 0 : 3,
        );
    return tests;
  }

  /** Chart data: a sample of points for the time chart, histograms and counts. */
  chartData(maxPoints = 5000) {
    const step = Math.max(1, Math.ceil(this.count / maxPoints));
    const points = [];
    for (let i = 0; i < this.count; i += step)
      points.push({
        time: this.times[i] as number,
        confidence: this.confidences[i] as number,
        predicted: this.className(this.predicted[i] as number),
      });
    return { threshold: this.inputs.threshold, points, span: this.timeSpan() };
  }
}

export type ReportSummary = ReturnType<CaptureAggregator['summarize']>;

const percent = (v: number) => `${(v * 100).toFixed(1)}%`;

/**
 * The live automation rate (share of inferences at or above the deployed threshold) against the promise,
 * the held-out rate's lower bound the model was deployed with: a warning when the window is below it
 * beyond its own sampling noise (its 95% Wilson upper bound under the promise). Comparing the point alone
 * raised a false alarm on the first real-images run: 19 of 30 (63.3%) against a 68.6% promise, a window
 * drawn from the very test split that made the promise (2026-12-03, `scones run --source images:...`).
 */
export function automationVerdict(
  count: number,
  kept: number,
  threshold: number,
  promise: number | undefined,
): Check {
  if (count === 0) return { verdict: 'too-few', detail: 'no captured inferences in the window' };
  const rate = kept / count;
  const interval = wilsonInterval(kept, count);
  const live = `${percent(rate)} of ${count} inferences at or above the threshold ${threshold} (95% interval ${percent(interval.low)}-${percent(interval.high)})`;
  if (promise === undefined)
    return {
      verdict: 'too-few',
      detail: `${live}; no held-out automation rate was recorded for this threshold to compare with`,
    };
  const promised = `the ${percent(promise)} promised at deploy time (held-out lower bound)`;
  if (interval.high < promise) return { verdict: 'warn', detail: `${live}, below ${promised}` };
  return {
    verdict: 'pass',
    detail:
      rate >= promise
        ? `${live}, at or above ${promised}`
        : `${live}: under ${promised}, but within this window's sampling noise`,
  };
}

function imageDataUrl(bytes: Buffer | undefined): string | null {
  if (bytes === undefined) return null;
  const format = sniffImageFormat(bytes);
  return format === undefined ? null : `data:image/${format};base64,${bytes.toString('base64')}`;
}
