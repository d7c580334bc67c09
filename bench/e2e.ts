/**
 * `scones run --source images:../shared/data/cifar100-vehicles` from a clean work directory, then the
 * re-run. Targets: whole run under 5 minutes with validation accuracy >= 0.85; re-run under 20 s.
 */
import { runCli } from '../test/helpers/workspace.js';
import { record, requireSharedImages, scratchDir } from './common.js';

const images = requireSharedImages('e2e');
const dir = scratchDir('e2e');
type Manifest = {
  stages: Record<string, { durationMs: number; reused: boolean; outputs: Record<string, unknown> }>;
};

async function run(): Promise<{ seconds: number; manifest: Manifest }> {
  const started = performance.now();
  const result = await runCli(['run', '--source', `images:${images}`, '--json'], { cwd: dir });
  const seconds = (performance.now() - started) / 1000;
  if (result.code !== 0) throw new Error(result.stderr);
  return { seconds, manifest: JSON.parse(result.stdout) as Manifest };
}

const first = await run();
const second = await run();
const total = Object.values(first.manifest.stages).reduce((a, s) => a + s.durationMs, 0);
const executions = first.manifest.stages['test-executions']?.outputs.summary as {
  succeeded: number;
  filtered: number;
  errors: number;
  accuracy: number;
};
record('e2e', {
  command: 'node --import tsx bench/e2e.ts',
  firstRunSeconds: Math.round(first.seconds * 10) / 10,
  stageShare: Object.fromEntries(
    Object.entries(first.manifest.stages).map(([stage, s]) => [
      stage,
      `${(s.durationMs / 1000).toFixed(1)} s (${((s.durationMs / total) * 100).toFixed(0)}%)`,
    ]),
  ),
  validationAccuracy: first.manifest.stages.train?.outputs.validationAccuracy,
  executions,
  rerunSeconds: Math.round(second.seconds * 10) / 10,
  rerunReused: Object.entries(second.manifest.stages)
    .filter(([, s]) => s.reused)
    .map(([stage]) => stage),
  targets: { firstRunSeconds: '< 300', validationAccuracy: '>= 0.85', rerunSeconds: '< 20' },
});
