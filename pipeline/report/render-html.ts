import type { EvaluationRecord, Quality } from '../contracts/evaluation.js';
import { automationLine, percent } from '../util/automation.js';
import type { Example, ReportSummary } from './aggregate.js';
import type { Chart } from './charts.js';
import type { ReportContext } from './report-context.js';
import { escapeMarkup } from './workflow-graph.js';

export function fmt(value: number | null | undefined, digits = 4): string {
  return value === null || value === undefined || !Number.isFinite(value) ? 'n/a' : value.toFixed(digits);
}

function table(head: readonly string[], rows: readonly (readonly (string | number)[])[], cls = ''): string {
  const cell = (v: string | number, tag: string) => `<${tag}>${escapeMarkup(String(v))}</${tag}>`;
  return `<table class="${cls}"><tr>${head.map((h) => cell(h, 'th')).join('')}</tr>\n${rows
    .map((r) => `<tr>${r.map((v) => cell(v, 'td')).join('')}</tr>`)
    .join('\n')}</table>`;
}

function header(context: ReportContext, s: ReportSummary): string {
  const h = context.header;
  return table(
    ['about', 'value'],
    [
      ['model (training id)', h.trainingId ?? 'n/a (capture from outside a run)'],
      ['trainer', h.trainer ?? 'n/a'],
      ['dataset digest', h.datasetDigest ?? 'n/a'],
      ['trained', h.trainedAt ?? 'n/a'],
      ['endpoint', h.endpoint ?? 'n/a'],
      ['deployed threshold', `${s.threshold} (${h.thresholdSource})`],
      ['run', h.runId],
      ['capture window', s.timeRange === null ? 'no records' : `${s.timeRange.from} to ${s.timeRange.to}`],
      ['capture source', h.source],
    ],
    'header',
  );
}

function qualitySection(executions: Quality | null, evaluation: EvaluationRecord | undefined): string {
  const held = evaluation?.quality;
  if (executions === null && held === undefined)
    return '<p>No execution could be joined to a known label, and no held-out evaluation was given.</p>';
  const columns = [executions, held].filter((q): q is Quality => q !== null && q !== undefined);
  const name = (q: Quality) =>
    q.split === 'executions' ? 'test executions (captured)' : `held-out ${q.split} split`;
  const summary = table(
    ['figure', ...columns.map(name)],
    [
      ['records', ...columns.map((q) => q.count)],
      ['accuracy', ...columns.map((q) => percent(q.accuracy))],
      [
        '95% interval (Wilson)',
        ...columns.map((q) => `${percent(q.accuracyInterval.low)} to ${percent(q.accuracyInterval.high)}`),
      ],
      ['log loss', ...columns.map((q) => fmt(q.logLoss))],
      ['expected calibration error', ...columns.map((q) => fmt(q.expectedCalibrationError))],
    ],
  );
  const perClass = columns
    .map(
      (q) =>
        `<div><h4>${escapeMarkup(name(q))}</h4>${table(
          ['class', 'precision', 'recall', 'F1', 'support'],
          q.classes.map((c) => [c.name, fmt(c.precision, 3), fmt(c.recall, 3), fmt(c.f1, 3), c.support]),
        )}${table(
          ['actual \\ predicted', ...q.classes.map((c) => c.name)],
          q.confusionMatrix.map((row, i) => [q.classes[i]?.name ?? String(i), ...row]),
          'confusion',
        )}</div>`,
    )
    .join('\n');
  const note =
    held === undefined ? '<p class="note">No held-out evaluation recorded for this model yet.</p>' : '';
  return `${summary}${note}<div class="side">${perClass}</div>`;
}

function examples(title: string, list: readonly Example[]): string {
  if (list.length === 0) return `<h3>${escapeMarkup(title)}</h3><p>None.</p>`;
  const cards = list
    .map((e) => {
      const image =
        e.image === null
          ? '<div class="noimage">not an image</div>'
          : `<img src="${e.image}" alt="${escapeMarkup(`predicted ${e.predicted}`)}" width="96" height="96">`;
      return `<figure class="example">${image}<figcaption>${escapeMarkup(`label ${e.label ?? 'unknown'}`)}<br>${escapeMarkup(`predicted ${e.predicted}`)}<br>${escapeMarkup(`confidence ${fmt(e.confidence, 3)}`)}</figcaption></figure>`;
    })
    .join('\n');
  return `<h3>${escapeMarkup(title)}</h3><div class="examples">${cards}</div>`;
}

function executionsTable(context: ReportContext): string {
  if (context.executions === undefined) return '<p>No executions document (a report on outside capture).</p>';
  const name = (cls: number | undefined) => (cls === undefined ? '' : (context.classes[cls] ?? String(cls)));
  // The state an execution stopped in; a failure from a document that does not record it says so.
  const stoppedIn = (e: NonNullable<ReportContext['executions']>[number]) =>
    e.failedState ?? (e.outcome === 'ERROR' ? 'not recorded' : '');
  return table(
    ['execution', 'image', 'label', 'prediction', 'confidence', 'outcome', 'stopped in state', 'duration ms'],
    context.executions.map((e) => [
      e.name,
      e.s3Key.split('/').slice(-2).join('/'),
      name(e.label),
      name(e.predicted),
      fmt(e.confidence, 3),
      e.outcome + (e.error && e.outcome === 'ERROR' ? ` (${e.error})` : ''),
      stoppedIn(e),
      e.durationMs,
    ]),
    'executions',
  );
}

function numbers(s: ReportSummary): string {
  const counts = table(
    ['count', 'value'],
    [
      ['records in the window', s.records],
      ['capture files', s.files],
      ['records outside the window', s.outsideWindow],
      ['malformed lines', s.malformed.count],
      ['inputs that are not images', s.undecodableInputs],
      ['labelled records', s.labelled],
      ['under the threshold', s.underThreshold],
      ['share under the threshold', fmt(s.shareUnderThreshold)],
      ['automation rate (at or above it)', fmt(s.automationRate)],
      ['promised at deploy (held-out lower bound)', fmt(s.promisedAutomationRate)],
    ],
  );
  const confidence = table(
    ['quantile', 'top confidence'],
    Object.entries(s.confidence).map(([k, v]) => [k, fmt(v)]),
  );
  const perClass = table(['predicted class', 'records'], Object.entries(s.predictionsPerClass));
  const drift = Object.entries(s.drift ?? {})
    .map(
      ([name, t]) =>
        `<h4>${escapeMarkup(name)}</h4>${table(
          ['bin', 'baseline', 'window'],
          t.bins.map((b) => [b.bin, b.baseline, b.window]),
        )}`,
    )
    .join('\n');
  return `<div class="side">${counts}${confidence}${perClass}</div>${drift}`;
}

/** The automation trade-off: the promise, the window's rate, and the curve. */
function automationSection(s: ReportSummary, context: ReportContext, chart: string): string {
  const automation = context.evaluation?.automation;
  if (automation === undefined) return '';
  return `<h2>Automation: orders routed without a person</h2>
<p>The model ${escapeMarkup(automationLine(automation))}. This window routed ${fmt(s.automationRate * 100, 1)}% of ${s.records} inferences at the threshold ${s.threshold}.</p>
${chart}`;
}

function costSection({ cost }: ReportContext): string {
  if (cost === undefined) return '';
  const items = cost.items.map((i) => `<li>${escapeMarkup(`${i.item}: ${i.text}`)}</li>`).join('');
  return `<h2>What the run costs</h2>
<p><strong>${escapeMarkup(cost.headline)}.</strong></p><ul>${items}</ul><p class="note">Prices: ${escapeMarkup(cost.prices)}.</p>`;
}

/** The whole report as one self-contained page: charts as inline SVG, thumbnails as data URLs. */
export function reportHtml(
  title: string,
  s: ReportSummary,
  charts: readonly Chart[],
  context: ReportContext,
): string {
  const verdicts = Object.entries(s.verdicts)
    .map(
      ([name, v]) =>
        `<tr class="${v.verdict}"><td>${escapeMarkup(name)}</td><td>${v.verdict}</td><td>${escapeMarkup(v.detail)}</td></tr>`,
    )
    .join('\n');
  const figure = (c: Chart) =>
    `<figure class="chart" data-chart="${escapeMarkup(c.name)}">${c.svg}<figcaption>${escapeMarkup(c.title)}</figcaption></figure>`;
  const byName = (prefix: string) =>
    charts
      .filter((c) => c.name.startsWith(prefix))
      .map(figure)
      .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeMarkup(title)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:.6rem 1rem .6rem 0;vertical-align:top}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}
tr.pass td:nth-child(2){color:#1a7f37}tr.warn td:nth-child(2){color:#b35900;font-weight:bold}tr.too-few td:nth-child(2){color:#666}
.side{display:flex;flex-wrap:wrap;gap:1rem;align-items:flex-start}.examples{display:flex;flex-wrap:wrap;gap:.6rem}
figure.example{margin:0;width:110px;font-size:.8rem}figure.example img{image-rendering:pixelated;border:1px solid #ccc}
figure.chart{margin:1rem 0}.note{color:#666}
</style></head><body>
<h1>${escapeMarkup(title)}</h1>
<h2>Model and window</h2>
${header(context, s)}
<h2>Checks</h2>
<table><tr><th>check</th><th>verdict</th><th>detail</th></tr>
${verdicts}
</table>
${automationSection(s, context, byName('automation-curve'))}
<h2>Quality against ground truth</h2>
${qualitySection(s.quality, context.evaluation)}
<h2>Examples</h2>
${examples('Misclassified', s.examples.misclassified)}
${examples('Lowest confidence', s.examples.lowestConfidence)}
<h2>Drift: inputs and predictions against the baseline</h2>
${s.drift === null ? '<p>No baseline saved with the model: drift not measured.</p>' : byName('drift-')}
${byName('confidence-histogram')}
<h2>The workflow</h2>
${context.workflowSvg ?? '<p>No state machine definition given.</p>'}
${executionsTable(context)}
<h2>Over time</h2>
${byName('confidence-over-time')}
${byName('predictions-per-class')}
${costSection(context)}
<h2>All numbers</h2>
${numbers(s)}
<p class="note">Every figure is also in report.json.</p>
</body></html>
`;
}
