/**
 * Held-out accuracy of the local trainer on the 1200 real images, as the mean of three training seeds:
 * each seed trains with selection (best epoch, early stopping) on the carved validation split only, then
 * the evaluate stage scores the selected model once on the 200 test images.
 * Target: mean test accuracy >= 0.90. `node --import tsx bench/train.ts [seed...] [--smoke]`
 * (--smoke: one seed, one epoch, 40 synthetic images).
 */
import { loadavg } from 'node:os';
import type { Automation, EvaluationRecord } from '../pipeline/contracts/evaluation.js';
import type { DatasetRecord, TrainRecord } from '../pipeline/manifest.js';
import { runCli } from '../test/helpers/workspace.js';
import { ARGS, record, requireSharedImages, SMOKE, scratchDir } from './common.js';

const TARGET_KEPT_ACCURACY = 0.97;
const seeds = ARGS.map(Number);
const SEEDS = seeds.length > 0 ? seeds : SMOKE ? [7] : [7, 8, 9];
const images = requireSharedImages('train');
const dir = scratchDir('train');
const staged = await runCli(['stage-data', '--source', `images:${images}`, '--run-id', 'bench', '--json'], {
  cwd: dir,
});
if (staged.code !== 0) throw new Error(staged.stderr);
const totals = (JSON.parse(staged.stdout).outputs as DatasetRecord).totals;

const perSeed = [];
for (const seed of SEEDS) {
  const runId = `bench-seed-${seed}`;
  const seedArgs = [
    '--run-id',
    runId,
    '--set',
    `train.seed=${seed}`,
    ...(SMOKE ? ['--set', 'train.epochs=1'] : []),
  ];
  const again = await runCli(['stage-data', ...seedArgs, '--source', `images:${images}`], { cwd: dir });
  if (again.code !== 0) throw new Error(again.stderr);
  const started = performance.now();
  // The CLI runs in this process, so its CPU time is the training's: less sensitive to load than wall time.
  const cpuBefore = process.cpuUsage();
  const trained = await runCli(['train', ...seedArgs, '--json'], { cwd: dir });
  const trainSeconds = (performance.now() - started) / 1000;
  const trainCpu = process.cpuUsage(cpuBefore);
  const loadAfterTraining = loadavg().map((l) => Math.round(l * 100) / 100);
  if (trained.code !== 0) throw new Error(trained.stderr);
  const evaluated = await runCli(['evaluate', ...seedArgs, '--json'], { cwd: dir });
  if (evaluated.code !== 0) throw new Error(evaluated.stderr);
  const model = JSON.parse(trained.stdout).outputs as TrainRecord;
  // The evaluate stage always records automation; the schema leaves it optional only for older records.
  const evaluation = JSON.parse(evaluated.stdout).outputs as EvaluationRecord & { automation: Automation };
  const { quality, automation } = evaluation;
  const span = (i: { low: number; high: number }) => [round(i.low), round(i.high)];
  // The curve's test points are read here only to report how far the chosen threshold is from the best
  // the test split would allow: nothing is chosen on them.
  const testCurve = automation.curve.filter((p) => p.test.keptAccuracy >= TARGET_KEPT_ACCURACY);
  perSeed.push({
    seed,
    validationAccuracy: model.validationAccuracy,
    testAccuracy: quality.accuracy,
    testInterval95: [round(quality.accuracyInterval.low), round(quality.accuracyInterval.high)],
    automation: {
      threshold: round(automation.threshold),
      basis: automation.basis,
      validationCount: automation.validation.count,
      outOfFoldCount: automation.outOfFold?.count ?? 0,
      heldOutAutomationRate: round(automation.heldOut.automationRate),
      heldOutAutomationRateInterval95: span(automation.heldOut.automationRateInterval),
      heldOutKeptAccuracy: round(automation.heldOut.keptAccuracy),
      heldOutKeptAccuracyInterval95: span(automation.heldOut.keptAccuracyInterval),
      largestTestAutomationAtKeptAccuracy097: Math.max(0, ...testCurve.map((p) => p.test.automationRate)),
    },
    bestEpoch: model.bestEpoch,
    epochsRun: model.epochs.length,
    trainSeconds: Math.round(trainSeconds * 10) / 10,
    trainUserCpuSeconds: Math.round(trainCpu.user / 1e5) / 10,
    trainSystemCpuSeconds: Math.round(trainCpu.system / 1e5) / 10,
    loadAverage1m5m15mAfterTraining: loadAfterTraining,
  });
  process.stdout.write(`${JSON.stringify(perSeed.at(-1))}\n`);
}
const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
const mean = (values: number[]) => sum(values) / values.length;
const testAccuracies = perSeed.map((s) => s.testAccuracy);
// Other seeds than the default three go to their own file, so they never overwrite the headline figure.
const defaultSeeds = seeds.length === 0 || SEEDS.join(' ') === '7 8 9';
record(defaultSeeds ? 'train' : `train-seeds-${SEEDS.join('-')}`, {
  command: `node --import tsx bench/train.ts ${SEEDS.join(' ')}`,
  splits: totals,
  meanTestAccuracy: round(mean(testAccuracies)),
  testAccuracyRange: [Math.min(...testAccuracies), Math.max(...testAccuracies)],
  // Every seed is scored on the same 200 images, so the images' sampling error does not shrink with
  // seeds: the mean's interval is taken as the mean of the seeds' Wilson bounds, not a pooled 600.
  meanTestInterval95: [
    round(mean(perSeed.map((s) => s.testInterval95[0] as number))),
    round(mean(perSeed.map((s) => s.testInterval95[1] as number))),
  ],
  meanValidationAccuracy: round(mean(perSeed.map((s) => s.validationAccuracy))),
  // The automation target is read, as test accuracy is, on the mean over seeds: a seed is one draw of the
  // training's randomness (head initialization, shuffling, the cross-fitting's folds) on the same images.
  meanHeldOutAutomationRate: round(mean(perSeed.map((s) => s.automation.heldOutAutomationRate))),
  // Kept accuracy over every seed's kept images (a seed that keeps more weighs more).
  pooledHeldOutKeptAccuracy: round(
    sum(perSeed.map((s) => s.automation.heldOutKeptAccuracy * s.automation.heldOutAutomationRate)) /
      sum(perSeed.map((s) => s.automation.heldOutAutomationRate)),
  ),
  heldOutAutomationRateRange: [
    Math.min(...perSeed.map((s) => s.automation.heldOutAutomationRate)),
    Math.max(...perSeed.map((s) => s.automation.heldOutAutomationRate)),
  ],
  meanTrainSeconds: Math.round(mean(perSeed.map((s) => s.trainSeconds)) * 10) / 10,
  meanTrainUserCpuSeconds: Math.round(mean(perSeed.map((s) => s.trainUserCpuSeconds)) * 10) / 10,
  perSeed,
  note:
    'test accuracy is the evaluate stage on the 200 held-out images, after selection on validation only; ' +
    "each seed's interval is Wilson 95% over those 200 images, and since every seed is scored on the same " +
    'images the mean carries about the same +-0.04',
  targets: {
    meanTestAccuracy: '>= 0.90',
    meanHeldOutAutomationRate:
      '>= 0.85 at >= 0.97 pooled kept accuracy (issue 24; threshold chosen on validation and out-of-fold predictions)',
  },
});

function round(value: number): number {
  return Math.round(value * 10000) / 10000;
}
