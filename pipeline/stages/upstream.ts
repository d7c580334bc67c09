import type { StageName } from '../constants.js';
import type { Deployment } from '../contracts/deployment.js';
import { SconesError } from '../errors.js';
import { type DatasetRecord, type Manifest, type StageRecord, stageSection } from '../manifest.js';
import type { TrainingDataset } from '../ports.js';

/** An earlier stage's section of this run, or a clear error telling the user which stage to run first. */
export function requireStage<S extends StageName>(
  manifest: Manifest,
  stage: S,
  neededBy: StageName,
): StageRecord<S> {
  const section = stageSection(manifest, stage);
  if (section === undefined)
    throw new SconesError(
      `${neededBy} needs the output of ${stage}, which run ${manifest.runId} has not completed: ` +
        `run \`scones ${stage} --run-id ${manifest.runId}\` first (or \`scones run\`)`,
    );
  return section;
}

/** What this run's deploy stage deployed; a preview (or a record older than the deployment contract) has none. */
export function requireDeployment(manifest: Manifest, neededBy: StageName): Deployment {
  const { deployment } = requireStage(manifest, 'deploy', neededBy).outputs;
  if (deployment === undefined)
    throw new SconesError(
      `${neededBy} needs a deployment, and run ${manifest.runId}'s deploy recorded none (a preview, or a record of an older version): run \`scones deploy --run-id ${manifest.runId}\``,
    );
  return deployment;
}

/** The staged dataset as the trainer and evaluator receive it. */
export function trainingDataset(dataset: DatasetRecord): TrainingDataset {
  const { digest, prefix, imageShape, totals } = dataset;
  return { digest, prefix, classes: dataset.classes.map((c) => c.name), imageShape, counts: totals };
}
