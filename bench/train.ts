/**
 * Local training with the default configuration on the 1000 real training images, validated on the 200
 * test images. Targets: validation accuracy >= 0.85 within 5 minutes on this 2-core machine.
 */
import { runCli } from '../test/helpers/workspace.js';
import { record, requireSharedImages, scratchDir } from './common.js';

const images = requireSharedImages('train');
const dir = scratchDir('train');
const staged = await runCli(['stage-data', '--source', `images:${images}`, '--run-id', 'bench'], {
  cwd: dir,
});
if (staged.code !== 0) throw new Error(staged.stderr);
const started = performance.now();
const trained = await runCli(['train', '--run-id', 'bench', '--json'], { cwd: dir });
const wallSeconds = (performance.now() - started) / 1000;
if (trained.code !== 0) throw new Error(trained.stderr);
const model = JSON.parse(trained.stdout).outputs as {
  validationAccuracy: number;
  epochs: { seconds: number }[];
  bestEpoch: number;
  durationSeconds: number;
};
const epochSeconds = model.epochs.reduce((a, e) => a + e.seconds, 0) / model.epochs.length;
record('train', {
  command: 'node --import tsx bench/train.ts',
  validationAccuracy: model.validationAccuracy,
  bestEpoch: model.bestEpoch,
  epochsRun: model.epochs.length,
  wallSeconds: Math.round(wallSeconds * 10) / 10,
  trainerSeconds: model.durationSeconds,
  meanEpochSeconds: Math.round(epochSeconds * 100) / 100,
  trainingImagesPerSecond: Math.round(1000 / epochSeconds),
  targets: { validationAccuracy: '>= 0.85', wallSeconds: '< 300' },
});
