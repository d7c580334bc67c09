import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import type { TrainRecord } from '../../manifest.js';
import type { Champion } from '../../ports.js';
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
): Promise<{ model: TrainRecord; imageSide: number } | undefined> {
  const stack = await describeStack(client, stackName);
  const parameter = (key: string) => stack?.Parameters?.find((p) => p.ParameterKey === key)?.ParameterValue;
  const trainingId = parameter('TrainingId');
  const modelUri = parameter('ModelDataUrl');
  if (trainingId === undefined || modelUri === undefined) return undefined;
  return {
    // The built-in algorithm's input: image_shape 3,32,32.
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
