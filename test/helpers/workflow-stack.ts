import type { Stack, StackStatus } from '@aws-sdk/client-cloudformation';
import { loadTemplate } from '../../pipeline/templates/template.js';

const STACK = 'scones-workflow';

/**
 * The workflow stack as DescribeStacks describes it after a deploy: every parameter of the template,
 * defaults included (API reference, Stack.Parameters), and the outputs the template declares.
 */
export function describedWorkflowStack(
  status: StackStatus,
  parameters: Record<string, string> = {},
  stackName = STACK,
): Stack {
  const template = loadTemplate();
  const values: Record<string, string> = {
    ...Object.fromEntries(
      Object.entries(template.Parameters ?? {}).map(([name, p]) => [name, String(p.Default ?? '')]),
    ),
    TrainingId: 't-deployed',
    ModelDataUrl: 's3://scones-artifacts/models/t-deployed/model.tar.gz',
    ValidationAccuracy: '0.9',
    DataCaptureS3Uri: 's3://scones-artifacts/data-capture',
    StateMachineDefinitionKey: 'templates/state-machine-0123456789abcdef.asl.json',
    ...parameters,
  };
  const outputs: Record<string, string> = {
    StateMachineArn: `arn:aws:states:us-east-1:123456789012:stateMachine:${stackName}-workflow`,
    EndpointName: `${stackName}-endpoint`,
    SerializeFunctionName: `${stackName}-serialize-image-data`,
    ClassifyFunctionName: `${stackName}-classify-image`,
    FilterFunctionName: `${stackName}-filter-inferences`,
  };
  return {
    StackName: stackName,
    StackStatus: status,
    CreationTime: new Date(),
    Parameters: Object.entries(values).map(([ParameterKey, ParameterValue]) => ({
      ParameterKey,
      ParameterValue,
    })),
    Outputs: Object.keys(template.Outputs ?? {}).map((OutputKey) => ({
      OutputKey,
      OutputValue: outputs[OutputKey] ?? '',
    })),
  };
}
