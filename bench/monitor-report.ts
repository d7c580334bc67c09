/**
 * The report over 10k, 100k and 1M generated capture records (1000 records per .jsonl, in the local
 * store): seconds and peak memory of each, each size in its own process so peaks do not mix.
 * Targets: linear growth; 1M records under 60 s with peak memory under 512 MB.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, record, scratchDir } from './common.js';

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

const child = process.argv[2];
if (child !== undefined) {
  // Child: only the report, so its peak memory is the report's (plus the CLI's baseline).
  const [capture, dir] = [child, process.argv[3] as string];
  const { runCli } = await import('../test/helpers/workspace.js');
  const t0 = performance.now();
  const result = await runCli(['monitor-report', '--capture', capture, '--json'], { cwd: dir });
  const seconds = (performance.now() - t0) / 1000;
  if (result.code !== 0) throw new Error(result.stderr);
  const report = JSON.parse(result.stdout).outputs as { records: number };
  process.stdout.write(
    JSON.stringify({
      records: report.records,
      seconds,
      peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
    }),
  );
} else {
  const run = (capture: string, dir: string) => {
    const out = execFileSync(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'bench', 'monitor-report.ts'), capture, dir],
      {
        maxBuffer: 1 << 24,
        env: { ...process.env, CI: 'true' },
      },
    );
    return JSON.parse(out.toString().trim().split('\n').at(-1) as string) as {
      records: number;
      seconds: number;
      peakRssMB: number;
    };
  };
  // Baseline: the same CLI on an empty capture folder.
  const emptyDir = scratchDir('monitor-empty');
  mkdirSync(join(emptyDir, 'capture'));
  const baseline = run(join(emptyDir, 'capture'), emptyDir);
  const sizes: Record<string, unknown> = {};
  for (const records of [10_000, 100_000, 1_000_000]) {
    const dir = scratchDir(`monitor-${records}`);
    writeCapture(records, join(dir, 'capture'));
    const figures = run(join(dir, 'capture'), dir);
    sizes[String(records)] = {
      ...figures,
      seconds: Math.round(figures.seconds * 10) / 10,
      microsecondsPerRecord: Math.round((figures.seconds / records) * 1e7) / 10,
      peakRssAboveBaselineMB: figures.peakRssMB - baseline.peakRssMB,
    };
  }
  record('monitor-report', {
    command: 'node --import tsx bench/monitor-report.ts',
    baselinePeakRssMB: baseline.peakRssMB,
    sizes,
    targets: { seconds1M: '< 60', peakRssMB1M: '< 512' },
  });
}
