import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { S3Client } from '@aws-sdk/client-s3';
import { SageMakerClient } from '@aws-sdk/client-sagemaker';
import { SFNClient } from '@aws-sdk/client-sfn';
import { CloudFormationDeployer } from '../../pipeline/backends/aws/cloudformation-deployer.js';
import { openAwsBackend } from '../../pipeline/backends/aws/index.js';
import { S3ObjectStore } from '../../pipeline/backends/s3-object-store.js';
import { newManifest, type TrainRecord } from '../../pipeline/manifest.js';
import { stageData } from '../../pipeline/stages/stage-data.js';
import type { LambdaBundle } from '../../scripts/bundle-lambdas.js';
import { captureReporter, testConfig } from '../helpers/workspace.js';
import { FakeAws, type RecordedCall } from './fake-aws.js';
import { TEST_ACCOUNT, WORKFLOW_TEST_PARAMETERS } from './roles.js';

const { bucket, region, workflowStack } = TEST_ACCOUNT;

function fakeBundles(): LambdaBundle[] {
  const dir = mkdtempSync(join(tmpdir(), 'iam-bundles-'));
  return (['serialize-image-data', 'classify-image', 'filter-inferences'] as const).map((name) => {
    const zipPath = join(dir, `${name}.zip`);
    writeFileSync(zipPath, `zip of ${name}`);
    return { name, zipName: `${name}-0123456789abcdef.zip`, zipPath, jsPath: '', sha256: 'x', zipBytes: 10 };
  });
}

function awsConfig() {
  return testConfig({
    backend: 'aws',
    bucket,
    region,
    'deploy.stackName': workflowStack,
    'train.sagemaker.roleArn': WORKFLOW_TEST_PARAMETERS.SageMakerRoleArn as string,
    'data.source': 'synthetic',
    'data.synthetic.trainPerClass': 2,
    'data.synthetic.testPerClass': 1,
    'data.synthetic.imageSize': 8,
  });
}

function clients() {
  return {
    s3: new S3Client({ region }),
    sagemaker: new SageMakerClient({ region }),
    cloudformation: new CloudFormationClient({ region }),
    sfn: new SFNClient({ region }),
  };
}

function deployer(config: ReturnType<typeof awsConfig>) {
  return new CloudFormationDeployer({
    client: new CloudFormationClient({ region }),
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
 * The pipeline jobs on the aws backend (deploy role): stage-data through the stage itself; train, gate's
 * champion read, deploy, test-executions' workflow runs and the manifest store through the backend's ports
 * the stages call (the stages' own logic around them needs no AWS).
 */
export async function pipelineJobs(): Promise<ActorRun> {
  const fake = new FakeAws().install();
  try {
    const config = awsConfig();
    const backend = openAwsBackend(config, clients());
    const { reporter } = captureReporter();
    const runId = 'run-1';
    const manifest = newManifest(runId, 'aws', 'x');
    const staged = await stageData({ config, backend, reporter, runId, manifest });
    await backend.manifests.save(manifest);
    const trained = await backend.trainer.train(
      {
        trainingId: 't-abc',
        dataset: {
          digest: staged.outputs.digest,
          prefix: `datasets/${staged.outputs.digest}/`,
          classes: ['bicycle', 'motorcycle'],
          imageShape: [3, 8, 8],
          counts: { train: 4, test: 2 },
        },
        hyperparameters: {},
        runId,
      },
      reporter,
    );
    await backend.champion();
    const deployed = await deployer(config).deploy(
      { runId, preview: false, model: trained as TrainRecord, imageSide: 8 },
      reporter,
    );
    const workflow = await backend.openWorkflow(deployed, reporter);
    await workflow.execute({
      name: `${runId}-case-1`,
      input: { s3_bucket: bucket, s3_key: `datasets/${staged.outputs.digest}/test/x.png` },
    });
    for await (const object of backend.store.list(`data-capture/${workflowStack}/`))
      await backend.store.get(object.key);
    await backend.manifests.load(runId);
    await backend.manifests.latestRunId();
    return { actor: 'pipeline jobs (scones <stage> --backend aws)', role: 'DeployRole', calls: fake.calls };
  } finally {
    fake.restore();
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
    { stackStatus: 'UPDATE_COMPLETE', executeEndsIn: 'UPDATE_ROLLBACK_COMPLETE' },
  ]) {
    const fake = new FakeAws(options).install();
    try {
      const { reporter } = captureReporter();
      await deployer(awsConfig())
        .deploy({ runId: 'run-2', preview: false, model, imageSide: 8 }, reporter)
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

/** The pull-request preview: `scones deploy --preview --backend aws` with the preview role. */
export async function previewJob(): Promise<ActorRun> {
  const fake = new FakeAws({
    stackStatus: 'UPDATE_COMPLETE',
    stackOutputs: {
      EndpointName: `${workflowStack}-endpoint`,
      DeployedTrainingId: 't-abc',
      DeployedValidationAccuracy: '0.9',
    },
  }).install();
  try {
    const config = awsConfig();
    const backend = openAwsBackend(config, clients());
    const { reporter } = captureReporter();
    await backend.manifests.load('pr-7');
    const deployed = await backend.deployedModel();
    const model: TrainRecord = deployed?.model ?? {
      trainingId: 't-abc',
      trainer: 'sagemaker-image-classification/1',
      modelUri: WORKFLOW_TEST_PARAMETERS.ModelDataUrl as string,
      validationAccuracy: 0.9,
      epochs: [],
      durationSeconds: 1,
      datasetDigest: 'd',
      hyperparameters: {},
    };
    await deployer(config).deploy({ runId: 'pr-7', preview: true, model, imageSide: 8 }, reporter);
    return {
      actor: 'preview job (scones deploy --preview --backend aws)',
      role: 'PreviewRole',
      calls: fake.calls,
    };
  } finally {
    fake.restore();
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
