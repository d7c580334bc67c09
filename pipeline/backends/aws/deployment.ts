import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { type Deployment, deploymentFromStack } from '../../contracts/deployment.js';
import { SconesError } from '../../errors.js';
import { describeStack, stackOutputs } from './stacks.js';

/** What the workflow stack deploys, read from DescribeStacks; undefined when there is no usable stack. */
export async function readStackDeployment(
  client: CloudFormationClient,
  stackName: string,
): Promise<Deployment | undefined> {
  const stack = await describeStack(client, stackName);
  // REVIEW_IN_PROGRESS: never created; ROLLBACK_COMPLETE: its first create failed. Neither serves a model.
  if (stack === undefined || ['REVIEW_IN_PROGRESS', 'ROLLBACK_COMPLETE'].includes(stack.StackStatus ?? ''))
    return undefined;
  const parameters = Object.fromEntries(
    (stack.Parameters ?? []).map((p) => [p.ParameterKey ?? '', p.ParameterValue]),
  );
  try {
    return deploymentFromStack({ stackName, parameters, outputs: stackOutputs(stack) });
  } catch (error) {
    throw new SconesError(
      `${(error as Error).message}: deploy again, or scones teardown --backend aws to remove it`,
    );
  }
}
