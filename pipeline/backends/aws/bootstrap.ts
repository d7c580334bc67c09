import { readFileSync } from 'node:fs';
import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import type { Config } from '../../config.js';
import type { Reporter } from '../../console-reporter.js';
import { ConfigError } from '../../errors.js';
import type { BootstrapOptions, TeardownOptions } from '../../ports.js';
import { BOOTSTRAP_TEMPLATE } from '../../templates/template.js';
import { realSleep } from '../../util/time.js';
import { createCloudFormationClient } from './client-config.js';
import { Stacks, stackOutputs } from './stacks.js';

export const BOOTSTRAP_STACK = 'scones-bootstrap';

/** Deploys bootstrap.yaml once per account and region; returns the repository variables to set. */
export async function bootstrap(
  config: Config,
  options: BootstrapOptions,
  reporter: Reporter,
  client: CloudFormationClient = createCloudFormationClient(config.region),
): Promise<Record<string, string>> {
  if (options.githubRepository !== undefined && !/^[\w.-]+\/[\w.-]+$/.test(options.githubRepository))
    throw new ConfigError(`--github-repository ${options.githubRepository}: expected owner/name`);
  const stacks = new Stacks(client, realSleep, 10_000);
  const result = await stacks.apply(
    {
      stackName: BOOTSTRAP_STACK,
      changeSetName: `scones-bootstrap-${Date.now()}`,
      templateBody: readFileSync(BOOTSTRAP_TEMPLATE, 'utf8'),
      parameters: {
        BucketName: config.bucket,
        WorkflowStackName: config.deploy.stackName,
        GitHubRepository: options.githubRepository ?? '',
        CreateOidcProvider: options.existingOidcProviderArn === undefined ? 'true' : 'false',
        ExistingOidcProviderArn: options.existingOidcProviderArn ?? '',
      },
      tags: { 'scones:stack': 'bootstrap' },
      preview: false,
    },
    reporter,
  );
  const outputs = stackOutputs(result.kind === 'preview' ? undefined : result.stack);
  const variables: Record<string, string> = {
    AWS_REGION: config.region,
    SCONES_BUCKET: outputs.ArtifactBucketName ?? config.bucket,
    SCONES_SAGEMAKER_ROLE_ARN: outputs.SageMakerRoleArn ?? '',
    ...(outputs.DeployRoleArn === undefined ? {} : { AWS_DEPLOY_ROLE_ARN: outputs.DeployRoleArn }),
    ...(outputs.PreviewRoleArn === undefined ? {} : { AWS_PREVIEW_ROLE_ARN: outputs.PreviewRoleArn }),
  };
  reporter.info(
    'set these as repository variables (Settings > Secrets and variables > Actions > Variables):',
  );
  for (const [name, value] of Object.entries(variables)) reporter.info(`  ${name}=${value}`);
  return variables;
}

/** What the aws teardown would remove, for the confirmation prompt. */
export function teardownPlan(config: Config, options: TeardownOptions): string[] {
  return [
    `the CloudFormation stack ${config.deploy.stackName} (endpoint, Lambdas, state machine)`,
    ...(options.includeBootstrap ? [`the ${BOOTSTRAP_STACK} stack (roles; the bucket is retained)`] : []),
  ];
}

/** Deletes the workflow stack and, when asked, the bootstrap stack; the bucket stays (DeletionPolicy). */
export async function teardown(
  config: Config,
  options: TeardownOptions,
  reporter: Reporter,
  client: CloudFormationClient = createCloudFormationClient(config.region),
): Promise<void> {
  const stacks = new Stacks(client, realSleep, 10_000);
  for (const name of [config.deploy.stackName, ...(options.includeBootstrap ? [BOOTSTRAP_STACK] : [])]) {
    if ((await stacks.describe(name)) === undefined) {
      reporter.info(`stack ${name} does not exist: nothing to remove`);
      continue;
    }
    await stacks.delete(name, reporter);
    reporter.info(`stack ${name} deleted`);
  }
}
