import { readFileSync } from 'node:fs';
import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import type { Config } from '../../config.js';
import type { Reporter } from '../../console-reporter.js';
import { ConfigError, StageFailedError } from '../../errors.js';
import type { BootstrapOptions, TeardownOptions } from '../../ports.js';
import { BOOTSTRAP_TEMPLATE } from '../../templates/template.js';
import { realSleep } from '../../util/time.js';
import { awsClientConfig, createCloudFormationClient, nameTimeouts } from './client-config.js';
import { Stacks, stackOutputs } from './stacks.js';

export const BOOTSTRAP_STACK = 'scones-bootstrap';

/** Deploys bootstrap.yaml once per account and region; returns the repository variables to set. */
export async function bootstrap(
  config: Config,
  options: BootstrapOptions,
  reporter: Reporter,
  client: CloudFormationClient = createCloudFormationClient(config.region),
  s3: S3Client = nameTimeouts(new S3Client(awsClientConfig(config.region, undefined)), 'S3'),
): Promise<Record<string, string>> {
  if (options.githubRepository !== undefined && !/^[\w.-]+\/[\w.-]+$/.test(options.githubRepository))
    throw new ConfigError(`--github-repository ${options.githubRepository}: expected owner/name`);
  const stacks = new Stacks(client, realSleep, 10_000);
  const existing = (await stacks.describe(BOOTSTRAP_STACK))?.StackStatus;
  // A first create (or one replacing a failed create) must find the bucket name free: the bucket is
  // retained when a create fails (DeletionPolicy: Retain), and then every retry fails on it.
  if (existing === undefined || existing === 'ROLLBACK_COMPLETE') await bucketMustBeFree(s3, config.bucket);
  const result = await stacks
    .apply(
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
    )
    .catch((error: unknown) => {
      throw explainOidcProvider(error);
    });
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
  if (options.githubRepository !== undefined) environmentRule(options.githubRepository, reporter);
  return variables;
}

/**
 * The deploy role trusts `environment:production` from any branch (the token's subject names no branch), so
 * the environment must be limited to main: GitHub's REST API "Create or update an environment" with a custom
 * branch policy, then "Create a deployment branch policy" for main.
 */
function environmentRule(repository: string, reporter: Reporter): void {
  reporter.info(
    'then limit the production environment to main (the deploy role trusts any branch that runs in it):',
  );
  reporter.info(
    `  gh api -X PUT repos/${repository}/environments/production -F "deployment_branch_policy[protected_branches]=false" -F "deployment_branch_policy[custom_branch_policies]=true"`,
  );
  reporter.info(
    `  gh api -X POST repos/${repository}/environments/production/deployment-branch-policies -f name=main -f type=branch`,
  );
}

/**
 * HeadBucket answers 200 for a bucket the caller owns, 403 for one another account owns and 404 for a free
 * name (S3 API reference, HeadBucket): bootstrap creates the bucket, so it must not exist yet.
 */
async function bucketMustBeFree(s3: S3Client, bucket: string): Promise<void> {
  const status = await s3.send(new HeadBucketCommand({ Bucket: bucket })).then(
    () => 200,
    (error: { $metadata?: { httpStatusCode?: number } }) => {
      const code = error.$metadata?.httpStatusCode;
      if (code === 404 || code === 403) return code;
      throw error;
    },
  );
  if (status === 200)
    throw new StageFailedError(
      `bucket ${bucket} already exists in your account, outside the bootstrap stack (an earlier bootstrap that failed keeps it: DeletionPolicy Retain): if it holds nothing you need, delete it (aws s3 rb s3://${bucket} --force) and bootstrap again; otherwise bootstrap with another name (--set bucket=...)`,
    );
  if (status === 403)
    throw new ConfigError(
      `bucket ${bucket} belongs to another AWS account (HeadBucket answers 403): choose another name with --set bucket=...`,
    );
}

/**
 * IAM allows one OIDC provider per URL per account: creating GitHub's a second time fails with
 * EntityAlreadyExists (IAM API reference, CreateOpenIDConnectProvider), which CloudFormation reports as the
 * GitHubOidcProvider resource's failure.
 */
function explainOidcProvider(error: unknown): unknown {
  const message = (error as Error).message ?? '';
  if (!/GitHubOidcProvider/.test(message) || !/already exists|EntityAlreadyExists/i.test(message))
    return error;
  return new StageFailedError(
    `the account already has GitHub's OIDC provider (token.actions.githubusercontent.com), and IAM allows one per URL: run bootstrap again with --existing-oidc-provider-arn arn:<partition>:iam::<account id>:oidc-provider/token.actions.githubusercontent.com (aws iam list-open-id-connect-providers shows it) [${message}]`,
    { cause: error },
  );
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
