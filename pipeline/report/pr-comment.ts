import { z } from 'zod';
import {
  type Automation,
  type EvaluationRecord,
  evaluationRecordSchema,
  type Quality,
} from '../contracts/evaluation.js';
import { automationLine, percent } from '../util/automation.js';
import { parseJson } from '../util/json.js';

/** The first line of the comment: later pushes find it and update the comment in place. */
export const PR_COMMENT_MARKER = '<!-- scones-model-feedback -->';

/**
 * An evaluation from any of the documents that carry one: an EvaluationRecord itself, a run's
 * manifest (its `evaluate` section) or a monitor report's report.json (its `evaluation`).
 */
const carriedEvaluation = z.union([
  z
    .object({ stages: z.object({ evaluate: z.object({ outputs: evaluationRecordSchema }) }) })
    .transform((manifest) => manifest.stages.evaluate.outputs),
  z.object({ evaluation: evaluationRecordSchema }).transform((report) => report.evaluation),
  evaluationRecordSchema,
]);

const EXPECTED = "an evaluation (an evaluate section, a report's evaluation, or an evaluation record)";

export function readEvaluation(text: string, where: string): EvaluationRecord {
  return parseJson(text, carriedEvaluation, where, EXPECTED, 'run `scones evaluate` first');
}

/** A manifest of a run that stopped before evaluate, or a report written without an evaluation. */
const carriesNone = z
  .union([
    z.looseObject({ stages: z.looseObject({ evaluate: z.never().optional() }) }),
    z.looseObject({ evaluation: z.null() }),
  ])
  .transform(() => undefined);

/** main's evaluation, or undefined when main's document carries none: the comment then shows the PR alone. */
export function readMainEvaluation(text: string, where: string): EvaluationRecord | undefined {
  return parseJson(
    text,
    z.union([carriedEvaluation, carriesNone]),
    where,
    EXPECTED,
    'run `scones evaluate` first',
  );
}

const points = (delta: number) => `${delta >= 0 ? '+' : '−'}${Math.abs(delta * 100).toFixed(1)} pts`;
/** A signed difference of two figures that are not shares (log loss, calibration error). */
const signed = (delta: number) => `${delta >= 0 ? '+' : '−'}${Math.abs(delta).toFixed(4)}`;

function confusionTable(quality: Quality): string {
  const names = quality.classes.map((c) => c.name);
  const head = `<tr><th>actual \\ predicted</th>${names.map((n) => `<th>${n}</th>`).join('')}</tr>`;
  const rows = quality.confusionMatrix.map(
    (row, i) => `<tr><th>${names[i] ?? i}</th>${row.map((v) => `<td>${v}</td>`).join('')}</tr>`,
  );
  return `<table>${head}${rows.join('')}</table>`;
}

/** Threshold, automation rate and accuracy of the routed (held out), PR beside main. */
function automationRows(pr: EvaluationRecord, main: EvaluationRecord | undefined): string[] {
  const a = pr.automation;
  const m = main?.automation;
  if (a === undefined && m === undefined) return [];
  const rate = (x: Automation | undefined) =>
    x === undefined
      ? 'n/a'
      : `${percent(x.heldOut.automationRate)} (${percent(x.heldOut.automationRateInterval.low)}–${percent(x.heldOut.automationRateInterval.high)})`;
  const kept = (x: Automation | undefined) =>
    x === undefined
      ? 'n/a'
      : `${percent(x.heldOut.keptAccuracy)} (${percent(x.heldOut.keptAccuracyInterval.low)}–${percent(x.heldOut.keptAccuracyInterval.high)})`;
  const delta = (f: (x: Automation) => number) =>
    a === undefined || m === undefined ? '' : points(f(a) - f(m));
  const threshold = (x: Automation | undefined) =>
    x === undefined
      ? 'n/a'
      : `${x.threshold.toFixed(4)} (${x.thresholdSource === 'auto' ? `auto, ${x.basis}` : 'explicit'})`;
  return [
    `| threshold (chosen off the test split) | ${threshold(a)} | ${threshold(m)} | |`,
    `| routed automatically (held out, 95% interval) | ${rate(a)} | ${rate(m)} | ${delta((x) => x.heldOut.automationRate)} |`,
    `| accuracy of the routed (held out, 95% interval) | ${kept(a)} | ${kept(m)} | ${delta((x) => x.heldOut.keptAccuracy)} |`,
  ];
}

/**
 * The trade-off curve as a table: share routed and accuracy of the routed on the held-out test split at
 * thresholds 0.50..0.95, the deployed threshold's row in bold (▶), the target accuracy named.
 */
function curveTable(pr: EvaluationRecord, main: EvaluationRecord | undefined): string[] {
  const a = pr.automation;
  if (a === undefined) return [];
  const m = main?.automation;
  const at = (x: Automation | undefined, t: number) =>
    x?.curve.find((p) => Math.abs(p.threshold - t) < 1e-9)?.test;
  const cell = (p: { automationRate: number; keptAccuracy: number } | undefined) =>
    p === undefined
      ? 'n/a | n/a'
      : `${percent(p.automationRate)} | ${p.automationRate === 0 ? '–' : percent(p.keptAccuracy)}`;
  const rows = a.curve
    .filter((p) => Math.round(p.threshold * 100) % 5 === 0)
    .map((p) => ({
      t: p.threshold,
      row: `| ${p.threshold.toFixed(2)} | ${cell(p.test)} | ${cell(at(m, p.threshold))} |`,
    }));
  const chosen = `| **▶ ${a.threshold.toFixed(4)}** | **${percent(a.heldOut.automationRate)}** | **${percent(a.heldOut.keptAccuracy)}** | | |`;
  const index = rows.findIndex((r) => r.t > a.threshold);
  rows.splice(index === -1 ? rows.length : index, 0, { t: a.threshold, row: chosen });
  return [
    '',
    `<details><summary>Share routed against accuracy of the routed (held out; target ${percent(a.targetAccuracy)}, ▶ the threshold this pull request deploys)</summary>`,
    '',
    '| threshold | routed (PR) | accuracy of routed (PR) | routed (main) | accuracy of routed (main) |',
    '| --- | --- | --- | --- | --- |',
    ...rows.map((r) => r.row),
    '',
    '</details>',
  ];
}

export interface PrCommentInputs {
  pr: EvaluationRecord;
  /** main's model; absent when main has no evaluated run yet. */
  main?: EvaluationRecord | undefined;
  /** The CloudFormation change-set preview (Markdown), when the preview ran. */
  previewMarkdown?: string;
  reportUrl?: string;
  /** What produced the PR's model, e.g. the gate's verdict or a failed run. */
  runNote?: string;
}

/**
 * The pull request's model feedback: accuracy, automation (the threshold, the share routed and the accuracy
 * of the routed, held out) and per-class deltas against main, the trade-off curve, confusion matrices side by side.
 */
export function prCommentBody(inputs: PrCommentInputs): string {
  const { pr, main } = inputs;
  const lines = [PR_COMMENT_MARKER, '## Model feedback', ''];
  const interval = (q: Quality) =>
    `${percent(q.accuracy)} (95% interval ${percent(q.accuracyInterval.low)}–${percent(q.accuracyInterval.high)}, ${q.count} ${q.split} images)`;
  if (inputs.runNote !== undefined) lines.push(`> ${inputs.runNote}`, '');
  if (pr.automation !== undefined)
    lines.push(`This pull request's model ${automationLine(pr.automation)}.`, '');
  const sameTest = main !== undefined && main.testSplitDigest === pr.testSplitDigest;
  if (main === undefined)
    lines.push(`No evaluation of main's model was found: this pull request's model alone.`, '');
  else if (!sameTest)
    lines.push(
      `> main's model was evaluated on a different test split (${main.testSplitDigest.slice(0, 12)} vs ${pr.testSplitDigest.slice(0, 12)}): the deltas compare different images.`,
      '',
    );
  lines.push(
    '| | this pull request | main | delta |',
    '| --- | --- | --- | --- |',
    `| model | \`${pr.trainingId}\` | ${main === undefined ? 'n/a' : `\`${main.trainingId}\``} | |`,
    `| accuracy (held-out ${pr.quality.split}) | ${interval(pr.quality)} | ${main === undefined ? 'n/a' : interval(main.quality)} | ${main === undefined ? '' : points(pr.quality.accuracy - main.quality.accuracy)} |`,
    `| log loss | ${pr.quality.logLoss.toFixed(4)} | ${main?.quality.logLoss.toFixed(4) ?? 'n/a'} | ${main === undefined ? '' : signed(pr.quality.logLoss - main.quality.logLoss)} |`,
    `| calibration error (ECE) | ${pr.quality.expectedCalibrationError.toFixed(4)} | ${main?.quality.expectedCalibrationError.toFixed(4) ?? 'n/a'} | ${main === undefined ? '' : signed(pr.quality.expectedCalibrationError - main.quality.expectedCalibrationError)} |`,
    ...automationRows(pr, main),
    ...curveTable(pr, main),
    '',
    '| class | F1 (PR) | F1 (main) | F1 delta | recall (PR) | recall (main) | support |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  );
  for (const c of pr.quality.classes) {
    const m = main?.quality.classes.find((x) => x.name === c.name);
    lines.push(
      `| ${c.name} | ${c.f1.toFixed(3)} | ${m?.f1.toFixed(3) ?? 'n/a'} | ${m === undefined ? '' : points(c.f1 - m.f1)} | ${c.recall.toFixed(3)} | ${m?.recall.toFixed(3) ?? 'n/a'} | ${c.support} |`,
    );
  }
  lines.push(
    '',
    '<table><tr><th>confusion matrix: this pull request</th><th>confusion matrix: main</th></tr>',
    `<tr><td>\n\n${confusionTable(pr.quality)}\n\n</td><td>\n\n${main === undefined ? 'n/a' : confusionTable(main.quality)}\n\n</td></tr></table>`,
    '',
  );
  if (inputs.previewMarkdown !== undefined && inputs.previewMarkdown.trim() !== '')
    lines.push(
      '<details><summary>CloudFormation change-set preview</summary>',
      '',
      inputs.previewMarkdown.trim(),
      '',
      '</details>',
      '',
    );
  if (inputs.reportUrl !== undefined) lines.push(`Full report: [artifact](${inputs.reportUrl})`, '');
  return `${lines.join('\n')}\n`;
}
