import type { Champion } from '../ports.js';

/** Stack outputs the workflow template declares for the deployed model (the gate's champion). */
export const CHAMPION_OUTPUTS = {
  trainingId: 'DeployedTrainingId',
  validationAccuracy: 'DeployedValidationAccuracy',
  testAccuracy: 'DeployedTestAccuracy',
  testSplitDigest: 'DeployedTestSplitDigest',
  testDatasetDigest: 'DeployedTestDatasetDigest',
  threshold: 'DeployedConfidenceThreshold',
} as const;

/**
 * The champion from the workflow stack's outputs (CloudFormation's, or the local deployment's resolved
 * ones): its held-out test accuracy and test split when it was evaluated; a deployment that predates the
 * evaluate stage has only a validation figure, which is not comparable, so it gets no test split digest.
 */
export function championFromOutputs(output: (key: string) => string | undefined): Champion | undefined {
  const trainingId = output(CHAMPION_OUTPUTS.trainingId);
  if (trainingId === undefined) return undefined;
  const testAccuracy = output(CHAMPION_OUTPUTS.testAccuracy);
  const testSplitDigest = output(CHAMPION_OUTPUTS.testSplitDigest);
  const datasetDigest = output(CHAMPION_OUTPUTS.testDatasetDigest);
  if (
    testAccuracy !== undefined &&
    testAccuracy !== '' &&
    testSplitDigest !== undefined &&
    testSplitDigest !== ''
  ) {
    const accuracy = Number(testAccuracy);
    if (Number.isFinite(accuracy))
      return {
        trainingId,
        accuracy,
        testSplitDigest,
        ...(datasetDigest === undefined || datasetDigest === '' ? {} : { datasetDigest }),
      };
  }
  const accuracy = Number(output(CHAMPION_OUTPUTS.validationAccuracy));
  return Number.isFinite(accuracy) ? { trainingId, accuracy } : undefined;
}
