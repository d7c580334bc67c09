import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { automationLine, percent } from '../util/automation.js';
import { costMarkdown } from '../util/run-cost.js';
import { argmax } from '../util/statistics.js';
import type { CaptureAggregator, ReportSummary, Verdict } from './aggregate.js';
import { reportCharts } from './charts.js';
import { fmt, reportHtml } from './render-html.js';
import type { ReportContext } from './report-context.js';
import { stateCounts, unplacedNotes, type WorkflowCounts, workflowSvg } from './workflow-graph.js';

export { CaptureAggregator } from './aggregate.js';
export { labelsByInferenceId } from './read.js';

/** Writes report.json, summary.md, report.html (self-contained) and the PNG charts; returns the file names. */
export async function writeReport(
  dir: string,
  title: string,
  summary: ReportSummary,
  aggregator: CaptureAggregator,
  context: ReportContext,
  cacheDir?: string,
): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const baselineConfidence = (aggregator.inputs.baseline?.probabilities ?? []).map(
    (p) => p[argmax(p)] as number,
  );
  const chartData = aggregator.chartData();
  const charts = await reportCharts(
    {
      ...chartData,
      confidence: { window: chartData.points.map((p) => p.confidence), baseline: baselineConfidence },
      drift: summary.drift ?? {},
      predictions: Object.entries(summary.predictionsPerClass).map(([predicted, count]) => ({
        predicted,
        count,
      })),
      automation: context.evaluation?.automation,
    },
    cacheDir,
  );
  const counts = workflowCounts(context);
  const workflow =
    context.stateMachine === undefined || counts === undefined
      ? undefined
      : workflowSvg(context.stateMachine, counts);
  const json = {
    ...summary,
    header: context.header,
    evaluation: context.evaluation ?? null,
    workflow: counts ?? null,
  };
  writeFileSync(join(dir, 'report.json'), `${JSON.stringify(json, null, 2)}\n`);
  writeFileSync(join(dir, 'summary.md'), summaryMarkdown(title, summary, context));
  writeFileSync(
    join(dir, 'report.html'),
    reportHtml(title, summary, charts, {
      ...context,
      ...(workflow === undefined ? {} : { workflowSvg: workflow }),
    }),
  );
  for (const chart of charts) writeFileSync(join(dir, `${chart.name}.png`), chart.png);
  return ['report.html', 'summary.md', 'report.json', ...charts.map((c) => `${c.name}.png`)];
}

/** Per state of the definition, the executions that passed, were filtered and failed there. */
export function workflowCounts(context: ReportContext): WorkflowCounts | undefined {
  return context.stateMachine === undefined
    ? undefined
    : stateCounts(context.stateMachine, context.executions ?? []);
}

/** The job summary: header, checks, quality with its interval (held-out beside it), class counts, states. */
export function summaryMarkdown(title: string, s: ReportSummary, context?: ReportContext): string {
  const h = context?.header;
  const icon = (v: Verdict) =>
    v === 'pass' ? ':white_check_mark:' : v === 'warn' ? ':warning:' : ':grey_question:';
  return [
    `### ${title}`,
    '',
    `${s.records} captured inferences in the window, read from ${s.files} files (${s.malformed.count} malformed lines; ${s.outsideWindow} more inferences outside the window, not counted).`,
    '',
    ...(h === undefined
      ? []
      : [
          `Model \`${h.trainingId ?? 'n/a'}\` (${h.trainer ?? 'n/a'}, dataset ${h.datasetDigest ?? 'n/a'}), endpoint ${h.endpoint ?? 'n/a'}, threshold ${s.threshold} (${h.thresholdSource}), run ${h.runId}.`,
          '',
        ]),
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
    ...workflowLines(context),
    ...automationLines(s, context),
    ...qualityLines(s, context),
    `Confidence quantiles: p05 ${fmt(s.confidence.p05)}, p25 ${fmt(s.confidence.p25)}, median ${fmt(s.confidence.p50)}, p75 ${fmt(s.confidence.p75)}, p95 ${fmt(s.confidence.p95)}.`,
    '',
    ...(context?.cost === undefined ? [] : ['#### What the run costs', '', costMarkdown(context.cost)]),
  ].join('\n');
}

function workflowLines(context: ReportContext | undefined): string[] {
  const counts = context === undefined ? undefined : workflowCounts(context);
  if (counts === undefined) return [];
  const bold = (n: number) => (n > 0 ? `**${n}**` : '0');
  return [
    '| state | passed | filtered | failed |',
    '| --- | --- | --- | --- |',
    ...counts.states.map((st) => `| ${st.name} | ${st.passed} | ${st.filtered} | ${bold(st.failed)} |`),
    '',
    ...unplacedNotes(counts).map((note) => `Executions off the graph: ${note}.`),
    ...(unplacedNotes(counts).length === 0 ? [] : ['']),
  ];
}

/** The promise (held out, at deploy time) and what the window did. */
function automationLines(s: ReportSummary, context: ReportContext | undefined): string[] {
  const automation = context?.evaluation?.automation;
  if (automation === undefined) return [];
  return [
    `Automation: the model ${automationLine(automation)}. This window routed ${(s.automationRate * 100).toFixed(1)}% of ${s.records} inferences at the threshold ${s.threshold}.`,
    '',
  ];
}

function qualityLines(s: ReportSummary, context: ReportContext | undefined): string[] {
  const line = (name: string, q: NonNullable<ReportSummary['quality']>) =>
    `| ${name} | ${q.count} | ${percent(q.accuracy)} | ${percent(q.accuracyInterval.low)}-${percent(q.accuracyInterval.high)} | ${fmt(q.logLoss)} |`;
  const rows = [
    ...(s.quality === null ? [] : [line('test executions (captured)', s.quality)]),
    ...(context?.evaluation === undefined
      ? []
      : [line(`held-out ${context.evaluation.quality.split} split`, context.evaluation.quality)]),
  ];
  if (rows.length === 0) return [];
  return [
    '| quality | records | accuracy | 95% interval | log loss |',
    '| --- | --- | --- | --- | --- |',
    ...rows,
    '',
  ];
}
