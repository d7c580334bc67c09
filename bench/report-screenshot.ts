/**
 * Opens a monitor report in headless Chromium and takes a screenshot (bench/results/report.png), to see
 * that the self-contained HTML shows its charts offline. Skipped where Chromium is not installed.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../test/helpers/workspace.js';
import { ROOT, record, scratchDir } from './common.js';

const chromium = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find(existsSync);
if (chromium === undefined) {
  process.stdout.write(
    'report-screenshot: skipped, no chromium on this machine (apt-get install chromium)\n',
  );
  process.exit(0);
}
const dir = scratchDir('screenshot');
const capture = join(dir, 'capture');
mkdirSync(capture);
const start = Date.parse('2026-11-23T10:00:00Z');
const lines = Array.from({ length: 300 }, (_, i) => {
  const p = 0.5 + 0.5 * Math.abs(Math.sin(i));
  const probabilities = i % 3 === 0 ? [1 - p, p] : [p, 1 - p];
  return JSON.stringify({
    captureData: {
      endpointOutput: {
        observedContentType: 'application/json',
        mode: 'OUTPUT',
        data: JSON.stringify(probabilities),
        encoding: 'JSON',
      },
    },
    eventMetadata: {
      eventId: String(i),
      inferenceTime: new Date(start + i * 20_000).toISOString().replace(/\.\d+Z/, 'Z'),
    },
    eventVersion: '0',
  });
});
writeFileSync(join(capture, 'capture.jsonl'), `${lines.join('\n')}\n`);
const result = await runCli(['monitor-report', '--capture', capture, '--json'], { cwd: dir });
if (result.code !== 0) throw new Error(result.stderr);
const reportDir = (JSON.parse(result.stdout).outputs as { reportDir: string }).reportDir;
const png = join(ROOT, 'bench', 'results', 'report.png');
execFileSync(
  chromium,
  [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    `--user-data-dir=${join(dir, 'chromium')}`,
    '--window-size=1200,1700',
    `--screenshot=${png}`,
    `file://${join(reportDir, 'report.html')}`,
  ],
  { stdio: 'ignore' },
);
record('report-screenshot', {
  command: 'node --import tsx bench/report-screenshot.ts',
  screenshot: 'bench/results/report.png',
  bytes: statSync(png).size,
});
