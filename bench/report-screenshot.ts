/**
 * Opens a run's monitor report in headless Chromium as a person would: checks the console, every image
 * and the charts' axis labels, and saves a full-page screenshot (bench/results/report.png).
 *   node --import tsx bench/report-screenshot.ts [REPORT_HTML]
 * Without an argument, the newest run's report under .scones/runs (make one with
 * `npm start -- --source images:../shared/data/cifar100-vehicles`). `--smoke`: the report of a one-epoch run
 * on 40 synthetic images, its screenshot in a scratch folder.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { checkPage, ensureChromium } from '../test/helpers/chromium.js';
import { ARGS, ROOT, record, requireSharedImages, runArgs, SMOKE, scratchDir } from './common.js';

function newestRunReport(workDir = join(ROOT, '.scones')): string | undefined {
  const runs = join(workDir, 'runs');
  if (!existsSync(runs)) return undefined;
  return readdirSync(runs)
    .map((run) => join(runs, run, 'report', 'report.html'))
    .filter((file) => existsSync(file))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
}

/** A one-epoch run on synthetic images, for --smoke: the report of the current code, whatever is on disk. */
async function smokeRunReport(): Promise<string | undefined> {
  const { runCli } = await import('../test/helpers/workspace.js');
  const dir = scratchDir('report-smoke');
  const images = requireSharedImages('report-screenshot');
  const run = await runCli(runArgs(images, 1), { cwd: dir });
  if (run.code !== 0) throw new Error(run.stderr);
  return newestRunReport(join(dir, '.scones'));
}

const report = ARGS[0] ?? (SMOKE ? await smokeRunReport() : newestRunReport());
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
const png = SMOKE
  ? join(scratchDir('report-png'), 'report.png')
  : join(ROOT, 'bench', 'results', 'report.png');
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
