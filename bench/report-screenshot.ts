/**
 * Opens a run's monitor report in headless Chromium as a person would: checks the console, every image
 * and the charts' axis labels, and saves a full-page screenshot (bench/results/report.png).
 *   node --import tsx bench/report-screenshot.ts [REPORT_HTML]
 * Without an argument, the newest run's report under .scones/runs (make one with
 * `npm start -- --source images:../shared/data/cifar100-vehicles`).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { checkPage, ensureChromium } from '../test/helpers/chromium.js';
import { ROOT, record } from './common.js';

function newestRunReport(): string | undefined {
  const runs = join(ROOT, '.scones', 'runs');
  if (!existsSync(runs)) return undefined;
  return readdirSync(runs)
    .map((run) => join(runs, run, 'report', 'report.html'))
    .filter((file) => existsSync(file))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
}

const report = process.argv[2] ?? newestRunReport();
if (report === undefined) {
  process.stdout.write(
    'report-screenshot: skipped, no run report here: pass a report.html or run `npm start` first\n',
  );
  process.exit(0);
}
const chromium = ensureChromium();
if ('missing' in chromium) {
  process.stdout.write(`report-screenshot: skipped, ${chromium.missing}\n`);
  process.exit(0);
}
const png = join(ROOT, 'bench', 'results', 'report.png');
const check = await checkPage(chromium.path, report, png);
record('report-screenshot', {
  command: 'node --import tsx bench/report-screenshot.ts',
  report: relative(ROOT, report),
  screenshot: 'bench/results/report.png',
  bytes: statSync(png).size,
  consoleErrors: check.consoleErrors,
  images: check.images,
  charts: check.charts,
  axisLabelsChecked: check.axisLabels,
  overlappingAxisLabels: check.overlappingAxisLabels,
});
const failed = check.consoleErrors.length + check.images.broken.length + check.overlappingAxisLabels.length;
process.stdout.write(
  `report-screenshot: ${check.images.total} images (${check.images.broken.length} broken), ${check.charts} charts, ${check.axisLabels} axis labels (${check.overlappingAxisLabels.length} overlapping), ${check.consoleErrors.length} console errors -> ${relative(ROOT, png)}\n`,
);
if (failed > 0) process.exitCode = 1;
