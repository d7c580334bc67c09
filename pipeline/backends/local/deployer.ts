import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../../config.js';
import type { Reporter } from '../../console-reporter.js';
import { SconesError, StageFailedError } from '../../errors.js';
import { type LocalCredentials, newLocalCredentials } from '../../local-s3/signature.js';
import type { DeployRecord } from '../../manifest.js';
import type { Deployer, DeployRequest, ObjectStore } from '../../ports.js';
import { bundleLambdas } from '../../templates/lambda-bundles.js';
import { type DeployPlan, planDeployment, uploadCode } from '../../templates/parameters.js';
import { resolveTemplate } from '../../templates/resolved-template.js';
import { loadTemplate, STATE_MACHINE_DEFINITION } from '../../templates/template.js';
import { writeFileAtomic } from '../../util/files.js';
import { type LocalDeployment, localDeploymentOf, readLocalDeployment } from './deployment-record.js';
import { capturePrefix, startModelServer } from './model-server.js';

export const LOCAL_INFERENCE_IMAGE = 'local/scones-tfjs-model-server';
export const LOCAL_SAGEMAKER_ROLE = 'arn:aws:iam::000000000000:role/scones-local-sagemaker';

/**
 * Deploys the workflow template on this machine: bundles the Lambdas, uploads code to the local store,
 * reads names, environment, capture settings and the state machine definition from the template, checks
 * the model loads in the model server, and records the deployment. Same inputs: nothing to deploy.
 */
export class LocalDeployer implements Deployer {
  constructor(
    private readonly config: Config,
    private readonly store: ObjectStore,
    private readonly paths: { root: string; deployment: string },
  ) {}

  async deploy(request: DeployRequest, reporter: Reporter): Promise<DeployRecord & { reused: boolean }> {
    const { config, store } = this;
    const stackName = config.deploy.stackName;
    const side = request.imageSide;
    if (side === undefined)
      throw new SconesError(
        `the local endpoint needs the image size model ${request.model.trainingId} was trained at: run stage-data and train in this run`,
      );
    const plan = planDeployment({
      config,
      request,
      bundles: await bundleLambdas(join(this.paths.root, 'lambdas')),
      inferenceImage: LOCAL_INFERENCE_IMAGE,
      sageMakerRoleArn: LOCAL_SAGEMAKER_ROLE,
      store,
      reporter,
    });
    const current = readLocalDeployment(this.paths.deployment);
    const identity = {
      preview: request.preview,
      stackName,
      trainingId: request.model.trainingId,
      deploymentDigest: plan.digest,
    };
    if (current?.deploymentDigest === plan.digest) {
      reporter.info(`local deployment ${plan.digest} is unchanged: nothing to deploy`);
      // The same digest is the same template and parameters: what is deployed is what the record holds.
      const deployment = localDeploymentOf(current, stackName);
      return { ...identity, deployed: false, changes: [], deployment, reused: true };
    }
    const stack = resolveTemplate(loadTemplate(), plan.parameters, {
      stackName,
      region: config.region,
      definition: readFileSync(STATE_MACHINE_DEFINITION, 'utf8'),
    });
    const deployment: LocalDeployment = {
      deploymentDigest: plan.digest,
      side,
      deployedAt: new Date().toISOString(),
      runId: request.runId,
      parameters: plan.parameters,
      stack,
      handlers: Object.fromEntries(plan.bundles.map((b) => [b.name, b.jsPath])),
    };
    const record = {
      ...identity,
      deployed: true,
      changes: describeChanges(current, plan.parameters),
      deployment: localDeploymentOf(deployment, stackName),
    };
    if (request.preview) {
      const { deployment: _, ...preview } = record;
      const markdown = previewMarkdown(stackName, record.changes);
      reporter.info(markdown);
      return { ...preview, deployed: false, previewMarkdown: markdown, reused: false };
    }

    const uploaded = await uploadCode(store, plan.bundles);
    reporter.info(`${uploaded} code objects uploaded to ${store.uri('lambdas/')}`);
    // The endpoint must come up with this model, and hold under the live traffic, before it is recorded.
    const credentials = newLocalCredentials();
    const server = await startModelServer({
      store,
      modelUri: request.model.modelUri,
      endpointName: stack.endpointName,
      variantName: stack.variantName,
      // The bake's replayed requests are not new traffic: nothing of them is captured.
      capture: { ...stack.capture, destination: '' },
      side,
      credentials,
      region: config.region,
    });
    try {
      reporter.info(
        `endpoint ${stack.endpointName} loads model ${request.model.trainingId} (checked at ${server.url})`,
      );
      if (current !== undefined) await this.guard(current, server.url, credentials, plan, request, reporter);
    } finally {
      await server.stop();
    }
    mkdirSync(this.paths.root, { recursive: true });
    writeFileAtomic(this.paths.deployment, `${JSON.stringify(deployment, null, 2)}\n`);
    return { ...record, reused: false };
  }

  /**
   * The local deployment guardrail: the live endpoint's recent traffic (its data capture) is replayed to the
   * new model, watched as the template's alarms watch it on aws (errors, latency, the low-confidence share);
   * a tripped signal fails the deploy with the live model left as it is.
   */
  private async guard(
    current: LocalDeployment,
    url: string,
    credentials: LocalCredentials,
    plan: DeployPlan,
    request: DeployRequest,
    reporter: Reporter,
  ): Promise<void> {
    const live = localDeploymentOf(current, this.config.deploy.stackName);
    // The SageMaker runtime client the bake replays with loads only when there is a live model to guard.
    const { bake, recentRequests } = await import('./bake.js');
    const requests = await recentRequests(
      this.store,
      `${capturePrefix(live.captureUri, this.store.bucket)}/${live.endpointName}/`,
    );
    if (requests.length === 0) {
      reporter.info(`bake: endpoint ${live.endpointName} has captured no traffic to replay; not watched`);
      return;
    }
    const result = await bake({
      url,
      endpointName: live.endpointName,
      region: this.config.region,
      credentials,
      requests,
      limits: {
        maxLowConfidenceShare: Number(plan.parameters.MaxLowConfidenceShare),
        threshold: request.threshold,
        maxMeanLatencyMs: 1000,
        seconds: this.config.deploy.bakeSeconds,
      },
      reporter,
    });
    if (result.tripped !== undefined)
      throw new StageFailedError(
        `rolled back: model ${request.model.trainingId} tripped ${result.tripped}, on ${result.requests} requests of the live traffic replayed during its bake; ${live.trainingId} stays live, nothing was changed`,
      );
  }
}

function describeChanges(current: LocalDeployment | undefined, parameters: Record<string, string>) {
  if (current === undefined)
    return [{ action: 'Add', logicalId: 'Stack', type: 'AWS::CloudFormation::Stack' }];
  return Object.keys(parameters)
    .filter((name) => current.parameters[name] !== parameters[name])
    .map((name) => ({ action: 'Modify', logicalId: name, type: 'Parameter' }));
}

function previewMarkdown(stackName: string, changes: DeployRecord['changes']): string {
  if (changes.length === 0) return `No changes to \`${stackName}\`.`;
  return [
    `### Change set preview: \`${stackName}\``,
    '',
    '| action | logical id | type | replacement |',
    '| --- | --- | --- | --- |',
    ...changes.map((c) => `| ${c.action} | ${c.logicalId} | ${c.type} | ${c.replacement ?? ''} |`),
    '',
  ].join('\n');
}
