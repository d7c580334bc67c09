/**
 * Runs every benchmark in turn (they compete for the same two cores, so never in parallel), then writes
 * bench/RESULTS.md from their results. `npm run bench`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { machine, ROOT } from './common.js';

const BENCHMARKS = [
  'stage-data',
  'train',
  'endpoint',
  'monitor-report',
  'e2e',
  'cli-start',
  'report-screenshot',
];
// `--report-only` rewrites RESULTS.md from the recorded results without running anything.
const reportOnly = process.argv.includes('--report-only');
const only = process.argv.slice(2).filter((a) => !a.startsWith('--'));
for (const name of reportOnly ? [] : only.length > 0 ? only : BENCHMARKS) {
  process.stdout.write(`== bench ${name}\n`);
  execFileSync(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', `${name}.ts`)], {
    stdio: 'inherit',
    env: { ...process.env, CI: 'true' },
  });
}
// kfold (about 12 trainings: bench/kfold.ts) runs on its own; its last result is reported with the rest.
const sections = [...BENCHMARKS, 'kfold', 'reliability']
  .filter((name) => existsSync(join(ROOT, 'bench', 'results', `${name}.json`)))
  .map((name) => {
    const result = JSON.parse(readFileSync(join(ROOT, 'bench', 'results', `${name}.json`), 'utf8')) as Record<
      string,
      unknown
    >;
    const { benchmark: _, machine: m, ...figures } = result;
    // Per-fold and per-image detail stays in the results file: the page keeps the figures.
    const page = JSON.stringify(figures, (key, value) => (key === 'perFold' ? undefined : value), 2);
    return `## ${name}\n\nMachine: ${JSON.stringify(m)}\n\n\`\`\`json\n${page}\n\`\`\`\n`;
  });
writeFileSync(
  join(ROOT, 'bench', 'RESULTS.md'),
  `# Benchmark results\n\nWritten by \`npm run bench\` (bench/run-all.ts) from bench/results/*.json; each section is the last run of that benchmark, with its date.\nThis machine: ${JSON.stringify(machine())}.\n\n${sections.join('\n')}`,
);
