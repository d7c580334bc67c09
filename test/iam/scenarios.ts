import { readFileSync } from 'node:fs';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { S3Client } from '@aws-sdk/client-s3';
import { SageMakerClient } from '@aws-sdk/client-sagemaker';
import { SFNClient } from '@aws-sdk/client-sfn';
import { parse as parseYaml } from 'yaml';
import { CloudFormationDeployer } from '../../pipeline/backends/aws/cloudformation-deployer.js';
import { type AwsBackendClock, openAwsBackend } from '../../pipeline/backends/aws/index.js';
import { S3ObjectStore } from '../../pipeline/backends/s3-object-store.js';
import { STAGES, type StageName } from '../../pipeline/constants.js';
import { modelHistoryKey, testExecutionsKey } from '../../pipeline/contracts/layout.js';
import type { ModelWentLive } from '../../pipeline/contracts/model-history.js';
import {
  type TestExecutionsDocument,
  testExecutionsDocumentSchema,
} from '../../pipeline/contracts/test-executions.js';
import { newManifest, type TrainRecord } from '../../pipeline/manifest.js';
import { listModels, rollback } from '../../pipeline/model-history.js';
import type { Backend } from '../../pipeline/ports.js';
import { monitorReporter } from '../../pipeline/report/monitor.js';
import { executeStage, resolveRun } from '../../pipeline/run.js';
import { monitorReport } from '../../pipeline/stages/monitor-report.js';
import { fakeBundles } from '../helpers/fake-bundles.js';
import { captureReporter, tempDir, testConfig } from '../helpers/workspace.js';
import { FakeAws, type RecordedCall } from './fake-aws.js';
import { TEST_ACCOUNT, WORKFLOW_TEST_PARAMETERS } from './roles.js';

const { bucket, region, workflowStack } = TEST_ACCOUNT;

function awsConfig(workDir?: string, overrides: Record<string, unknown> = {}) {
  return testConfig({
    ...(workDir === undefined ? {} : { workDir }),
    ...overrides,
    backend: 'aws',
    bucket,
    region,
    'deploy.stackName': workflowStack,
    'train.sagemaker.roleArn': WORKFLOW_TEST_PARAMETERS.SageMakerRoleArn as string,
    'data.source': 'synthetic',
    'data.synthetic.trainPerClass': 2,
    'data.synthetic.testPerClass': 1,
    'data.synthetic.imageSize': 8,
    'testExecutions.count': 2,
    // The fake model answers class 0 for every image, so it gets one of the two test images right.
    'gate.minAccuracy': 0.5,
  });
}

function clients() {
  return {
    s3: new S3Client({ region }),
    sagemaker: new SageMakerClient({ region }),
    cloudformation: new CloudFormationClient({ region }),
    cloudwatch: new CloudWatchClient({ region }),
    sfn: new SFNClient({ region }),
  };
}

function deployer(config: ReturnType<typeof awsConfig>) {
  return new CloudFormationDeployer({
    client: new CloudFormationClient({ region }),
    sagemaker: new SageMakerClient({ region }),
    cloudwatch: new CloudWatchClient({ region }),
    store: new S3ObjectStore(new S3Client({ region }), bucket),
    config,
    sleep: async () => {},
    bundle: async () => fakeBundles(),
    now: () => new Date(1_700_000_000_000),
  });
}

/** What an actor did: its requests, in order. */
export interface ActorRun {
  actor: string;
  role: string;
  calls: RecordedCall[];
}

/**
 * The aws backend as the CLI opens it, with the deployer's Lambda bundles faked (esbuild is not under test)
 * and the scenario's clock, so every wait (transform job, capture) passes at once.
 */
function cliBackend(config: ReturnType<typeof awsConfig>, clock: AwsBackendClock): Backend {
  return { ...openAwsBackend(config, clients(), clock), deployer: deployer(config) };
}

/** One CLI stage as a workflow job runs it: `scones <stage> --backend aws --run-id <id>`. */
async function runJob(
  stage: StageName,
  config: ReturnType<typeof awsConfig>,
  runId: string | undefined,
  clock: AwsBackendClock = {},
) {
  const backend = cliBackend(config, clock);
  const { reporter } = captureReporter();
  const manifest = await resolveRun(backend, config, stage, runId);
  await executeStage(stage, { config, backend, reporter, manifest });
}

/** The stages pipeline.yml runs on the aws backend, in the order of its jobs (`npx scones <stage> --backend aws`). */
export function workflowStages(): StageName[] {
  const workflow = parseYaml(readFileSync('.github/workflows/pipeline.yml', 'utf8')) as {
    jobs: Record<string, { steps?: { run?: string }[] }>;
  };
  return Object.values(workflow.jobs).flatMap((job) =>
    (job.steps ?? []).flatMap((step) => {
      const stage = /\bscones ([a-z-]+) --backend aws\b/.exec(step.run ?? '')?.[1];
      return stage !== undefined && (STAGES as readonly string[]).includes(stage) ? [stage as StageName] : [];
    }),
  );
}

/**
 * The pipeline jobs on the aws backend (deploy role): every stage of pipeline.yml, each through the same
 * run resolution and stage execution as the CLI, then a stage that continues the newest run (no --run-id).
 * Time is the scenario's: each wait advances it, and SageMaker delivers the endpoint's capture to S3 while
 * monitor-report waits for it, as it does minutes after the executions.
 */
export async function pipelineJobs(): Promise<
  ActorRun & { stages: StageName[]; captureKeys: string[]; executions: TestExecutionsDocument }
> {
  // The second test case fails in the classify state (the endpoint unreachable), so test-executions reads
  // that execution's history for the state it stopped in; the error budget lets the run go on.
  const fake = new FakeAws({
    failExecution: (name) =>
      name.endsWith('-case-001')
        ? {
            state: 'ClassifyImage',
            error: 'EndpointError',
            cause: 'endpoint scones-workflow-endpoint failed: connect ETIMEDOUT',
          }
        : undefined,
  }).install();
  const { dir, cleanup } = tempDir('iam-pipeline-');
  const captureKeys: string[] = [];
  let elapsed = 0;
  const clock: AwsBackendClock = {
    now: () => elapsed,
    sleep: async (ms) => {
      elapsed += ms;
      captureKeys.push(...fake.deliverCapture());
    },
  };
  try {
    const config = awsConfig(dir, { 'testExecutions.errorBudget': 1 });
    const stages = workflowStages();
    for (const stage of stages) await runJob(stage, config, 'run-1', clock);
    await runJob('gate', config, undefined, clock);
    const document = fake.objects.get(`${bucket}/${testExecutionsKey('run-1')}`);
    if (document === undefined) throw new Error('test-executions wrote no document');
    return {
      actor: 'pipeline jobs (scones <stage> --backend aws)',
      role: 'DeployRole',
      calls: fake.calls,
      stages,
      captureKeys,
      executions: testExecutionsDocumentSchema.parse(JSON.parse(Buffer.from(document).toString('utf8'))),
    };
  } finally {
    fake.restore();
    cleanup();
  }
}

/**
 * The deploy job's other paths: a stack left in ROLLBACK_COMPLETE (deleted first), an unchanged deploy
 * (empty change set, deleted), and a failed update (the failed resources' reasons are read).
 */
export async function deployRecoveryPaths(): Promise<ActorRun> {
  const calls: RecordedCall[] = [];
  const model: TrainRecord = {
    trainingId: 't-abc',
    trainer: 'sagemaker-image-classification/1',
    modelUri: WORKFLOW_TEST_PARAMETERS.ModelDataUrl as string,
    validationAccuracy: 0.9,
    epochs: [],
    durationSeconds: 1,
    datasetDigest: 'd',
    hyperparameters: {},
  };
  for (const options of [
    { stackStatus: 'ROLLBACK_COMPLETE' },
    { stackStatus: 'UPDATE_COMPLETE', emptyChangeSet: true },
    {
      stackStatus: 'UPDATE_COMPLETE',
      executeEndsIn: 'UPDATE_ROLLBACK_COMPLETE',
      rolloutTrips: `${workflowStack}-low-confidence-share`,
    },
  ]) {
    const fake = new FakeAws(options).install();
    try {
      const { reporter } = captureReporter();
      await deployer(awsConfig())
        .deploy({ runId: 'run-2', preview: false, model, imageSide: 8, threshold: 0.93 }, reporter)
        .catch((error: Error) => {
          if (options.executeEndsIn === undefined) throw error;
        });
    } finally {
      calls.push(...fake.calls);
      fake.restore();
    }
  }
  return { actor: 'deploy job, recovery paths', role: 'DeployRole', calls };
}

/** The pull-request preview: `scones deploy --preview --backend aws --run-id pr-7` with the preview role. */
export async function previewJob(): Promise<ActorRun> {
  const fake = new FakeAws({
    stackStatus: 'UPDATE_COMPLETE',
    stackParameters: WORKFLOW_TEST_PARAMETERS,
    stackOutputs: {
      EndpointName: `${workflowStack}-endpoint`,
      StateMachineArn: `arn:aws:states:us-east-1:123456789012:stateMachine:${workflowStack}-workflow`,
    },
  }).install();
  const { dir, cleanup } = tempDir('iam-preview-');
  try {
    await runJob('deploy', awsConfig(dir, { 'deploy.preview': true }), 'pr-7');
    return {
      actor: 'preview job (scones deploy --preview --backend aws)',
      role: 'PreviewRole',
      calls: fake.calls,
    };
  } finally {
    fake.restore();
    cleanup();
  }
}

/** Each Lambda handler run once on a real event, its SDK clients answered by the fake. */
export async function lambdaRuns(): Promise<ActorRun[]> {
  const fake = new FakeAws().install();
  const runs: ActorRun[] = [];
  try {
    const context = { awsRequestId: 'req-1' } as never;
    const key = 'datasets/abc/test/bicycle_1.png';
    // A 1x1 PNG so the serializer's content sniffing accepts it.
    const png = Buffer.from(
      'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==',
      'base64',
    );
    fake.objects.set(`${bucket}/${key}`, png);
    process.env.ENDPOINT_NAME = `${workflowStack}-endpoint`;
    const { handler: serialize } = await import('../../lambdas/serialize-image-data/index.js');
    const { handler: classify } = await import('../../lambdas/classify-image/index.js');
    let from = fake.calls.length;
    const serialized = await serialize({ s3_bucket: bucket, s3_key: key }, context);
    runs.push({ actor: 'serialize-image-data Lambda', role: 'SerializeRole', calls: fake.calls.slice(from) });
    from = fake.calls.length;
    await classify(serialized, context);
    runs.push({ actor: 'classify-image Lambda', role: 'ClassifyRole', calls: fake.calls.slice(from) });
    return runs;
  } finally {
    delete process.env.ENDPOINT_NAME;
    fake.restore();
  }
}

/**
 * The rollback workflow (rollback.yml): `scones rollback --backend aws` with the deploy role, on a stack
 * deployed with model t-abc (WORKFLOW_TEST_PARAMETERS) whose history holds t-old before it. It reads the
 * history, describes the stack, heads t-old's model.tar.gz, deploys it by change set and records it.
 * Then `scones models` on the same bucket: its calls alone, to check against the read-only preview role.
 */
export async function rollbackJobs(): Promise<{
  rollback: ActorRun & { wentLive: string };
  models: ActorRun;
  monitor: ActorRun;
}> {
  const fake = new FakeAws({
    stackStatus: 'UPDATE_COMPLETE',
    stackParameters: WORKFLOW_TEST_PARAMETERS,
    stackOutputs: {
      EndpointName: `${workflowStack}-endpoint`,
      StateMachineArn: `arn:aws:states:us-east-1:123456789012:stateMachine:${workflowStack}-workflow`,
    },
  }).install();
  try {
    const oldModelUri = `s3://${bucket}/models/t-old/job/output/model.tar.gz`;
    fake.objects.set(`${bucket}/models/t-old/job/output/model.tar.gz`, Buffer.from('model archive'));
    const record = (trainingId: string, modelUri: string, liveAt: string): ModelWentLive => ({
      trainingId,
      trainer: 'sagemaker-image-classification/1',
      modelUri,
      validationAccuracy: 0.9,
      datasetDigest: 'data0123',
      verdict: 'passed',
      threshold: 0.9,
      liveAt,
      how: 'deploy',
      runId: 'gh-1',
    });
    for (const r of [
      record('t-old', oldModelUri, '2026-12-01T10:00:00.000Z'),
      record('t-abc', WORKFLOW_TEST_PARAMETERS.ModelDataUrl as string, '2026-12-02T10:00:00.000Z'),
    ])
      fake.objects.set(
        `${bucket}/${modelHistoryKey(r.liveAt, r.trainingId)}`,
        Buffer.from(JSON.stringify(r)),
      );
    const config = awsConfig();
    const { reporter } = captureReporter();
    const result = await rollback(cliBackend(config, {}), reporter, {});
    const rollbackCalls = [...fake.calls];
    await listModels(cliBackend(config, {}));
    const modelsCalls = fake.calls.slice(rollbackCalls.length);
    // The scheduled monitor (monitor.yml): `scones monitor-report --backend aws --since 1h` with the deploy
    // role, over a capture file SageMaker wrote in this hour's folder.
    const now = new Date();
    const hour = now.toISOString().slice(0, 13).replace(/[-T]/g, '/');
    // Where the stack (as the rollback left it) sends capture: <DataCaptureS3Uri>/<endpoint>/<variant>/<hour>/.
    const live = await cliBackend(config, {}).deployment();
    const destination = `${(live?.captureUri ?? '').replace(/^s3:\/\//, '').replace(/\/+$/, '')}/${live?.endpointName}`;
    fake.objects.set(
      `${destination}/AllTraffic/${hour}/00-capture.jsonl`,
      Buffer.from(
        `${JSON.stringify({
          captureData: {
            endpointInput: {
              observedContentType: 'image/png',
              mode: 'INPUT',
              data: 'iVBORw0KGgo=',
              encoding: 'BASE64',
            },
            endpointOutput: {
              observedContentType: 'application/json',
              mode: 'OUTPUT',
              data: '[0.9,0.1]',
              encoding: 'JSON',
            },
          },
          eventMetadata: { eventId: 'e-1', inferenceTime: `${now.toISOString().slice(0, 19)}Z` },
          eventVersion: '0',
        })}\n`,
      ),
    );
    const monitorStart = fake.calls.length;
    const { dir, cleanup } = tempDir('iam-monitor-');
    try {
      const monitorConfig = awsConfig(dir, { 'monitor.since': '1h' });
      const reportId = 'monitor-1';
      const report = await monitorReport(
        {
          config: monitorConfig,
          backend: cliBackend(monitorConfig, {}),
          reporter,
          manifest: newManifest(reportId, 'aws', ''),
          runId: reportId,
        },
        monitorReporter,
      );
      if (report.outputs.records !== 1)
        throw new Error(`the monitor read ${String(report.outputs.records)} records, not 1`);
    } finally {
      cleanup();
    }
    return {
      monitor: {
        actor: 'monitor job (scones monitor-report --backend aws --since 1h)',
        role: 'DeployRole',
        calls: fake.calls.slice(monitorStart),
      },
      rollback: {
        actor: 'rollback job (scones rollback --backend aws)',
        role: 'DeployRole',
        calls: rollbackCalls,
        wentLive: result.wentLive.trainingId,
      },
      models: {
        actor: 'scones models --backend aws',
        role: 'PreviewRole',
        calls: modelsCalls,
      },
    };
  } finally {
    fake.restore();
  }
}
