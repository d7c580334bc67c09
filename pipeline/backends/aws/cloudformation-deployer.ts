import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import type { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import type { SageMakerClient } from '@aws-sdk/client-sagemaker';
import type { Config } from '../../config.js';
import type { Reporter } from '../../console-reporter.js';
import { deploymentFromStack } from '../../contracts/deployment.js';
import { ConfigError, StageFailedError } from '../../errors.js';
import type { DeployRecord } from '../../manifest.js';
import type { Deployer, DeployRequest, ObjectStore } from '../../ports.js';
import { bundleLambdas, type LambdaBundle } from '../../templates/lambda-bundles.js';
import { missingCode, planDeployment, uploadCode } from '../../templates/parameters.js';
import { type RolloutPlan, rolloutPlan, rolloutPlanMarkdown } from '../../templates/rollout-plan.js';
import { parseTemplate, type Template, WORKFLOW_TEMPLATE } from '../../templates/template.js';
import { realSleep, type Sleep } from '../../util/time.js';
import { imageClassificationUri } from './regions.js';
import { completedRollout, failedRollout } from './rollout.js';
import {
  changesTable,
  StackChangeFailedError,
  Stacks,
  stackOutputs,
  validWorkflowStackName,
} from './stacks.js';

export interface CloudFormationDeployerOptions {
  client: CloudFormationClient;
  /** How a guarded endpoint update ended: DescribeEndpoint, and the alarms' history. */
  sagemaker: SageMakerClient;
  cloudwatch: CloudWatchClient;
  store: ObjectStore;
  config: Config;
  sleep?: Sleep;
  pollSeconds?: number;
  bundle?: () => Promise<LambdaBundle[]>;
  now?: () => Date;
}

/** Deploys cloudformation/workflow.yaml through a change set; an empty change set means nothing to deploy. */
export class CloudFormationDeployer implements Deployer {
  private readonly stacks: Stacks;

  constructor(private readonly options: CloudFormationDeployerOptions) {
    this.stacks = new Stacks(options.client, options.sleep ?? realSleep, (options.pollSeconds ?? 10) * 1000);
  }

  async deploy(request: DeployRequest, reporter: Reporter): Promise<DeployRecord & { reused: boolean }> {
    const { store, config } = this.options;
    const stackName = validWorkflowStackName(config.deploy.stackName);
    const image = imageClassificationUri(config.region);
    if (image === undefined)
      throw new ConfigError(`region ${config.region} does not host the image-classification algorithm`);
    if (config.train.sagemaker.roleArn === undefined)
      throw new ConfigError(
        'train.sagemaker.roleArn is required to deploy on aws (scones bootstrap prints it)',
      );
    // In the work folder, as the local deployer does: reused while the code is unchanged, never left in /tmp.
    const bundle = this.options.bundle ?? (() => bundleLambdas(join(config.workDir, 'lambdas')));
    const plan = planDeployment({
      config,
      request,
      bundles: await bundle(),
      inferenceImage: image,
      sageMakerRoleArn: config.train.sagemaker.roleArn,
      store,
      reporter,
    });
    if (request.preview) {
      // A preview writes nothing: the change set only needs the keys, not the objects behind them.
      const missing = await missingCode(store, plan.bundles);
      reporter.info(
        missing.length === 0
          ? 'all code objects already in the bucket'
          : `a deploy would upload ${missing.length} code objects: ${missing.map((m) => m.key).join(', ')}`,
      );
    } else {
      const uploaded = await uploadCode(store, plan.bundles);
      reporter.info(`${uploaded} code objects uploaded (others already present)`);
    }
    const started = (this.options.now ?? (() => new Date()))();
    const now = started.getTime();
    const templateBody = readFileSync(WORKFLOW_TEMPLATE, 'utf8');
    const template = parseTemplate(templateBody, WORKFLOW_TEMPLATE);
    const rollout = rolloutPlan(template, plan.parameters, stackName);
    const result = await this.stacks
      .apply(
        {
          stackName,
          changeSetName: `scones-${request.runId.replace(/[^A-Za-z0-9-]/g, '-')}-${now}`.slice(0, 128),
          templateBody,
          parameters: plan.parameters,
          // Stack tags propagate to every resource, so a tag that changes per run would update them all: the
          // run and model go in the change set's description, and the stack gets only a constant tag.
          tags: { 'scones:stack': 'workflow' },
          description: `scones run ${request.runId}, model ${request.model.trainingId}`,
          preview: request.preview,
        },
        reporter,
      )
      .catch(async (error: unknown) => {
        throw await this.explainFailure(error, { template, rollout, stackName, started, request });
      });
    const endpointUpdated = (changes: DeployRecord['changes']) =>
      changes.some((c) => c.logicalId === rollout.endpointLogicalId && c.action === 'Modify');
    const base = {
      deployed: false,
      preview: request.preview,
      stackName,
      trainingId: request.model.trainingId,
      deploymentDigest: plan.digest,
      changes: [] as DeployRecord['changes'],
    };
    if (result.kind === 'preview') {
      // A model update is a guarded rollout: the preview shows its plan and alarms, as the template defines them.
      const plan = endpointUpdated(result.changes) ? `\n${rolloutPlanMarkdown(rollout)}` : '';
      const markdown = `### Change set preview: \`${stackName}\` (${result.changeSetType})\n\n${changesTable(result.changes)}\n${plan}`;
      return { ...base, changes: result.changes, previewMarkdown: markdown, reused: false };
    }
    const deployment = deploymentFromStack({
      stackName,
      parameters: plan.parameters,
      outputs: stackOutputs(result.stack),
    });
    if (result.kind === 'empty') return { ...base, deployment, reused: true };
    const ended = endpointUpdated(result.changes) ? await this.rolloutEnded(rollout, reporter) : undefined;
    return {
      ...base,
      deployment,
      deployed: true,
      changes: result.changes,
      ...(ended === undefined ? {} : { rollout: ended }),
      reused: false,
    };
  }

  /** The stack update completed, so the bake held; DescribeEndpoint says on what the endpoint now serves. */
  private async rolloutEnded(rollout: RolloutPlan, reporter: Reporter): Promise<string | undefined> {
    try {
      const ended = await completedRollout(this.options, rollout);
      reporter.info(ended);
      return ended;
    } catch (error) {
      // The deploy did succeed: a report that cannot be read must not fail it.
      reporter.warn(`rollout completed, but DescribeEndpoint failed: ${(error as Error).message}`);
      return undefined;
    }
  }

  /**
   * A stack update that failed on the endpoint was a rollout that did not hold: the error names the alarms
   * that stopped it (or that none did), what stays live, and what to do. Any other failure is left as it is.
   */
  private async explainFailure(
    error: unknown,
    context: {
      template: Template;
      rollout: RolloutPlan;
      stackName: string;
      started: Date;
      request: DeployRequest;
    },
  ): Promise<unknown> {
    const { rollout, stackName } = context;
    if (
      !(error instanceof StackChangeFailedError) ||
      !error.stackStatus.startsWith('UPDATE_ROLLBACK') ||
      !error.failed.some((f) => f.logicalId === rollout.endpointLogicalId)
    )
      return error;
    const before: Record<string, string> = Object.fromEntries(
      (error.before?.Parameters ?? []).map((p) => [p.ParameterKey ?? '', p.ParameterValue ?? '']),
    );
    try {
      return new StageFailedError(
        await failedRollout(this.options, {
          plan: rollout,
          stackName,
          stackStatus: error.stackStatus,
          since: context.started,
          model: context.request.model.trainingId,
          previousModel: before.TrainingId,
          previousConfig: rolloutPlan(context.template, before, stackName).endpointConfigName,
          stackEvents: error.failed.map((f) => f.text).join('; '),
        }),
        { cause: error },
      );
    } catch (reading) {
      return new StageFailedError(
        `${error.message} (how the rollout ended could not be read: ${(reading as Error).message})`,
        { cause: error },
      );
    }
  }
}
