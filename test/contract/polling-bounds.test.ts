import {
  CloudFormationClient,
  CreateChangeSetCommand,
  DescribeChangeSetCommand,
  DescribeStacksCommand,
  ExecuteChangeSetCommand,
} from '@aws-sdk/client-cloudformation';
import {
  CreateModelCommand,
  CreateTransformJobCommand,
  DescribeModelCommand,
  DescribeTransformJobCommand,
  SageMakerClient,
} from '@aws-sdk/client-sagemaker';
import { DescribeExecutionCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { expect } from 'chai';
import { BatchTransformEvaluator } from '../../pipeline/backends/aws/batch-transform-evaluator.js';
import { Stacks } from '../../pipeline/backends/aws/stacks.js';
import { StepFunctionsRunner } from '../../pipeline/backends/aws/step-functions-runner.js';
import { StageFailedError } from '../../pipeline/errors.js';
import type { EvaluateRequest, ObjectStore } from '../../pipeline/ports.js';
import { rejection } from '../helpers/assertions.js';
import { captureReporter, testConfig } from '../helpers/workspace.js';

const WORKFLOW_BODY = 'Resources:\n  Bucket:\n    Type: AWS::S3::Bucket\n';
const change = (preview = false) => ({
  stackName: 'scones-workflow',
  changeSetName: 'scones-run-1',
  templateBody: WORKFLOW_BODY,
  parameters: {},
  tags: {},
  preview,
});

describe('every polling loop is bounded, shows progress and says what to do when it runs out', () => {
  const cfn = mockClient(CloudFormationClient);
  const sagemaker = mockClient(SageMakerClient);
  beforeEach(() => {
    cfn.reset();
    sagemaker.reset();
  });
  after(() => {
    cfn.restore();
    sagemaker.restore();
  });
  const slept: number[] = [];
  const sleep = async (ms: number) => {
    slept.push(ms);
  };

  // DescribeChangeSet Status: CREATE_PENDING and CREATE_IN_PROGRESS until CREATE_COMPLETE or FAILED
  // (CloudFormation API reference, DescribeChangeSet).
  it('a change set that never leaves CREATE_IN_PROGRESS fails after the limit, naming it', async () => {
    cfn.on(DescribeStacksCommand).rejects(new Error('Stack with id scones-workflow does not exist'));
    cfn.on(CreateChangeSetCommand).resolves({ Id: 'cs', StackId: 'stack' });
    cfn.on(DescribeChangeSetCommand).resolves({ Status: 'CREATE_IN_PROGRESS' });
    const stacks = new Stacks(new CloudFormationClient({ region: 'us-east-1' }), sleep, 10_000, {
      changeSetMs: 60_000,
      stackMs: 60_000,
    });
    const error = await rejection(stacks.apply(change(true), captureReporter().reporter));
    expect(error).to.be.instanceOf(StageFailedError);
    expect(error.message).to.match(
      /change set scones-run-1 of scones-workflow is still CREATE_IN_PROGRESS after 1 min/,
    );
    expect(cfn.commandCalls(DescribeChangeSetCommand).length).to.be.within(12, 14);
  });

  // DescribeStacks StackStatus stays CREATE_IN_PROGRESS while resources are created (an endpoint: minutes).
  it('a stack that stays CREATE_IN_PROGRESS past the limit fails, with progress on the way', async () => {
    cfn
      .on(DescribeStacksCommand)
      .rejectsOnce(new Error('Stack with id scones-workflow does not exist'))
      .resolves({
        Stacks: [
          { StackName: 'scones-workflow', StackStatus: 'CREATE_IN_PROGRESS', CreationTime: new Date() },
        ],
      });
    cfn.on(CreateChangeSetCommand).resolves({ Id: 'cs', StackId: 'stack' });
    cfn.on(DescribeChangeSetCommand).resolves({ Status: 'CREATE_COMPLETE', Changes: [] });
    cfn.on(ExecuteChangeSetCommand).resolves({});
    const stacks = new Stacks(new CloudFormationClient({ region: 'us-east-1' }), sleep, 10_000, {
      changeSetMs: 60_000,
      stackMs: 120_000,
    });
    const { reporter, stream } = captureReporter();
    const error = await rejection(stacks.apply(change(), reporter));
    expect(stream.text).to.include('stack scones-workflow: CREATE_IN_PROGRESS (0 min in)');
    expect(error.message).to.match(/stack scones-workflow is still CREATE_IN_PROGRESS after 2 min/);
  });

  const store: ObjectStore = {
    bucket: 'team-artifacts',
    uri: (key: string) => `s3://team-artifacts/${key}`,
    put: async () => undefined,
    get: async () => undefined,
    head: async () => undefined,
    list: async function* () {},
    delete: async () => undefined,
  } as unknown as ObjectStore;
  const request = {
    runId: 'r',
    evaluationId: 'e-0123456789abcdef0123',
    model: { trainingId: 't', modelUri: 's3://team-artifacts/models/t/model.tar.gz' },
    dataset: { prefix: 'datasets/d/', counts: { test: 3 } },
  } as unknown as EvaluateRequest;
  const evaluator = (refreshCredentials?: () => Promise<void>) =>
    new BatchTransformEvaluator({
      client: new SageMakerClient({ region: 'us-east-1' }),
      store,
      config: testConfig({ backend: 'aws', 'train.sagemaker.roleArn': 'arn:aws:iam::123456789012:role/sm' }),
      pollSeconds: 60,
      maxWaitMinutes: 5,
      sleep,
      ...(refreshCredentials === undefined ? {} : { refreshCredentials }),
    });

  /** The validation split's job (evaluate runs one per split, side by side) completed, with its output. */
  const validationJobCompleted = () => {
    sagemaker
      .on(DescribeTransformJobCommand, { TransformJobName: 'scones-e-0123456789abcdef0123-validation' })
      .resolves({
        TransformJobName: 'scones-e-0123456789abcdef0123-validation',
        TransformJobStatus: 'Completed',
      });
  };

  // DescribeTransformJob TransformJobStatus: InProgress until Completed, Failed or Stopped (API reference).
  it('a transform job still InProgress after the limit: the stage fails saying it keeps running, how to resume or stop it', async () => {
    sagemaker
      .on(DescribeTransformJobCommand, { TransformJobName: 'scones-e-0123456789abcdef0123' })
      .rejectsOnce(Object.assign(new Error('Could not find requested job'), { name: 'ResourceNotFound' }))
      .resolves({ TransformJobName: 'scones-e-0123456789abcdef0123', TransformJobStatus: 'InProgress' });
    validationJobCompleted();
    sagemaker.on(DescribeModelCommand).resolves({ ModelName: 'scones-e-0123456789abcdef0123' });
    sagemaker.on(CreateModelCommand).resolves({});
    sagemaker.on(CreateTransformJobCommand).resolves({ TransformJobArn: 'arn:job' });
    const error = await rejection(evaluator().evaluate(request, captureReporter().reporter));
    expect(error.message)
      .to.include('is still InProgress after 5 min')
      .and.include('run evaluate again to wait for it')
      .and.include('stop-transform-job --transform-job-name scones-e-0123456789abcdef0123');
  });

  // STS session credentials expire (ExpiredTokenException, STS API reference, "Common errors"); the evaluate
  // job may run 90 minutes, past a one-hour session.
  it('evaluate refreshes credentials that expire while it waits for the transform job, as the trainer does', async () => {
    const expired = Object.assign(new Error('The security token included in the request is expired'), {
      name: 'ExpiredTokenException',
    });
    validationJobCompleted();
    sagemaker
      .on(DescribeTransformJobCommand, { TransformJobName: 'scones-e-0123456789abcdef0123' })
      .rejectsOnce(Object.assign(new Error('Could not find requested job'), { name: 'ResourceNotFound' }))
      .rejectsOnce(expired)
      .resolves({ TransformJobName: 'scones-e-0123456789abcdef0123', TransformJobStatus: 'Stopped' });
    sagemaker.on(DescribeModelCommand).resolves({ ModelName: 'scones-e-0123456789abcdef0123' });
    sagemaker.on(CreateTransformJobCommand).resolves({ TransformJobArn: 'arn:job' });
    let refreshed = 0;
    const { reporter, stream } = captureReporter();
    const error = await rejection(
      evaluator(async () => {
        refreshed++;
      }).evaluate(request, reporter),
    );
    expect(refreshed).to.equal(1);
    expect(stream.text).to.include('AWS credentials expired while waiting: refreshing them (1/5');
    expect(error.message).to.include('was stopped before it completed');
  });

  // DescribeExecution status stays RUNNING until the execution ends (Step Functions API reference); a
  // STANDARD execution may run for a year.
  it('a state machine execution still RUNNING after the limit fails, naming it and how to stop it', async () => {
    const sfn = mockClient(SFNClient);
    try {
      const arn = 'arn:aws:states:us-east-1:123456789012:stateMachine:scones-workflow-workflow';
      const execution =
        'arn:aws:states:us-east-1:123456789012:execution:scones-workflow-workflow:run-case-000';
      sfn.on(StartExecutionCommand).resolves({ executionArn: execution, startDate: new Date() });
      sfn.on(DescribeExecutionCommand).resolves({
        executionArn: execution,
        stateMachineArn: arn,
        status: 'RUNNING',
        startDate: new Date(0),
      });
      const runner = new StepFunctionsRunner(new SFNClient({ region: 'us-east-1' }), arn, {
        sleep,
        maxWaitMs: 60_000,
      });
      const error = await rejection(runner.execute({ name: 'run-case-000', input: {} }));
      expect(error).to.be.instanceOf(StageFailedError);
      expect(error.message)
        .to.include('execution run-case-000 is still RUNNING after 1 min')
        .and.include(`aws stepfunctions stop-execution --execution-arn ${execution}`);
    } finally {
      sfn.restore();
    }
  });
});
