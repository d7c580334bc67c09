import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CloudFormationClient,
  CreateChangeSetCommand,
  DeleteChangeSetCommand,
  DeleteStackCommand,
  DescribeChangeSetCommand,
  DescribeStacksCommand,
  ExecuteChangeSetCommand,
} from '@aws-sdk/client-cloudformation';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  DescribeExecutionCommand,
  type DescribeExecutionCommandInput,
  ExecutionAlreadyExists,
  SFNClient,
  StartExecutionCommand,
  type StartExecutionCommandInput,
} from '@aws-sdk/client-sfn';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { expect } from 'chai';
import { awaitCapture, inCaptureWindow } from '../../pipeline/backends/aws/capture.js';
import { openAwsBackend } from '../../pipeline/backends/aws/index.js';
import { S3ObjectStore } from '../../pipeline/backends/s3-object-store.js';
import { configDigest } from '../../pipeline/config.js';
import { StageFailedError } from '../../pipeline/errors.js';
import { newManifest } from '../../pipeline/manifest.js';
import { captureLine, fakeBucket } from '../helpers/fake-bucket.js';
import { describedWorkflowStack } from '../helpers/workflow-stack.js';
import { captureReporter, runCli, tempDir, testConfig } from '../helpers/workspace.js';

const BUCKET = 'team-artifacts';
/** The prefixes bootstrap.yaml's preview role may list (s3:prefix condition on s3:ListBucket). */
const PREVIEW_ROLE_LISTS = (key: string) => /^(lambdas|templates|runs)\//.test(key);
const AWS_FLAGS = ['--backend', 'aws', '--set', `bucket=${BUCKET}`];

describe('aws backend through the CLI (mocked clients answering as AWS documents)', function () {
  this.timeout(120_000);
  let s3: AwsClientStub<S3Client>;
  let cfn: AwsClientStub<CloudFormationClient>;
  let dir: string;
  let cleanup: () => void;
  before(() => {
    s3 = mockClient(S3Client);
    cfn = mockClient(CloudFormationClient);
  });
  beforeEach(() => {
    s3.reset();
    cfn.reset();
    ({ dir, cleanup } = tempDir());
  });
  afterEach(() => cleanup());
  after(() => {
    s3.restore();
    cfn.restore();
  });

  it('deploy --preview with the preview role (s3:ListBucket only under lambdas/, templates/, runs/): exit 0, nothing written to S3, no stack change executed', async () => {
    fakeBucket(s3, { canList: PREVIEW_ROLE_LISTS });
    cfn.on(DescribeStacksCommand).resolves({
      Stacks: [
        describedWorkflowStack('UPDATE_COMPLETE', {
          ModelDataUrl: `s3://${BUCKET}/models/t-deployed/model.tar.gz`,
        }),
      ],
    });
    cfn.on(CreateChangeSetCommand).resolves({});
    cfn.on(DescribeChangeSetCommand).resolves({
      Status: 'CREATE_COMPLETE',
      Changes: [
        {
          Type: 'Resource',
          ResourceChange: {
            Action: 'Modify',
            LogicalResourceId: 'SerializeFunction',
            ResourceType: 'AWS::Lambda::Function',
          },
        },
      ],
    });
    cfn.on(DeleteChangeSetCommand).resolves({});
    const result = await runCli(
      [
        'deploy',
        '--preview',
        '--run-id',
        'pr-12',
        ...AWS_FLAGS,
        '--set',
        'train.sagemaker.roleArn=arn:aws:iam::123456789012:role/sm',
      ],
      { cwd: dir },
    );
    expect(result.code, result.stderr).to.equal(0);
    expect(s3.commandCalls(PutObjectCommand), 'S3 writes').to.have.length(0);
    expect(cfn.commandCalls(ExecuteChangeSetCommand)).to.have.length(0);
    expect(cfn.commandCalls(DeleteChangeSetCommand)).to.have.length(1);
    expect(result.stderr).to.include('a deploy would upload');
    expect(result.stderr).to.include('SerializeFunction');
  });

  // DescribeStacks on a stack that does not exist: ValidationError "Stack with id NAME does not exist"
  // (CloudFormation API reference, DescribeStacks): before the first deploy a pull request has nothing to compare.
  it('deploy --preview before the first deploy (DescribeStacks: stack does not exist): exit 0, says there is nothing to compare, makes no change set', async () => {
    fakeBucket(s3, { canList: PREVIEW_ROLE_LISTS });
    cfn
      .on(DescribeStacksCommand)
      .rejects(
        Object.assign(new Error('Stack with id scones-workflow does not exist'), { name: 'ValidationError' }),
      );
    const result = await runCli(
      [
        'deploy',
        '--preview',
        '--run-id',
        'pr-11',
        ...AWS_FLAGS,
        '--set',
        'train.sagemaker.roleArn=arn:aws:iam::123456789012:role/sm',
      ],
      { cwd: dir },
    );
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stderr).to.include('nothing to compare');
    expect(cfn.commandCalls(CreateChangeSetCommand)).to.have.length(0);
    expect(s3.commandCalls(PutObjectCommand)).to.have.length(0);
    const preview = join(dir, '.scones', 'runs', 'pr-11', 'preview.md');
    expect(readFileSync(preview, 'utf8')).to.include(
      'Nothing is deployed yet, so there is nothing to compare',
    );
  });

  // HeadObject API reference: a missing key answers 404 to a caller with s3:ListBucket, 403 without it; so a
  // 403 where the caller may list is a real denial, not absence.
  it('HeadObject 403 where the caller may list is AccessDenied naming the key and the role; where it may not, absent', async () => {
    fakeBucket(s3, { canList: false });
    const deployer = openAwsBackend(testConfig({ backend: 'aws', bucket: BUCKET }));
    const denied = await deployer.store.head('models/t-1/model.tar.gz').catch((e: unknown) => e as Error);
    expect((denied as Error).message)
      .to.include('AccessDenied: the deploy role')
      .and.include(`s3://${BUCKET}/models/t-1/model.tar.gz`);
    const preview = openAwsBackend(testConfig({ backend: 'aws', bucket: BUCKET, 'deploy.preview': true }));
    expect(await preview.store.head('models/t-1/model.tar.gz')).to.equal(undefined);
    expect(await preview.store.head('runs/pr-1/manifest.json').catch((e: unknown) => e as Error))
      .to.be.instanceOf(Error)
      .with.property('message')
      .that.includes('AccessDenied: the preview role');
  });

  it('deploy --preview on a stack in UPDATE_ROLLBACK_FAILED: exit 1 naming the state and continue-update-rollback, no change set', async () => {
    // CloudFormation User Guide, "Continue rolling back an update": a stack in UPDATE_ROLLBACK_FAILED takes no
    // update until ContinueUpdateRollback succeeds.
    fakeBucket(s3, { canList: PREVIEW_ROLE_LISTS });
    cfn.on(DescribeStacksCommand).resolves({
      Stacks: [
        describedWorkflowStack('UPDATE_ROLLBACK_FAILED', {
          ModelDataUrl: `s3://${BUCKET}/models/t-deployed/model.tar.gz`,
        }),
      ],
    });
    const result = await runCli(
      [
        'deploy',
        '--preview',
        '--run-id',
        'pr-13',
        ...AWS_FLAGS,
        '--set',
        'train.sagemaker.roleArn=arn:aws:iam::123456789012:role/sm',
      ],
      { cwd: dir },
    );
    expect(result.code).to.equal(1);
    expect(result.stderr).to.include('UPDATE_ROLLBACK_FAILED').and.include('continue-update-rollback');
    expect(cfn.commandCalls(CreateChangeSetCommand)).to.have.length(0);
    expect(s3.commandCalls(PutObjectCommand)).to.have.length(0);
  });

  it('teardown --backend aws: a stack in DELETE_FAILED is deleted again (DeleteStack retries a failed delete)', async () => {
    // DeleteStack API reference: deleting a stack in DELETE_FAILED retries the delete; DescribeStacks by name
    // then answers "Stack with id ... does not exist" (ValidationError).
    cfn
      .on(DescribeStacksCommand)
      .resolvesOnce({
        Stacks: [{ StackName: 'scones-workflow', StackStatus: 'DELETE_FAILED', CreationTime: new Date() }],
      })
      .rejects(
        Object.assign(new Error('Stack with id scones-workflow does not exist'), { name: 'ValidationError' }),
      );
    cfn.on(DeleteStackCommand).resolves({});
    const result = await runCli(['teardown', '--yes', ...AWS_FLAGS], { cwd: dir });
    expect(result.code, result.stderr).to.equal(0);
    expect(cfn.commandCalls(DeleteStackCommand).map((c) => c.args[0].input.StackName)).to.deep.equal([
      'scones-workflow',
    ]);
    expect(result.stderr).to.include('stack scones-workflow deleted');
  });

  it('bootstrap as an UPDATE: an existing bootstrap stack gets an UPDATE change set and its outputs are printed', async () => {
    cfn.on(DescribeStacksCommand).resolves({
      Stacks: [
        {
          StackName: 'scones-bootstrap',
          StackStatus: 'UPDATE_COMPLETE',
          CreationTime: new Date(),
          Outputs: [
            { OutputKey: 'ArtifactBucketName', OutputValue: BUCKET },
            { OutputKey: 'SageMakerRoleArn', OutputValue: 'arn:aws:iam::123456789012:role/scones-sm' },
          ],
        },
      ],
    });
    cfn.on(CreateChangeSetCommand).resolves({});
    cfn.on(DescribeChangeSetCommand).resolves({
      Status: 'CREATE_COMPLETE',
      Changes: [
        {
          Type: 'Resource',
          ResourceChange: {
            Action: 'Modify',
            LogicalResourceId: 'DeployRole',
            ResourceType: 'AWS::IAM::Role',
          },
        },
      ],
    });
    cfn.on(ExecuteChangeSetCommand).resolves({});
    const result = await runCli(['bootstrap', ...AWS_FLAGS], { cwd: dir });
    expect(result.code, result.stderr).to.equal(0);
    expect(cfn.commandCalls(CreateChangeSetCommand)[0]!.args[0].input.ChangeSetType).to.equal('UPDATE');
    expect(result.stderr).to.include('SCONES_SAGEMAKER_ROLE_ARN=arn:aws:iam::123456789012:role/scones-sm');
  });

  it('monitor-report --capture s3:// reads capture files from S3 (ListObjectsV2, GetObject) and uploads the report under capture-reports/, outside any run', async () => {
    const bucket = fakeBucket(s3, { canList: true });
    bucket.put(
      'data-capture/scones-workflow-endpoint/AllTraffic/2026/11/22/10/a.jsonl',
      `${captureLine('2026-11-22T10:00:01Z', 'i-1')}\n${captureLine('2026-11-22T10:00:02Z', 'i-2')}\n`,
    );
    const result = await runCli(
      ['monitor-report', '--capture', `s3://${BUCKET}/data-capture/`, '--json', ...AWS_FLAGS],
      {
        cwd: dir,
      },
    );
    expect(result.code, result.stderr).to.equal(0);
    expect(JSON.parse(result.stdout).outputs.records).to.equal(2);
    const uploaded = s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input.Key ?? '');
    // A report on outside capture belongs to no run: capture-reports/<id>/, and no run manifest.
    expect(
      uploaded.some((k) => /^capture-reports\/[^/]+\/report\.json$/.test(k)),
      uploaded.join(),
    ).to.equal(true);
    expect(uploaded.filter((k) => k.startsWith('runs/'))).to.deep.equal([]);
  });

  it('a stage without --run-id continues the newest run on S3 (by ListObjectsV2 LastModified, not key order)', async () => {
    const bucket = fakeBucket(s3, { canList: true });
    const digest = configDigest(testConfig({ backend: 'aws', bucket: BUCKET }));
    bucket.put(
      'runs/zz-older/manifest.json',
      JSON.stringify(newManifest('zz-older', 'aws', digest)),
      new Date('2026-11-20T10:00:00Z'),
    );
    bucket.put(
      'runs/aa-newest/manifest.json',
      JSON.stringify(newManifest('aa-newest', 'aws', digest)),
      new Date('2026-11-22T10:00:00Z'),
    );
    const result = await runCli(['gate', ...AWS_FLAGS], { cwd: dir });
    // The newest run has no trained model yet: the gate refuses, naming the run it continued.
    expect(result.code).to.equal(1);
    expect(result.stderr).to.include('run aa-newest has not completed');
    expect(result.stderr).to.not.include('zz-older');
    expect(s3.commandCalls(PutObjectCommand)).to.have.length(0);
  });
});

describe('aws backend through the CLI: test-executions', function () {
  this.timeout(120_000);
  let s3: AwsClientStub<S3Client>;
  let sfn: AwsClientStub<SFNClient>;
  let dir: string;
  let cleanup: () => void;
  before(() => {
    s3 = mockClient(S3Client);
    sfn = mockClient(SFNClient);
  });
  beforeEach(() => {
    s3.reset();
    sfn.reset();
    ({ dir, cleanup } = tempDir());
  });
  afterEach(() => cleanup());
  after(() => {
    s3.restore();
    sfn.restore();
  });

  const MACHINE = 'arn:aws:states:us-east-1:123456789012:stateMachine:scones-workflow-workflow';
  const PREFIX = 'datasets/d0d0d0d0d0d0d0d0d0d0/';

  /** A run whose dataset and deployment are recorded, with test.lst in the bucket (index, label, path). */
  function stagedRun(bucket: ReturnType<typeof fakeBucket>) {
    const digest = configDigest(testConfig({ backend: 'aws', bucket: BUCKET }));
    const stage = (outputs: unknown) => ({
      inputsDigest: 'x',
      startedAt: '2026-11-22T10:00:00.000Z',
      finishedAt: '2026-11-22T10:01:00.000Z',
      durationMs: 60_000,
      reused: false,
      outputs,
    });
    const manifest = {
      ...newManifest('run-7', 'aws', digest),
      stages: {
        'stage-data': stage({
          digest: 'd0d0d0d0d0d0d0d0d0d0',
          source: 'cifar100',
          uri: `s3://${BUCKET}/${PREFIX}`,
          prefix: PREFIX,
          classes: [
            { label: 0, name: 'bicycle', cifarId: 8 },
            { label: 1, name: 'motorcycle', cifarId: 48 },
          ],
          counts: { train: { bicycle: 2, motorcycle: 2 }, test: { bicycle: 2, motorcycle: 2 } },
          totals: { train: 4, test: 4 },
          imageShape: [3, 32, 32],
        }),
        deploy: stage({
          deployed: true,
          preview: false,
          stackName: 'scones-workflow',
          trainingId: 't-1',
          deploymentDigest: 'x',
          changes: [],
          deployment: {
            stackName: 'scones-workflow',
            trainingId: 't-1',
            modelUri: `s3://${BUCKET}/models/t-1/model.tar.gz`,
            validationAccuracy: 0.9,
            threshold: 0.93,
            endpointName: 'scones-workflow-endpoint',
            stateMachineArn: MACHINE,
            captureUri: `s3://${BUCKET}/data-capture`,
            definitionKey: 'templates/state-machine.asl.json',
          },
        }),
      },
    };
    bucket.put('runs/run-7/manifest.json', JSON.stringify(manifest));
    bucket.put(
      `${PREFIX}test.lst`,
      '0\t0\tbicycle/a.png\n1\t0\tbicycle/b.png\n2\t1\tmotorcycle/c.png\n3\t1\tmotorcycle/d.png\n',
    );
  }

  const finished = (input: string) => ({
    status: 'SUCCEEDED' as const,
    input,
    startDate: new Date(0),
    stopDate: new Date(800),
    output: '{"statusCode":200,"body":{"inferences":[0.97,0.03]}}',
  });

  it('reads test.lst from S3, starts one execution per drawn case, and a re-run (ExecutionAlreadyExists) reuses them', async () => {
    const bucket = fakeBucket(s3, { canList: true });
    stagedRun(bucket);
    const started = new Map<string, string>();
    sfn.on(StartExecutionCommand).callsFake(async (input: StartExecutionCommandInput) => {
      const arn = `${MACHINE.replace(':stateMachine:', ':execution:')}:${input.name}`;
      // StartExecution API reference: a closed execution with the same name answers ExecutionAlreadyExists.
      if (started.has(arn))
        throw new ExecutionAlreadyExists({
          message: `Execution Already Exists: '${arn}'`,
          $metadata: { httpStatusCode: 400 },
        });
      started.set(arn, input.input ?? '{}');
      return { executionArn: arn, startDate: new Date(0) };
    });
    sfn.on(DescribeExecutionCommand).callsFake(async (input: DescribeExecutionCommandInput) => ({
      executionArn: input.executionArn,
      stateMachineArn: MACHINE,
      ...finished(started.get(input.executionArn ?? '') ?? '{}'),
    }));
    const args = ['test-executions', '--run-id', 'run-7', '--count', '3', '--json', ...AWS_FLAGS];
    const first = await runCli(args, { cwd: dir });
    expect(first.code, first.stderr).to.equal(0);
    const keys = [...started.values()].map((i) => (JSON.parse(i) as { s3_key: string }).s3_key);
    expect(keys).to.have.length(3);
    for (const key of keys)
      expect(key).to.match(/^datasets\/d0d0d0d0d0d0d0d0d0d0\/test\/(bicycle|motorcycle)\/[a-d]\.png$/);
    expect(s3.commandCalls(GetObjectCommand).map((c) => c.args[0].input.Key)).to.include(`${PREFIX}test.lst`);

    const again = await runCli(args, { cwd: dir });
    expect(again.code, again.stderr).to.equal(0);
    expect(started.size, 'no new executions on the re-run').to.equal(3);
    expect(sfn.commandCalls(StartExecutionCommand)).to.have.length(6);
  });
});

describe('aws capture wait: bounded, visible, this run only', () => {
  let s3: AwsClientStub<S3Client>;
  before(() => {
    s3 = mockClient(S3Client);
  });
  beforeEach(() => s3.reset());
  after(() => s3.restore());

  const window = { from: Date.parse('2026-11-22T10:59:00Z'), to: Date.parse('2026-11-22T11:01:00Z') };
  const prefix = 'data-capture/ep/';

  it('reads only the hour folders of the window (SageMaker writes <endpoint>/<variant>/yyyy/mm/dd/hh/)', () => {
    expect(inCaptureWindow(`${prefix}AllTraffic/2026/11/22/10/a.jsonl`, window)).to.equal(true);
    expect(inCaptureWindow(`${prefix}AllTraffic/2026/11/22/11/b.jsonl`, window)).to.equal(true);
    expect(inCaptureWindow(`${prefix}AllTraffic/2026/11/22/09/old.jsonl`, window)).to.equal(false);
    expect(inCaptureWindow(`${prefix}AllTraffic/2026/11/21/10/old.jsonl`, window)).to.equal(false);
  });

  it('polls until the expected records arrive, printing progress, and never reads an older hour', async () => {
    const bucket = fakeBucket(s3, { canList: true });
    bucket.put(`${prefix}AllTraffic/2026/11/21/10/old.jsonl`, captureLine('2026-11-21T10:00:00Z', 'old'));
    const store = new S3ObjectStore(new S3Client({ region: 'us-east-1' }), BUCKET);
    let polls = 0;
    const { reporter, stream } = captureReporter();
    const keys = await awaitCapture(store, { prefix, window, expected: 2 }, reporter, {
      sleep: async () => {
        polls++;
        if (polls === 1)
          bucket.put(`${prefix}AllTraffic/2026/11/22/10/a.jsonl`, captureLine('2026-11-22T10:59:30Z', 'i-1'));
        if (polls === 2)
          bucket.put(`${prefix}AllTraffic/2026/11/22/11/b.jsonl`, captureLine('2026-11-22T11:00:10Z', 'i-2'));
      },
    });
    expect(keys).to.deep.equal([
      `${prefix}AllTraffic/2026/11/22/10/a.jsonl`,
      `${prefix}AllTraffic/2026/11/22/11/b.jsonl`,
    ]);
    expect(stream.text)
      .to.include('capture: 0/2 records')
      .and.include('capture: 1/2 records')
      .and.include('capture: 2/2 records');
    const read = s3.commandCalls(GetObjectCommand).map((c) => c.args[0].input.Key);
    expect(read).to.not.include(`${prefix}AllTraffic/2026/11/21/10/old.jsonl`);
  });

  it('gives up after the timeout: a clear failure when nothing arrived', async () => {
    fakeBucket(s3, { canList: true });
    const store = new S3ObjectStore(new S3Client({ region: 'us-east-1' }), BUCKET);
    let clock = 0;
    const failure = await awaitCapture(store, { prefix, window, expected: 3 }, captureReporter().reporter, {
      now: () => clock,
      sleep: async (ms) => {
        clock += ms;
      },
      pollMs: 60_000,
      timeoutMs: 5 * 60_000,
    }).catch((e: unknown) => e);
    expect(failure).to.be.instanceOf(StageFailedError);
    expect((failure as Error).message)
      .to.include('no capture of this run')
      .and.include('within 5 minutes')
      .and.include('run monitor-report again later');
    expect(clock).to.equal(5 * 60_000);
  });
});
