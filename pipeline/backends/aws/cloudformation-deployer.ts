import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
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
import { bundleLambdas, type LambdaBundle } from '../../../scripts/bundle-lambdas.js';
import type { Config } from '../../config.js';
import { uploadCode, workflowParameters } from '../../deploy/parameters.js';
import { templateDigest, WORKFLOW_TEMPLATE } from '../../deploy/template.js';
import { ConfigError, StageFailedError } from '../../errors.js';
import type { DeployRecord, ResourceChange } from '../../manifest.js';
import type { Deployer, DeployRequest, ObjectStore } from '../../ports.js';
import type { Reporter } from '../../reporter.js';
import { imageClassificationUri } from './regions.js';
import { realSleep, type Sleep } from './sagemaker-trainer.js';

const EMPTY_CHANGE_SET = /didn't contain changes|No updates are to be performed/i;

export interface CloudFormationDeployerOptions {
  client: CloudFormationClient;
  store: ObjectStore;
  config: Config;
  sleep?: Sleep;
  pollSeconds?: number;
  bundle?: () => Promise<LambdaBundle[]>;
  now?: () => Date;
}

/** Deploys cloudformation/workflow.yaml through a change set; an empty change set means nothing to deploy. */
export class CloudFormationDeployer implements Deployer {
  private readonly sleep: Sleep;
  private readonly pollMs: number;

  constructor(private readonly options: CloudFormationDeployerOptions) {
    this.sleep = options.sleep ?? realSleep;
    this.pollMs = (options.pollSeconds ?? 10) * 1000;
  }

  async deploy(request: DeployRequest, reporter: Reporter): Promise<DeployRecord & { reused: boolean }> {
    const { client, store, config } = this.options;
    const stackName = config.deploy.stackName;
    const image = imageClassificationUri(config.region);
    if (image === undefined)
      throw new ConfigError(`region ${config.region} does not host the image-classification algorithm`);
    if (config.train.sagemaker.roleArn === undefined)
      throw new ConfigError(
        'train.sagemaker.roleArn is required to deploy on aws (scones bootstrap prints it)',
      );
    const bundles = await (
      this.options.bundle ?? (() => bundleLambdas(mkdtempSync(join(tmpdir(), 'scones-lambdas-'))))
    )();
    for (const b of bundles) reporter.info(`bundle ${b.zipName}: ${(b.zipBytes / 1024).toFixed(1)} KiB`);
    const uploaded = await uploadCode(store, bundles);
    reporter.info(`${uploaded} code objects uploaded (others already present)`);
    const parameters = workflowParameters({
      config,
      model: request.model,
      bundles,
      inferenceImage: image,
      sageMakerRoleArn: config.train.sagemaker.roleArn,
      store,
    });

    let stack = await this.describeStack(stackName);
    if (stack?.StackStatus === 'ROLLBACK_COMPLETE') {
      if (request.preview)
        throw new StageFailedError(
          `stack ${stackName} is in ROLLBACK_COMPLETE: run a deploy (not a preview) to replace it`,
        );
      reporter.warn(
        `stack ${stackName} is in ROLLBACK_COMPLETE from a failed create: deleting it before a fresh create`,
      );
      await client.send(new DeleteStackCommand({ StackName: stackName }));
      await this.waitForStack(stackName, reporter);
      stack = undefined;
    }
    const changeSetType = stack === undefined ? 'CREATE' : 'UPDATE';
    const changeSetName =
      `scones-${request.runId.replace(/[^A-Za-z0-9-]/g, '-')}-${(this.options.now ?? (() => new Date()))().getTime()}`.slice(
        0,
        128,
      );
    await client.send(
      new CreateChangeSetCommand({
        StackName: stackName,
        ChangeSetName: changeSetName,
        ChangeSetType: changeSetType,
        TemplateBody: readFileSync(WORKFLOW_TEMPLATE, 'utf8'),
        Parameters: Object.entries(parameters).map(([ParameterKey, ParameterValue]) => ({
          ParameterKey,
          ParameterValue,
        })),
        Capabilities: ['CAPABILITY_IAM'],
        Tags: [
          { Key: 'scones:run-id', Value: request.runId },
          { Key: 'scones:training-id', Value: request.model.trainingId },
        ],
      }),
    );
    const changeSet = await this.waitForChangeSet(stackName, changeSetName);
    const base: DeployRecord = {
      deployed: false,
      preview: request.preview,
      stackName,
      trainingId: request.model.trainingId,
      validationAccuracy: request.model.validationAccuracy,
      endpointName: '',
      stateMachineArn: '',
      outputs: {},
      deploymentDigest: templateDigest(),
      changes: [],
    };
    if (changeSet.Status === 'FAILED') {
      await client.send(new DeleteChangeSetCommand({ StackName: stackName, ChangeSetName: changeSetName }));
      if (EMPTY_CHANGE_SET.test(changeSet.StatusReason ?? '')) {
        reporter.info(`change set for ${stackName} is empty: nothing to deploy`);
        const outputs = outputsOf(await this.describeStack(stackName));
        return { ...base, ...fromOutputs(outputs), outputs, reused: true };
      }
      throw new StageFailedError(
        `change set for ${stackName} failed: ${changeSet.StatusReason ?? 'no reason given'}`,
      );
    }
    const changes = (changeSet.Changes ?? []).map(toResourceChange);
    reporter.info(changesTable(changes));
    if (request.preview) {
      await client.send(new DeleteChangeSetCommand({ StackName: stackName, ChangeSetName: changeSetName }));
      const markdown = `### Change set preview: \`${stackName}\` (${changeSetType})\n\n${changesTable(changes)}\n`;
      return { ...base, changes, previewMarkdown: markdown, reused: false };
    }
    await client.send(new ExecuteChangeSetCommand({ StackName: stackName, ChangeSetName: changeSetName }));
    const final = await this.waitForStack(stackName, reporter);
    if (final?.StackStatus !== 'CREATE_COMPLETE' && final?.StackStatus !== 'UPDATE_COMPLETE')
      throw new StageFailedError(
        `stack ${stackName} ended ${final?.StackStatus ?? 'missing'}: ${(await this.failureReasons(stackName)).join('; ') || 'no failed resources reported'}`,
      );
    const outputs = outputsOf(final);
    return { ...base, deployed: true, changes, ...fromOutputs(outputs), outputs, reused: false };
  }

  private async describeStack(stackName: string): Promise<Stack | undefined> {
    try {
      const response = await this.options.client.send(new DescribeStacksCommand({ StackName: stackName }));
      return response.Stacks?.[0];
    } catch (error) {
      if (/does not exist/.test((error as Error).message ?? '')) return undefined;
      throw error;
    }
  }

  private async waitForChangeSet(
    stackName: string,
    changeSetName: string,
  ): Promise<DescribeChangeSetCommandOutput> {
    for (;;) {
      const changeSet = await this.options.client.send(
        new DescribeChangeSetCommand({ StackName: stackName, ChangeSetName: changeSetName }),
      );
      if (changeSet.Status === 'CREATE_COMPLETE' || changeSet.Status === 'FAILED') return changeSet;
      await this.sleep(this.pollMs / 2);
    }
  }

  /** Polls until the stack leaves *_IN_PROGRESS; undefined when it was deleted. */
  private async waitForStack(stackName: string, reporter: Reporter): Promise<Stack | undefined> {
    let last = '';
    for (;;) {
      const stack = await this.describeStack(stackName);
      const status = stack?.StackStatus ?? 'DELETE_COMPLETE';
      if (status !== last) {
        reporter.info(`stack ${stackName}: ${status}`);
        last = status;
      }
      if (!status.endsWith('_IN_PROGRESS')) return status === 'DELETE_COMPLETE' ? undefined : stack;
      await this.sleep(this.pollMs);
    }
  }

  /** The failed resources' status reasons, newest first, from the stack events. */
  private async failureReasons(stackName: string): Promise<string[]> {
    const events = await this.options.client.send(new DescribeStackEventsCommand({ StackName: stackName }));
    return (events.StackEvents ?? [])
      .filter((e) => e.ResourceStatus?.endsWith('_FAILED') && e.ResourceStatusReason !== undefined)
      .filter((e) => e.ResourceType !== 'AWS::CloudFormation::Stack')
      .map(
        (e) => `${e.LogicalResourceId} (${e.ResourceType}) ${e.ResourceStatus}: ${e.ResourceStatusReason}`,
      );
  }
}

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

function outputsOf(stack: Stack | undefined): Record<string, string> {
  return Object.fromEntries((stack?.Outputs ?? []).map((o) => [o.OutputKey ?? '', o.OutputValue ?? '']));
}

function fromOutputs(outputs: Record<string, string>) {
  return { endpointName: outputs.EndpointName ?? '', stateMachineArn: outputs.StateMachineArn ?? '' };
}
