import type { EvaluationRecord } from '../contracts/evaluation.js';
import { type DeployRecord, type Manifest, stageSection } from '../manifest.js';
import { CHAMPION_OUTPUTS } from '../templates/champion.js';

/**
 * The threshold the deployment was made with (its `DeployedConfidenceThreshold` output). A deployment made
 * before thresholds were recorded has none: then it is today's configuration, and the report says so.
 */
export function deployedThreshold(
  deployment: DeployRecord,
  configured: number,
): { value: number; source: string } {
  const output = deployment.outputs[CHAMPION_OUTPUTS.threshold];
  const recorded = Number(output);
  return output !== undefined && Number.isFinite(recorded)
    ? { value: recorded, source: `deployed with ${deployment.stackName}` }
    : { value: configured, source: 'configuration: the deployment records no threshold' };
}

/** The held-out evaluation of the run's model: the evaluate stage's manifest section. */
export function modelEvaluation(manifest: Manifest): EvaluationRecord | undefined {
  return stageSection(manifest, 'evaluate')?.outputs;
}
