/**
 * The report over 10k, 100k and 1M generated capture records (1000 records per .jsonl, in the local
 * store): seconds and peak memory of each, each size in its own process so peaks do not mix.
 * Targets: linear growth; 1M records in at most 10 s with peak memory at most 300 MB.
 * `node --import tsx bench/monitor-report.ts [--smoke]` (--smoke: 1k and 2k records).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT, record, SMOKE, scratchDir } from './common.js';

/** Writes `records` capture records as SageMaker would: 1000 per .jsonl file. */
function writeCapture(records: number, capture: string): void {
  mkdirSync(capture, { recursive: true });
  const png = Buffer.alloc(1800, 7).toString('base64');
  const start = Date.parse('2026-11-23T10:00:00Z');
  for (let file = 0; file < records / 1000; file++) {
    const lines: string[] = [];
    for (let i = 0; i < 1000; i++) {
      const p = ((file * 1000 + i) % 997) / 997;
      lines.push(
        JSON.stringify({
          captureData: {
            endpointInput: { observedContentType: 'image/png', mode: 'INPUT', data: png, encoding: 'BASE64' },
            endpointOutput: {
              observedContentType: 'application/json',
              mode: 'OUTPUT',
              data: JSON.stringify([p, 1 - p]),
              encoding: 'JSON',
            },
          },
          eventMetadata: {
            eventId: `${file}-${i}`,
            inferenceTime: new Date(start + (file * 1000 + i) * 100).toISOString().replace(/\.\d+Z/, 'Z'),
          },
          eventVersion: '0',
        }),
      );
    }
    writeFileSync(join(capture, `${String(file).padStart(5, '0')}.jsonl`), `${lines.join('\n')}\n`);
  }
}

/**
 * The report as a user runs it, `scones monitor-report --capture DIR --json`: the compiled CLI in a
 * process of its own (no TypeScript loader), timed from spawn to exit; the process reports its own
 * peak memory after the command returns.
 */
const CHILD = `
const { compiledCli } = await import(${JSON.stringify(pathToFileURL(join(ROOT, 'scripts', 'build-cli.mjs')).href)});
const { main } = await import(await compiledCli());
const code = await main(['monitor-report', '--capture', process.argv[1], '--json']);
process.stdout.write('\\n' + JSON.stringify({ code, peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024) }) + '\\n');
process.exit(0);
`;

function run(capture: string, dir: string): { records: number; seconds: number; peakRssMB: number } {
  const started = performance.now();
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', CHILD, capture], {
    cwd: dir,
    maxBuffer: 1 << 24,
    env: { ...process.env, CI: 'true' },
    stdio: ['ignore', 'pipe', 'inherit'],
  }).toString();
  const seconds = (performance.now() - started) / 1000;
  const lines = out.trim().split('\n');
  const { code, peakRssMB } = JSON.parse(lines.pop() as string) as { code: number; peakRssMB: number };
  if (code !== 0) throw new Error(`scones monitor-report --capture ${capture} exited ${code}`);
  const report = JSON.parse(lines.join('\n')).outputs as { records: number };
  return { records: report.records, seconds, peakRssMB };
}

// Baseline: the same CLI on one capture file of 1000 records (an empty folder is refused).
const baselineDir = scratchDir('monitor-baseline');
writeCapture(1000, join(baselineDir, 'capture'));
const baseline = run(join(baselineDir, 'capture'), baselineDir);
const sizes: Record<string, unknown> = {};
for (const records of SMOKE ? [1000, 2000] : [10_000, 100_000, 1_000_000]) {
  const dir = scratchDir(`monitor-${records}`);
  writeCapture(records, join(dir, 'capture'));
  const figures = run(join(dir, 'capture'), dir);
  if (figures.records !== records)
    throw new Error(`the report counted ${figures.records} of ${records} records`);
  sizes[String(records)] = {
    ...figures,
    seconds: Math.round(figures.seconds * 10) / 10,
    microsecondsPerRecord: Math.round((figures.seconds / records) * 1e7) / 10,
    peakRssAboveBaselineMB: figures.peakRssMB - baseline.peakRssMB,
  };
}
record('monitor-report', {
  command: 'node --import tsx bench/monitor-report.ts',
  measured: 'scones monitor-report --capture DIR --json, the compiled CLI in its own process, spawn to exit',
  baseline: 'the same command on 1000 records',
  baselinePeakRssMB: baseline.peakRssMB,
  sizes,
  targets: { seconds1M: '<= 10', peakRssMB1M: '<= 300' },
});
