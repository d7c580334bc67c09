import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { S3Client } from '@aws-sdk/client-s3';
import { SageMakerClient } from '@aws-sdk/client-sagemaker';
import { SFNClient } from '@aws-sdk/client-sfn';
import type { AwsCredentialIdentityProvider } from '@aws-sdk/types';
import type { Config } from '../../config.js';
import { ENV } from '../../constants.js';
import type { Backend, BackendModule } from '../../ports.js';
import type { Sleep } from '../../util/time.js';
import { ObjectStoreManifestStore } from '../manifest-stores.js';
import { S3ObjectStore } from '../s3-object-store.js';
import { BatchTransformEvaluator } from './batch-transform-evaluator.js';
import { bootstrap, teardown, teardownPlan } from './bootstrap.js';
import { awaitCapture } from './capture.js';
import {
  AWS_CLIENT_LIMITS,
  type AwsClientLimits,
  awsClientConfig,
  createCloudFormationClient,
  nameTimeouts,
} from './client-config.js';
import { CloudFormationDeployer } from './cloudformation-deployer.js';
import { refreshingCredentials } from './credentials.js';
import { readStackDeployment } from './deployment.js';
import { SageMakerTrainer } from './sagemaker-trainer.js';
import { StepFunctionsRunner } from './step-functions-runner.js';

/** AWS SDK v3 clients of the aws backend; tests pass mocked ones. */
export type AwsClients = ReturnType<typeof createAwsClients>;

/**
 * Clients from the default credential chain, each with connection and request timeouts and bounded
 * retries. S3 honours AWS_ENDPOINT_URL_S3 (LocalStack, MinIO) with path-style keys.
 */
export function createAwsClients(
  config: Config,
  env: NodeJS.ProcessEnv = process.env,
  options: { limits?: AwsClientLimits; credentials?: AwsCredentialIdentityProvider } = {},
) {
  const region = config.region;
  const limits = options.limits ?? AWS_CLIENT_LIMITS;
  const customS3 = env[ENV.s3Endpoint] !== undefined || env.AWS_ENDPOINT_URL !== undefined;
  const refreshing = options.credentials === undefined ? refreshingCredentials() : undefined;
  const credentials = options.credentials ?? refreshing?.provider;
  const base = awsClientConfig(region, credentials, limits);
  return {
    s3: nameTimeouts(new S3Client({ ...base, ...(customS3 ? { forcePathStyle: true } : {}) }), 'S3', limits),
    sagemaker: nameTimeouts(new SageMakerClient(base), 'SageMaker', limits),
    sfn: nameTimeouts(new SFNClient(base), 'Step Functions', limits),
    cloudformation: createCloudFormationClient(region, credentials, limits),
    // Reads the alarm history of a guarded rollout.
    cloudwatch: nameTimeouts(new CloudWatchClient(base), 'CloudWatch', limits),
    // Fetches fresh credentials for every client; absent in tests.
    ...(refreshing === undefined ? {} : { refreshCredentials: refreshing.refresh }),
  };
}

/**
 * The clock of every wait the aws backend makes (training, transform and stack polls, executions, the
 * capture wait); absent: the real one. Tests pass a fake so a ten-minute wait takes no time.
 */
export interface AwsBackendClock {
  sleep?: Sleep;
  now?: () => number;
}

/**
 * Which keys the bootstrap roles may list (bootstrap.yaml): the preview role only under lambdas/, templates/
 * and runs/; the deploy role (or the user's own credentials) the whole bucket.
 */
function callerOf(config: Config): { name: string; mayList: (key: string) => boolean } {
  return config.deploy.preview
    ? { name: 'the preview role', mayList: (key) => /^(lambdas|templates|runs)\//.test(key) }
    : { name: 'the deploy role (or the credentials in use)', mayList: () => true };
}

/** The aws backend: the artifact bucket, SageMaker training, CloudFormation for the deployed champion. */
export function openAwsBackend(
  config: Config,
  clients: AwsClients = createAwsClients(config),
  clock: AwsBackendClock = {},
): Backend {
  const store = new S3ObjectStore(clients.s3, config.bucket, callerOf(config));
  const sleep = clock.sleep === undefined ? {} : { sleep: clock.sleep };
  const now = clock.now;
  const { refreshCredentials } = clients;
  const jobs = {
    client: clients.sagemaker,
    store,
    config,
    ...sleep,
    ...(refreshCredentials === undefined ? {} : { refreshCredentials }),
  };
  return {
    name: 'aws',
    store,
    manifests: new ObjectStoreManifestStore(store),
    trainer: new SageMakerTrainer(jobs),
    evaluator: new BatchTransformEvaluator(jobs),
    deployer: new CloudFormationDeployer({
      client: clients.cloudformation,
      sagemaker: clients.sagemaker,
      cloudwatch: clients.cloudwatch,
      store,
      config,
      ...sleep,
      ...(now === undefined ? {} : { now: () => new Date(now()) }),
    }),
    openWorkflow: async (deployment, reporter) =>
      new StepFunctionsRunner(clients.sfn, deployment.stateMachineArn, {
        ...sleep,
        warn: (message) => reporter.warn(message),
      }),
    deployment: () => readStackDeployment(clients.cloudformation, config.deploy.stackName),
    awaitCapture: (request, reporter) => awaitCapture(store, request, reporter, clock),
    bucketStore: (bucket) => (bucket === store.bucket ? store : new S3ObjectStore(clients.s3, bucket)),
    async close() {
      clients.s3.destroy();
      clients.sagemaker.destroy();
      clients.cloudformation.destroy();
      clients.cloudwatch.destroy();
      clients.sfn.destroy();
    },
  };
}

/** The aws backend's registry entry. */
export const awsBackend: BackendModule = {
  open: async (config) => openAwsBackend(config),
  bootstrap: (config, options, reporter) => bootstrap(config, options, reporter),
  teardownPlan,
  teardown: (config, options, reporter) => teardown(config, options, reporter),
};
