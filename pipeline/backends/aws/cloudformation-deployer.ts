import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import type { Config } from '../../config.js';
import type { Reporter } from '../../console-reporter.js';
import { deploymentFromStack } from '../../contracts/deployment.js';
import { ConfigError } from '../../errors.js';
import type { DeployRecord } from '../../manifest.js';
import type { Deployer, DeployRequest, ObjectStore } from '../../ports.js';
import { bundleLambdas, type LambdaBundle } from '../../templates/lambda-bundles.js';
import { missingCode, planDeployment, uploadCode } from '../../templates/parameters.js';
import { WORKFLOW_TEMPLATE } from '../../templates/template.js';
import { realSleep, type Sleep } from '../../util/time.js';
import { imageClassificationUri } from './regions.js';
import { changesTable, Stacks, stackOutputs, validWorkflowStackName } from './stacks.js';

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
    const plan = planDeployment({
      config,
      request,
      bundles: await (
        this.options.bundle ?? (() => bundleLambdas(mkdtempSync(join(tmpdir(), 'scones-lambdas-'))))
      )(),
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
    const now = (this.options.now ?? (() => new Date()))().getTime();
    const result = await this.stacks.apply(
      {
        stackName,
        changeSetName: `scones-${request.runId.replace(/[^A-Za-z0-9-]/g, '-')}-${now}`.slice(0, 128),
        templateBody: readFileSync(WORKFLOW_TEMPLATE, 'utf8'),
        parameters: plan.parameters,
        // Stack tags propagate to every resource, so a tag that changes per run would update them all: the
        // run and model go in the change set's description, and the stack gets only a constant tag.
        tags: { 'scones:stack': 'workflow' },
        description: `scones run ${request.runId}, model ${request.model.trainingId}`,
        preview: request.preview,
      },
      reporter,
    );
    const base = {
      deployed: false,
      preview: request.preview,
      stackName,
      trainingId: request.model.trainingId,
      deploymentDigest: plan.digest,
      changes: [] as DeployRecord['changes'],
    };
    if (result.kind === 'preview') {
      const markdown = `### Change set preview: \`${stackName}\` (${result.changeSetType})\n\n${changesTable(result.changes)}\n`;
      return { ...base, changes: result.changes, previewMarkdown: markdown, reused: false };
    }
    const deployment = deploymentFromStack({
      stackName,
      parameters: plan.parameters,
      outputs: stackOutputs(result.stack),
    });
    if (result.kind === 'empty') return { ...base, deployment, reused: true };
    return { ...base, deployment, deployed: true, changes: result.changes, reused: false };
  }
}
