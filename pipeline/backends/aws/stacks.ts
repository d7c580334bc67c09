import {
  type Capability,
  type Change,
  type CloudFormationClient,
  CreateChangeSetCommand,
  DeleteChangeSetCommand,
  DeleteStackCommand,
  DescribeChangeSetCommand,
  type DescribeChangeSetCommandOutput,
  DescribeStackEventsCommand,
  DescribeStacksCommand,
  ExecuteChangeSetCommand,
  type Stack,
} from '@aws-sdk/client-cloudformation';
import type { Reporter } from '../../console-reporter.js';
import { ConfigError, StageFailedError } from '../../errors.js';
import type { ResourceChange } from '../../manifest.js';
import { loadTemplate, parseTemplate, type Template } from '../../templates/template.js';
import type { Sleep } from '../../util/time.js';
import { stackNameProblem } from './config-checks.js';

const EMPTY_CHANGE_SET = /didn't contain changes|No updates are to be performed/i;

export interface StackChangeRequest {
  stackName: string;
  changeSetName: string;
  /** Shown with the change set (e.g. the run that made it); unlike stack tags, it changes no resource. */
  description?: string;
  templateBody: string;
  parameters: Record<string, string>;
  tags: Record<string, string>;
  preview: boolean;
}

export type StackChangeResult =
  | { kind: 'empty'; stack: Stack | undefined }
  | { kind: 'preview'; changes: ResourceChange[]; changeSetType: 'CREATE' | 'UPDATE' }
  | { kind: 'deployed'; changes: ResourceChange[]; stack: Stack };

/**
 * States no change set can leave, with what the user must do (DescribeStacks StackStatus values, AWS
 * CloudFormation User Guide "Stack status codes" and "Continue rolling back an update").
 */
const STUCK_STATES: Readonly<Record<string, string>> = {
  UPDATE_ROLLBACK_FAILED:
    'an update failed and so did its rollback; fix the resource named in the stack events, then run `aws cloudformation continue-update-rollback`, and deploy again',
  DELETE_FAILED:
    'a delete failed; fix or retain the resource named in the stack events and run `scones teardown --backend aws` again, then deploy',
  ROLLBACK_FAILED:
    'a failed create could not roll back; delete the stack (`scones teardown --backend aws`), then deploy',
};

/**
 * The IAM resource types that need CAPABILITY_IAM, each with the property that gives it a custom name, which
 * needs CAPABILITY_NAMED_IAM instead (CreateChangeSet API reference, Capabilities; AWS CloudFormation User
 * Guide, "Acknowledging IAM resources in CloudFormation templates"). AWS::IAM::Policy's PolicyName names the
 * inline policy, not an IAM resource.
 */
const IAM_RESOURCE_NAMES: Readonly<Record<string, string | undefined>> = {
  'AWS::IAM::AccessKey': undefined,
  'AWS::IAM::Group': 'GroupName',
  'AWS::IAM::InstanceProfile': 'InstanceProfileName',
  'AWS::IAM::ManagedPolicy': 'ManagedPolicyName',
  'AWS::IAM::Policy': undefined,
  'AWS::IAM::Role': 'RoleName',
  'AWS::IAM::User': 'UserName',
  'AWS::IAM::UserToGroupAddition': undefined,
};

/**
 * The capabilities the template needs acknowledged: CAPABILITY_NAMED_IAM when an IAM resource has a custom
 * name, else CAPABILITY_IAM when it has IAM resources; CAPABILITY_AUTO_EXPAND when it uses a macro (a
 * Transform section or Fn::Transform). Without them CloudFormation refuses with InsufficientCapabilities.
 */
export function requiredCapabilities(template: Template): Capability[] {
  const iam = Object.values(template.Resources).filter((r) => r.Type in IAM_RESOURCE_NAMES);
  const named = iam.some((r) => {
    const property = IAM_RESOURCE_NAMES[r.Type];
    return property !== undefined && r.Properties?.[property] !== undefined;
  });
  const macros = 'Transform' in template || JSON.stringify(template).includes('"Fn::Transform"');
  return [
    ...(named ? ['CAPABILITY_NAMED_IAM' as const] : iam.length > 0 ? ['CAPABILITY_IAM' as const] : []),
    ...(macros ? ['CAPABILITY_AUTO_EXPAND' as const] : []),
  ];
}

/** The stack, or undefined when it does not exist (or was deleted). */
export async function describeStack(
  client: CloudFormationClient,
  stackName: string,
): Promise<Stack | undefined> {
  try {
    const response = await client.send(new DescribeStacksCommand({ StackName: stackName }));
    const stack = response.Stacks?.[0];
    return stack?.StackStatus === 'DELETE_COMPLETE' ? undefined : stack;
  } catch (error) {
    if (/does not exist/.test((error as Error).message ?? '')) return undefined;
    throw error;
  }
}

/** A resource the stack events report failed, and the event in words. */
export interface FailedResource {
  logicalId: string;
  text: string;
}

/** An executed change set the stack did not complete: its final status, the failed resources, the stack before. */
export class StackChangeFailedError extends StageFailedError {
  constructor(
    message: string,
    readonly stackStatus: string,
    readonly failed: readonly FailedResource[],
    readonly before: Stack | undefined,
  ) {
    super(message);
  }
}

/** CloudFormation through change sets, with the waits and failure reasons a pipeline needs. */
export class Stacks {
  constructor(
    private readonly client: CloudFormationClient,
    private readonly sleep: Sleep,
    private readonly pollMs: number,
    /** How long a change set may take to create, and a stack operation to finish (an endpoint takes ~10 min). */
    private readonly limits = { changeSetMs: 10 * 60_000, stackMs: 55 * 60_000 },
  ) {}

  describe(stackName: string): Promise<Stack | undefined> {
    return describeStack(this.client, stackName);
  }

  /**
   * Creates a change set (CREATE or UPDATE), shows it, and executes it unless previewing. A stack left in
   * ROLLBACK_COMPLETE by a failed create is deleted first; an empty change set is deleted and reported.
   */
  async apply(request: StackChangeRequest, reporter: Reporter): Promise<StackChangeResult> {
    const { stackName, changeSetName } = request;
    let stack = await this.describe(stackName);
    const status = stack?.StackStatus;
    if (status === 'ROLLBACK_COMPLETE') {
      if (request.preview)
        throw new StageFailedError(
          `stack ${stackName} is in ROLLBACK_COMPLETE: run a deploy (not a preview) to replace it`,
        );
      reporter.warn(
        `stack ${stackName} is in ROLLBACK_COMPLETE from a failed create: deleting it before a fresh create`,
      );
      await this.delete(stackName, reporter);
      stack = undefined;
    } else if (status !== undefined && status in STUCK_STATES) {
      throw new StageFailedError(
        `stack ${stackName} is in ${status}: ${STUCK_STATES[status]} (see docs/aws.md, "First deploy")`,
      );
    } else if (status?.endsWith('_IN_PROGRESS') && status !== 'REVIEW_IN_PROGRESS') {
      reporter.info(`stack ${stackName} is busy (${status}): waiting for it to settle`);
      stack = await this.waitForStack(stackName, reporter);
    }
    // A stack in REVIEW_IN_PROGRESS was never created (only a CREATE change set exists for it): CloudFormation
    // refuses an UPDATE change set for it, so create it, as `aws cloudformation deploy` does.
    const changeSetType =
      stack === undefined || stack.StackStatus === 'REVIEW_IN_PROGRESS' ? 'CREATE' : 'UPDATE';
    await this.client.send(
      new CreateChangeSetCommand({
        StackName: stackName,
        ChangeSetName: changeSetName,
        ChangeSetType: changeSetType,
        TemplateBody: request.templateBody,
        Parameters: Object.entries(request.parameters).map(([ParameterKey, ParameterValue]) => ({
          ParameterKey,
          ParameterValue,
        })),
        Capabilities: requiredCapabilities(parseTemplate(request.templateBody, `the ${stackName} template`)),
        Tags: Object.entries(request.tags).map(([Key, Value]) => ({ Key, Value })),
        ...(request.description === undefined ? {} : { Description: request.description.slice(0, 1024) }),
      }),
    );
    const changeSet = await this.waitForChangeSet(stackName, changeSetName);
    const deleteChangeSet = () =>
      this.client.send(new DeleteChangeSetCommand({ StackName: stackName, ChangeSetName: changeSetName }));
    if (changeSet.Status === 'FAILED') {
      await deleteChangeSet();
      if (EMPTY_CHANGE_SET.test(changeSet.StatusReason ?? '')) {
        reporter.info(`change set for ${stackName} is empty: nothing to deploy`);
        return { kind: 'empty', stack: await this.describe(stackName) };
      }
      throw new StageFailedError(
        `change set for ${stackName} failed: ${changeSet.StatusReason ?? 'no reason given'}`,
      );
    }
    const changes = (changeSet.Changes ?? []).map(toResourceChange);
    reporter.info(changesTable(changes));
    if (request.preview) {
      await deleteChangeSet();
      return { kind: 'preview', changes, changeSetType };
    }
    await this.client.send(
      new ExecuteChangeSetCommand({ StackName: stackName, ChangeSetName: changeSetName }),
    );
    const final = await this.waitForStack(stackName, reporter);
    if (final?.StackStatus !== 'CREATE_COMPLETE' && final?.StackStatus !== 'UPDATE_COMPLETE') {
      const failed = await this.failedResources(stackName);
      throw new StackChangeFailedError(
        `stack ${stackName} ended ${final?.StackStatus ?? 'missing'}: ${failed.map((f) => f.text).join('; ') || 'no failed resources reported'}`,
        final?.StackStatus ?? 'missing',
        failed,
        stack,
      );
    }
    return { kind: 'deployed', changes, stack: final };
  }

  /** Deletes the stack and waits until it is gone; failures carry the resources' reasons. */
  async delete(stackName: string, reporter: Reporter): Promise<void> {
    await this.client.send(new DeleteStackCommand({ StackName: stackName }));
    const final = await this.waitForStack(stackName, reporter);
    if (final !== undefined)
      throw new StageFailedError(
        `stack ${stackName} ended ${final.StackStatus}: ${(await this.failedResources(stackName)).map((f) => f.text).join('; ')}`,
      );
  }

  private async waitForChangeSet(
    stackName: string,
    changeSetName: string,
  ): Promise<DescribeChangeSetCommandOutput> {
    for (let waited = 0; ; waited += this.pollMs / 2) {
      const changeSet = await this.client.send(
        new DescribeChangeSetCommand({ StackName: stackName, ChangeSetName: changeSetName }),
      );
      if (changeSet.Status === 'CREATE_COMPLETE' || changeSet.Status === 'FAILED') return changeSet;
      if (waited >= this.limits.changeSetMs)
        throw new StageFailedError(
          `change set ${changeSetName} of ${stackName} is still ${changeSet.Status} after ${minutes(waited)}: see it in the CloudFormation console, delete it, and run again`,
        );
      await this.sleep(this.pollMs / 2);
    }
  }

  /** Polls until the stack leaves *_IN_PROGRESS; undefined once deleted. */
  private async waitForStack(stackName: string, reporter: Reporter): Promise<Stack | undefined> {
    let last = '';
    for (let waited = 0; ; waited += this.pollMs) {
      const stack = await this.describe(stackName);
      const status = stack?.StackStatus ?? 'DELETE_COMPLETE';
      if (status !== last) {
        reporter.info(`stack ${stackName}: ${status} (${minutes(waited)} in)`);
        last = status;
      }
      if (!status.endsWith('_IN_PROGRESS')) return stack;
      if (waited >= this.limits.stackMs)
        throw new StageFailedError(
          `stack ${stackName} is still ${status} after ${minutes(waited)}: CloudFormation carries on without us; watch its events in the console and run again once it settles`,
        );
      await this.sleep(this.pollMs);
    }
  }

  private async failedResources(stackName: string): Promise<FailedResource[]> {
    const events = await this.client.send(new DescribeStackEventsCommand({ StackName: stackName }));
    return (events.StackEvents ?? [])
      .filter((e) => e.ResourceStatus?.endsWith('_FAILED') && e.ResourceStatusReason !== undefined)
      .filter((e) => e.ResourceType !== 'AWS::CloudFormation::Stack')
      .map((e) => ({
        logicalId: e.LogicalResourceId ?? '',
        text: `${e.LogicalResourceId} (${e.ResourceType}) ${e.ResourceStatus}: ${e.ResourceStatusReason}`,
      }));
  }
}

const minutes = (ms: number) => `${Math.round(ms / 60_000)} min`;

function toResourceChange(change: Change): ResourceChange {
  const r = change.ResourceChange ?? {};
  return {
    action: r.Action ?? 'Unknown',
    logicalId: r.LogicalResourceId ?? '',
    type: r.ResourceType ?? '',
    ...(r.Replacement === undefined ? {} : { replacement: r.Replacement }),
  };
}

export function changesTable(changes: readonly ResourceChange[]): string {
  if (changes.length === 0) return 'no resource changes';
  return [
    '| action | logical id | type | replacement |',
    '| --- | --- | --- | --- |',
    ...changes.map((c) => `| ${c.action} | ${c.logicalId} | ${c.type} | ${c.replacement ?? ''} |`),
  ].join('\n');
}

export function stackOutputs(stack: Stack | undefined): Record<string, string> {
  return Object.fromEntries((stack?.Outputs ?? []).map((o) => [o.OutputKey ?? '', o.OutputValue ?? '']));
}

/**
 * Longest name each service accepts for the resources the workflow template names after its stack:
 * SageMaker CreateModel/CreateEndpointConfig/CreateEndpoint (63, `^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}`),
 * Lambda CreateFunction FunctionName (64), Step Functions CreateStateMachine name (80), CloudWatch Logs
 * CreateLogGroup (512); from each API reference.
 */
export const NAME_LIMITS: Readonly<Record<string, { property: string; max: number }>> = {
  'AWS::SageMaker::Model': { property: 'ModelName', max: 63 },
  'AWS::SageMaker::EndpointConfig': { property: 'EndpointConfigName', max: 63 },
  'AWS::SageMaker::Endpoint': { property: 'EndpointName', max: 63 },
  'AWS::Lambda::Function': { property: 'FunctionName', max: 64 },
  'AWS::StepFunctions::StateMachine': { property: 'StateMachineName', max: 80 },
  'AWS::Logs::LogGroup': { property: 'LogGroupName', max: 512 },
};

/**
 * An unnamed role gets `<stack>-<logical id>-<random suffix>` from CloudFormation, cut to IAM's 64-character
 * role name limit (AWS CloudFormation Template Reference, "Name type"; IAM CreateRole RoleName). The deploy
 * role's patterns (`role/<stack>-*`) match only while the whole stack name survives: 13 characters of suffix
 * are kept free (CloudFormation's suffixes run to 13).
 */
const ROLE_NAME_MAX = 64;
const GENERATED_SUFFIX = 13;

/** The longest stack name for which every resource named after it stays within its service's limit. */
export function maxWorkflowStackNameLength() {
  const template = loadTemplate();
  let strictest = { max: 128, limitedBy: 'CloudFormation stack names (128)' };
  for (const [logicalId, resource] of Object.entries(template.Resources)) {
    if (resource.Type === 'AWS::IAM::Role' && resource.Properties?.RoleName === undefined) {
      const max = ROLE_NAME_MAX - logicalId.length - 2 - GENERATED_SUFFIX;
      if (max < strictest.max)
        strictest = {
          max,
          limitedBy: `${logicalId}'s generated role name (at most ${ROLE_NAME_MAX}, <stack>-${logicalId}-<suffix>)`,
        };
      continue;
    }
    const limit = NAME_LIMITS[resource.Type];
    const name = resource.Properties?.[limit?.property ?? ''] as { 'Fn::Sub'?: unknown } | undefined;
    if (limit === undefined || typeof name?.['Fn::Sub'] !== 'string') continue;
    // Everything but the stack name: the digests are 16 characters, other parameters are not used in names.
    const rest = name['Fn::Sub']
      .replace(/\$\{AWS::StackName\}/g, '')
      .replace(/\$\{[A-Za-z]+NameDigest\}/g, 'x'.repeat(16));
    const max = limit.max - rest.length;
    if (max < strictest.max)
      strictest = { max, limitedBy: `${logicalId} ${limit.property} (at most ${limit.max})` };
  }
  return strictest;
}

/** The stack name, if every resource named after it can be created and matched; a ConfigError otherwise. */
export function validWorkflowStackName(stackName: string): string {
  const problem = stackNameProblem(stackName, maxWorkflowStackNameLength());
  if (problem !== undefined) throw new ConfigError(problem);
  return stackName;
}
