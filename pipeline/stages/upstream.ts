import type { StageName } from '../constants.js';
import { SconesError } from '../errors.js';
import { type Manifest, type StageRecord, stageSection } from '../manifest.js';

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
