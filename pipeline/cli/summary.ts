import { join } from 'node:path';
import type { Config } from '../config.js';
import type { StageName } from '../constants.js';
import { type Manifest, stageSection } from '../manifest.js';
import { automationLine } from '../util/automation.js';
import { runCost, runUsageOf } from '../util/run-cost.js';

/** The end-of-run summary: dataset, accuracy, automation, gate, executions, cost, report. */
export function runSummary(manifest: Manifest, config: Config, reused: readonly StageName[]): string {
  const dataset = stageSection(manifest, 'stage-data')?.outputs;
  const model = stageSection(manifest, 'train')?.outputs;
  const evaluation = stageSection(manifest, 'evaluate')?.outputs;
  const gate = stageSection(manifest, 'gate')?.outputs;
  const executions = stageSection(manifest, 'test-executions')?.outputs.summary;
  const report = manifest.stages['monitor-report']?.outputs as
    | { reportDir?: string; accuracy?: number | null; records?: number }
    | undefined;
  const lines = [
    `run ${manifest.runId} complete on the ${config.backend} backend${reused.length > 0 ? ` (reused: ${reused.join(', ')})` : ''}`,
    `  dataset     ${dataset === undefined ? '-' : `${dataset.digest}: ${dataset.totals.train} train / ${dataset.totals.validation} validation / ${dataset.totals.test} test images`}`,
    `  model       ${model === undefined ? '-' : `${model.trainingId}: validation accuracy ${model.validationAccuracy.toFixed(4)} (selection, ${dataset?.totals.validation ?? '?'} images)`}`,
    `  evaluation  ${evaluation === undefined ? '-' : `test accuracy ${evaluation.quality.accuracy.toFixed(4)} (held out, ${evaluation.quality.count} images, 95% interval ${evaluation.quality.accuracyInterval.low.toFixed(3)}-${evaluation.quality.accuracyInterval.high.toFixed(3)})`}`,
    `  automation  ${evaluation?.automation === undefined ? '-' : automationLine(evaluation.automation)}`,
    `  gate        ${gate === undefined ? '-' : `${gate.forced ? 'forced' : gate.passed ? 'passed' : 'rejected'} on test accuracy (minimum ${gate.minAccuracy})`}`,
    `  executions  ${
      executions === undefined
        ? '-'
        : `${executions.succeeded} succeeded / ${executions.filtered} filtered / ${executions.errors} failed${
            typeof report?.accuracy === 'number'
              ? `; accuracy ${report.accuracy.toFixed(4)} over the captured executions with ground truth (filtered included)`
              : ''
          }`
    }`,
    ...costLines(manifest, config),
    `  report      ${report?.reportDir === undefined ? '-' : join(report.reportDir, 'report.html')}`,
  ];
  return lines.join('\n');
}

/** What the run cost on AWS (or would cost there, locally), one line per item. */
function costLines(manifest: Manifest, config: Config): string[] {
  const cost = runCost(runUsageOf(manifest, config));
  if (cost.items.length === 0) return ['  cost        -'];
  return [
    `  cost        ${cost.headline}`,
    ...cost.items.map((i) => `              ${i.item}: ${i.text}`),
    `              ${cost.prices}`,
  ];
}
