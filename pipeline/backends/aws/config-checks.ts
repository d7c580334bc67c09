import { instanceTypeProblem } from './instance-types.js';

/**
 * The longest workflow stack name: maxWorkflowStackNameLength() of workflow.yaml (stacks.ts), here as a number
 * so the configuration can check it without loading the template (test/contract/aws-first-contact.test.ts
 * keeps the two equal). StateMachineRole's generated name is the strictest: 64 - "-StateMachineRole-" - 13.
 */
export const WORKFLOW_STACK_NAME_MAX = { max: 33, limitedBy: "StateMachineRole's generated role name" };

/**
 * Why the stack name cannot be used, or undefined. SageMaker writes the ARNs of models, endpoint configs and
 * endpoints in lower case (SageMaker Developer Guide, "Amazon SageMaker AI resource ARNs" are lower case),
 * so a name with upper case would never match the deploy role's `<stack>-*` resource patterns.
 */
export function stackNameProblem(
  stackName: string,
  { max, limitedBy }: { max: number; limitedBy: string } = WORKFLOW_STACK_NAME_MAX,
): string | undefined {
  if (/^[a-z][a-z0-9-]*$/.test(stackName) && stackName.length <= max) return undefined;
  return `deploy.stackName ${JSON.stringify(stackName)} must start with a lower-case letter, use lower-case letters, digits and '-' (SageMaker's ARNs are lower case; the deploy role's patterns must match them), and have at most ${max} characters (the limit of ${limitedBy}): choose a shorter, lower-case name`;
}

/** What the configuration asks of AWS that AWS would refuse: checked when it loads, each naming its key. */
export function awsConfigProblems(config: {
  train: { sagemaker: { instanceType: string } };
  evaluate: { transformInstanceType: string };
  deploy: { endpointInstanceType: string; stackName: string };
}): string[] {
  return [
    instanceTypeProblem('train.sagemaker.instanceType', config.train.sagemaker.instanceType, 'training'),
    instanceTypeProblem('evaluate.transformInstanceType', config.evaluate.transformInstanceType, 'transform'),
    instanceTypeProblem('deploy.endpointInstanceType', config.deploy.endpointInstanceType, 'endpoint'),
    stackNameProblem(config.deploy.stackName),
  ].filter((p): p is string => p !== undefined);
}
