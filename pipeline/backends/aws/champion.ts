import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import type { Champion, DeployedModel } from '../../ports.js';
import { CHAMPION_OUTPUTS, championFromOutputs } from '../../templates/champion.js';
import { describeStack } from './stacks.js';

export { CHAMPION_OUTPUTS };

/** The deployed model, read from the workflow stack's outputs; undefined when there is no usable stack. */
export async function readStackChampion(
  client: CloudFormationClient,
  stackName: string,
): Promise<Champion | undefined> {
  const stack = await describeStack(client, stackName);
  if (stack === undefined || stack.StackStatus === 'ROLLBACK_COMPLETE') return undefined;
  const output = (key: string) => stack.Outputs?.find((o) => o.OutputKey === key)?.OutputValue;
  return championFromOutputs(output);
}

/** The model the workflow stack serves, from its parameters; undefined when there is no stack. */
export async function readStackModel(
  client: CloudFormationClient,
  stackName: string,
): Promise<DeployedModel | undefined> {
  const stack = await describeStack(client, stackName);
  const parameter = (key: string) => stack?.Parameters?.find((p) => p.ParameterKey === key)?.ParameterValue;
  const trainingId = parameter('TrainingId');
  const modelUri = parameter('ModelDataUrl');
  const threshold = parameter('ConfidenceThreshold');
  if (trainingId === undefined || modelUri === undefined || threshold === undefined) return undefined;
  return {
    trainingId,
    modelUri,
    validationAccuracy: Number(parameter('ValidationAccuracy') ?? 0),
    threshold: Number(threshold),
  };
}
