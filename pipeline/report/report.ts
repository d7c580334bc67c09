import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inferenceIdFor } from '../../lambdas/shared/events.js';
import type { ObjectStore } from '../ports.js';
import { type CapturedInference, type MalformedLine, parseCaptureText } from './capture.js';
import { type Chart, reportCharts } from './charts.js';
import { argmax, histogram, populationStabilityIndex, quantile } from './statistics.js';

export type Verdict = 'pass' | 'warn';
const CONFIDENCE_BINS = 10;
const MAX_TIME_POINTS = 5000;

export interface ReportInputs {
  classes: string[];
  threshold: number;
  /** Only records with inferenceTime in [from, to] (inclusive, ms); all records when absent. */
  window?: { from: number; to: number };
  /** True labels by inference id (the test cases' keys), to measure accuracy. */
  labels?: Map<string, number>;
  /** The training run's validation predictions: the drift baseline. */
  baseline?: { probabilities: number[][] };
  minAccuracy: number;
}

/** Accumulates capture records without keeping them: a few typed arrays, so a million records stay small. */
export class CaptureAggregator {
  private confidences = new Float64Array(1024);
  private times = new Float64Array(1024);
  private predicted = new Uint16Array(1024);
  count = 0;
  outsideWindow = 0;
  labelled = 0;
  correct = 0;
  files = 0;
  malformed: MalformedLine[] = [];
  malformedCount = 0;

  constructor(private readonly inputs: ReportInputs) {}

  add(record: CapturedInference): void {
    const window = this.inputs.window;
    if (window !== undefined && (record.time < window.from || record.time > window.to)) {
      this.outsideWindow++;
      return;
    }
    if (this.count === this.confidences.length) this.grow();
    const cls = argmax(record.probabilities);
    this.confidences[this.count] = record.probabilities[cls] as number;
    this.times[this.count] = record.time;
    this.predicted[this.count] = cls;
    this.count++;
    const label = record.inferenceId === undefined ? undefined : this.inputs.labels?.get(record.inferenceId);
    if (label !== undefined) {
      this.labelled++;
      if (label === cls) this.correct++;
    }
  }

  addFile(text: string, file: string): void {
    this.files++;
    const bad = parseCaptureText(text, file, (record) => this.add(record));
    this.malformedCount += bad.length;
    // Keep the first examples only: a corrupt bucket must not grow memory without bound.
    for (const line of bad) if (this.malformed.length < 50) this.malformed.push(line);
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
    const perClass = classes.map((name, label) => ({ name, count: 0, label }));
    let under = 0;
    for (let i = 0; i < n; i++) {
      const cls = this.predicted[i] as number;
      const entry =
        perClass[cls] ?? perClass[perClass.push({ name: `class ${cls}`, count: 0, label: cls }) - 1];
      if (entry !== undefined) entry.count++;
      if ((confidences[i] as number) < threshold) under++;
    }
    const shareUnder = n === 0 ? 0 : under / n;
    const accuracy = this.labelled === 0 ? null : this.correct / this.labelled;
    const drift = this.drift(
      perClass.map((c) => c.count),
      confidences,
    );
    const verdicts: Record<string, { verdict: Verdict; detail: string }> = {
      records: {
        verdict: n > 0 ? 'pass' : 'warn',
        detail: n > 0 ? `${n} records` : 'no captured records in the window',
      },
      shareUnderThreshold: {
        verdict: shareUnder <= 0.5 ? 'pass' : 'warn',
        detail: `${(shareUnder * 100).toFixed(1)}% of inferences under the threshold ${threshold}`,
      },
      accuracy:
        accuracy === null
          ? { verdict: 'warn', detail: 'no captured inference could be joined to a known label' }
          : {
              verdict: accuracy >= minAccuracy ? 'pass' : 'warn',
              detail: `${(accuracy * 100).toFixed(1)}% of ${this.labelled} labelled inferences correct (minimum ${minAccuracy})`,
            },
      malformed: {
        verdict: this.malformedCount === 0 ? 'pass' : 'warn',
        detail: `${this.malformedCount} malformed lines`,
      },
      ...(drift === undefined
        ? {}
        : {
            classMixDrift: {
              verdict: psiVerdict(drift.classMixPsi),
              detail: `PSI ${drift.classMixPsi.toFixed(4)} of predicted classes vs validation`,
            },
            confidenceDrift: {
              verdict: psiVerdict(drift.confidencePsi),
              detail: `PSI ${drift.confidencePsi.toFixed(4)} of confidence vs validation`,
            },
          }),
    };
    return {
      records: n,
      files: this.files,
      outsideWindow: this.outsideWindow,
      malformed: { count: this.malformedCount, examples: this.malformed },
      predictionsPerClass: Object.fromEntries(perClass.map((c) => [c.name, c.count])),
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
      labelled: this.labelled,
      accuracy,
      drift: drift ?? null,
      timeRange: this.timeRange(),
      verdicts,
    };
  }

  /** First and last inference time (a loop: spreading a million values would overflow the stack). */
  private timeRange(): { from: string; to: string } | null {
    if (this.count === 0) return null;
    let from = Number.POSITIVE_INFINITY;
    let to = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < this.count; i++) {
      const t = this.times[i] as number;
      if (t < from) from = t;
      if (t > to) to = t;
    }
    return { from: new Date(from).toISOString(), to: new Date(to).toISOString() };
  }

  private drift(classCounts: number[], confidences: Float64Array) {
    const baseline = this.inputs.baseline;
    if (baseline === undefined || baseline.probabilities.length === 0 || this.count === 0) return undefined;
    const baseClass = new Array<number>(classCounts.length).fill(0);
    const baseConfidence: number[] = [];
    for (const p of baseline.probabilities) {
      const cls = argmax(p);
      baseClass[cls] = (baseClass[cls] ?? 0) + 1;
      baseConfidence.push(p[cls] as number);
    }
    return {
      baselineRecords: baseline.probabilities.length,
      classMixPsi: populationStabilityIndex(baseClass, classCounts),
      confidencePsi: populationStabilityIndex(
        histogram(baseConfidence, CONFIDENCE_BINS),
        histogram(confidences, CONFIDENCE_BINS),
      ),
      baselineClassMix: baseClass,
    };
  }

  /** Chart data: a sample of points for the time chart, histograms and counts. */
  chartData() {
    const { classes, threshold } = this.inputs;
    const name = (cls: number) => classes[cls] ?? `class ${cls}`;
    const step = Math.max(1, Math.ceil(this.count / MAX_TIME_POINTS));
    const points = [];
    for (let i = 0; i < this.count; i += step)
      points.push({
        time: new Date(this.times[i] as number).toISOString(),
        confidence: this.confidences[i] as number,
        predicted: name(this.predicted[i] as number),
      });
    const bins = 20;
    const counts = new Map<number, number[]>();
    const perClass = new Map<number, number>();
    for (let i = 0; i < this.count; i++) {
      const cls = this.predicted[i] as number;
      const row = counts.get(cls) ?? new Array<number>(bins).fill(0);
      const bin = Math.min(bins - 1, Math.floor((this.confidences[i] as number) * bins));
      row[bin] = (row[bin] ?? 0) + 1;
      counts.set(cls, row);
      perClass.set(cls, (perClass.get(cls) ?? 0) + 1);
    }
    return {
      threshold,
      points,
      histograms: [...counts].flatMap(([cls, row]) =>
        row.map((count, b) => ({ predicted: name(cls), binStart: b / bins, binEnd: (b + 1) / bins, count })),
      ),
      predictions: classes.map((c, cls) => ({ predicted: c, count: perClass.get(cls) ?? 0 })),
    };
  }
}

function psiVerdict(psi: number): Verdict {
  return Number.isFinite(psi) && psi < 0.1 ? 'pass' : 'warn';
}

export type ReportSummary = ReturnType<CaptureAggregator['summarize']>;

/** Reads every capture object under the prefix (paginated), every line of each. */
export async function aggregateFromStore(
  store: ObjectStore,
  prefix: string,
  aggregator: CaptureAggregator,
): Promise<void> {
  for await (const object of store.list(prefix)) {
    if (!object.key.endsWith('.jsonl')) continue;
    aggregator.addFile(Buffer.from(await store.get(object.key)).toString('utf8'), store.uri(object.key));
  }
}

/** Labels by inference id from test cases, as the classify Lambda derives the id from the key. */
export function labelsByInferenceId(cases: readonly { s3Key: string; label: number }[]): Map<string, number> {
  return new Map(cases.map((c) => [inferenceIdFor(c.s3Key), c.label]));
}

/** Writes report.json, summary.md, report.html (charts inline) and the PNG charts; returns the file names. */
export async function writeReport(
  dir: string,
  title: string,
  summary: ReportSummary,
  aggregator: CaptureAggregator,
): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const charts = await reportCharts(aggregator.chartData());
  writeFileSync(join(dir, 'report.json'), `${JSON.stringify(summary, null, 2)}\n`);
  writeFileSync(join(dir, 'summary.md'), summaryMarkdown(title, summary));
  writeFileSync(join(dir, 'report.html'), reportHtml(title, summary, charts));
  for (const chart of charts) writeFileSync(join(dir, `${chart.name}.png`), chart.png);
  return ['report.html', 'summary.md', 'report.json', ...charts.map((c) => `${c.name}.png`)];
}

function fmt(value: number | null | undefined, digits = 4): string {
  return value === null || value === undefined || !Number.isFinite(value) ? 'n/a' : value.toFixed(digits);
}

export function summaryMarkdown(title: string, s: ReportSummary): string {
  const icon = (v: Verdict) => (v === 'pass' ? ':white_check_mark:' : ':warning:');
  return [
    `### ${title}`,
    '',
    `${s.records} captured inferences from ${s.files} files (${s.malformed.count} malformed lines, ${s.outsideWindow} outside the window).`,
    '',
    '| check | verdict | detail |',
    '| --- | --- | --- |',
    ...Object.entries(s.verdicts).map(
      ([name, v]) => `| ${name} | ${icon(v.verdict)} ${v.verdict} | ${v.detail} |`,
    ),
    '',
    '| predictions per class | count |',
    '| --- | --- |',
    ...Object.entries(s.predictionsPerClass).map(([name, count]) => `| ${name} | ${count} |`),
    '',
    `Confidence quantiles: p05 ${fmt(s.confidence.p05)}, p25 ${fmt(s.confidence.p25)}, median ${fmt(s.confidence.p50)}, p75 ${fmt(s.confidence.p75)}, p95 ${fmt(s.confidence.p95)}.`,
    '',
  ].join('\n');
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function reportHtml(title: string, s: ReportSummary, charts: Chart[]): string {
  const rows = Object.entries(s.verdicts)
    .map(
      ([name, v]) =>
        `<tr class="${v.verdict}"><td>${escapeHtml(name)}</td><td>${v.verdict}</td><td>${escapeHtml(v.detail)}</td></tr>`,
    )
    .join('\n');
  const figures = charts
    .map(
      (c) =>
        `<figure><img alt="${escapeHtml(c.title)}" src="data:image/png;base64,${c.png.toString('base64')}"><figcaption>${escapeHtml(c.title)}</figcaption></figure>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}
tr.pass td:nth-child(2){color:#1a7f37}tr.warn td:nth-child(2){color:#b35900;font-weight:bold}
figure{margin:1.5rem 0}img{max-width:100%;border:1px solid #eee}
</style></head><body>
<h1>${escapeHtml(title)}</h1>
<p>${s.records} captured inferences from ${s.files} capture files; ${s.malformed.count} malformed lines; ${s.outsideWindow} records outside the window.</p>
<table><tr><th>check</th><th>verdict</th><th>detail</th></tr>
${rows}
</table>
<h2>Charts</h2>
${figures}
<h2>All numbers</h2>
<pre>${escapeHtml(JSON.stringify(s, null, 2))}</pre>
</body></html>
`;
}
