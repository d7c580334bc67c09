import {
  type CloudFormationClient,
  DescribeStacksCommand,
  type DescribeStacksCommandOutput,
} from '@aws-sdk/client-cloudformation';
import type { Champion } from '../../ports.js';

/** Stack outputs the workflow template declares for the deployed model (the gate's champion). */
export const CHAMPION_OUTPUTS = {
  trainingId: 'DeployedTrainingId',
  accuracy: 'DeployedValidationAccuracy',
} as const;

/** The deployed model, read from the workflow stack's outputs; undefined when there is no stack yet. */
export async function readStackChampion(
  client: CloudFormationClient,
  stackName: string,
): Promise<Champion | undefined> {
  let stacks: DescribeStacksCommandOutput;
  try {
    stacks = await client.send(new DescribeStacksCommand({ StackName: stackName }));
  } catch (error) {
    if (/does not exist/.test((error as Error).message ?? '')) return undefined;
    throw error;
  }
  const stack = stacks.Stacks?.[0];
  if (
    stack === undefined ||
    stack.StackStatus === 'ROLLBACK_COMPLETE' ||
    stack.StackStatus === 'DELETE_COMPLETE'
  )
    return undefined;
  const output = (key: string) => stack.Outputs?.find((o) => o.OutputKey === key)?.OutputValue;
  const trainingId = output(CHAMPION_OUTPUTS.trainingId);
  const accuracy = Number(output(CHAMPION_OUTPUTS.accuracy));
  if (trainingId === undefined || !Number.isFinite(accuracy)) return undefined;
  return { trainingId, accuracy };
}

/** The model the workflow stack serves, from its parameters; undefined when there is no stack. */
export async function readStackModel(client: CloudFormationClient, stackName: string) {
  let stacks: DescribeStacksCommandOutput;
  try {
    stacks = await client.send(new DescribeStacksCommand({ StackName: stackName }));
  } catch (error) {
    if (/does not exist/.test((error as Error).message ?? '')) return undefined;
    throw error;
  }
  const parameter = (key: string) =>
    stacks.Stacks?.[0]?.Parameters?.find((p) => p.ParameterKey === key)?.ParameterValue;
  const trainingId = parameter('TrainingId');
  const modelUri = parameter('ModelDataUrl');
  if (trainingId === undefined || modelUri === undefined) return undefined;
  return {
    imageSide: 32,
    model: {
      trainingId,
      trainer: 'deployed',
      modelUri,
      validationAccuracy: Number(parameter('ValidationAccuracy') ?? 0),
      epochs: [],
      durationSeconds: 0,
      datasetDigest: '',
      hyperparameters: {},
    },
  };
}
