import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { Reporter } from '../../console-reporter.js';
import type { Deployment } from '../../contracts/deployment.js';
import { SconesError } from '../../errors.js';
import type { LocalCredentials } from '../../local-s3/signature.js';
import type { ExecutionRequest, ExecutionResult, ObjectStore, WorkflowRunner } from '../../ports.js';
import { readWentLive } from '../../util/model-history-records.js';
import { localDeploymentOf, readLocalDeployment } from './deployment-record.js';
import { LocalLambdaRuntime } from './lambda-runtime.js';
import { startModelServer } from './model-server.js';
import { LocalStateMachineRunner } from './state-machine-runner.js';

/**
 * Starts the recorded local deployment: the model server for its endpoint, the three functions with the
 * template's environment (their SDK clients pointed at the local store and endpoint), and the state
 * machine definition from the template.
 */
export async function startLocalServices(options: {
  deploymentPath: string;
  stackName: string;
  /** The deployment the caller expects to be running; the record must still be that one. */
  deployment?: Deployment;
  store: ObjectStore;
  s3Endpoint: string;
  /** The store's credentials; the endpoint accepts the same, so the Lambdas hold one key pair. */
  credentials: LocalCredentials;
  region: string;
  lambdaLogFile?: string;
}) {
  const deployment = readLocalDeployment(options.deploymentPath);
  if (deployment === undefined)
    throw new SconesError('nothing is deployed locally: run `scones deploy` first');
  const recorded = localDeploymentOf(deployment, options.stackName);
  if (options.deployment !== undefined && !isDeepStrictEqual(recorded, options.deployment)) {
    // The run that deployed what is live now, from the model history (a rollback's own record has no run).
    const deployedBy = (await readWentLive(options.store).catch(() => []))
      .filter(
        (r) =>
          r.how === 'deploy' && r.trainingId === recorded.trainingId && r.threshold === recorded.threshold,
      )
      .at(-1)?.runId;
    throw new SconesError(
      `the local deployment now serves ${recorded.trainingId} (threshold ${recorded.threshold}), not the ${options.deployment.trainingId} (threshold ${options.deployment.threshold}) this run deployed (a later deploy or a rollback changed it): ` +
        (deployedBy === undefined
          ? 'start a new scones run to exercise what is live'
          : `to exercise what is live, run scones test-executions --run-id ${deployedBy}`) +
        `; scones deploy in this run would put ${options.deployment.trainingId} back live`,
    );
  }
  const modelServer = await startModelServer({
    store: options.store,
    modelUri: recorded.modelUri,
    endpointName: deployment.stack.endpointName,
    variantName: deployment.stack.variantName,
    capture: deployment.stack.capture,
    side: deployment.side,
    credentials: options.credentials,
    region: options.region,
  });
  const bundleOf = (codeKey: string) => {
    const entry = Object.entries(deployment.handlers).find(([name]) => codeKey.includes(`/${name}-`));
    if (entry === undefined)
      throw new SconesError(`no bundled handler for code ${codeKey}: run scones deploy again`);
    return entry[1];
  };
  if (options.lambdaLogFile !== undefined) mkdirSync(dirname(options.lambdaLogFile), { recursive: true });
  const runtime = new LocalLambdaRuntime(
    deployment.stack.functions.map((f) => ({
      functionName: f.functionName,
      arn: f.arn,
      handlerPath: bundleOf(f.codeKey),
      environment: f.environment,
      timeoutSeconds: f.timeoutSeconds,
    })),
    {
      // Only what a Lambda would have: no credentials or variables of the user's shell leak in, only
      // this start's key pair for the local store and endpoint (as a Lambda gets its role's).
      AWS_REGION: options.region,
      AWS_DEFAULT_REGION: options.region,
      AWS_ACCESS_KEY_ID: options.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: options.credentials.secretAccessKey,
      AWS_ENDPOINT_URL_S3: options.s3Endpoint,
      AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME: modelServer.url,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      PATH: process.env.PATH ?? '',
    },
    (functionName, line) => {
      if (options.lambdaLogFile !== undefined)
        appendFileSync(options.lambdaLogFile, `${JSON.stringify({ functionName, line })}\n`);
    },
  );
  const runner = new LocalStateMachineRunner(deployment.stack.definition, runtime);
  return {
    modelServer,
    runtime,
    runner,
    async stop() {
      await runtime.stop();
      await modelServer.stop();
    },
  };
}

/** The WorkflowRunner port over the local services. */
export async function openLocalWorkflow(
  options: Parameters<typeof startLocalServices>[0],
  reporter: Reporter,
): Promise<WorkflowRunner> {
  const services = await startLocalServices(options);
  reporter.info(
    `local endpoint at ${services.modelServer.url}, functions and state machine from the template`,
  );
  return {
    async execute(request: ExecutionRequest): Promise<ExecutionResult> {
      const outcome = await services.runner.execute(request.input, request.name);
      return { name: request.name, ...outcome };
    },
    close: () => services.stop(),
  };
}
