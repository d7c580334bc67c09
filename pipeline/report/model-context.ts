import type { EvaluationRecord } from '../contracts/evaluation.js';
import type { DeployRecord, Manifest } from '../manifest.js';

/**
 * The threshold the deployment was made with. Until the deployment records one (a `Threshold` stack
 * output), it is today's configuration, and the report says so.
 */
export function deployedThreshold(
  deployment: DeployRecord,
  configured: number,
): { value: number; source: string } {
  const recorded = Number(deployment.outputs.Threshold);
  return deployment.outputs.Threshold !== undefined && Number.isFinite(recorded)
    ? { value: recorded, source: `deployed with ${deployment.stackName}` }
    : { value: configured, source: 'configuration: the deployment records no threshold' };
}

/**
 * The held-out evaluation of the deployed model. The one place to wire the evaluate stage's manifest
 * section (an EvaluationRecord) once that stage exists: `stageSection(manifest, 'evaluate')?.outputs`.
 */
export function modelEvaluation(_manifest: Manifest): EvaluationRecord | undefined {
  return undefined;
}
