import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { expect } from 'chai';
import { executionArnOf, StepFunctionsRunner } from '../../pipeline/backends/aws/step-functions-runner.js';
import { StageFailedError } from '../../pipeline/errors.js';

const ARN = 'arn:aws-cn:states:cn-north-1:123456789012:stateMachine:scones-workflow-workflow';
const NAME = 'run-7-case-003';
const INPUT = { s3_key: 'datasets/d/test/a.png' };

/**
 * StartExecution API reference (Step Functions): "If StartExecution is called with the same name and input
 * as a running execution, the call succeeds and return the same response as the original request. If the
 * execution is closed or if the input is different, it returns a 400 ExecutionAlreadyExists error."
 */
const alreadyExists = () =>
  new ExecutionAlreadyExists({
    message: `Execution Already Exists: '${executionArnOf(ARN, NAME)}'`,
    $metadata: { httpStatusCode: 400 },
  });

describe('aws workflow runner: re-running a job (StartExecution ExecutionAlreadyExists)', () => {
  let sfn: AwsClientStub<SFNClient>;
  before(() => {
    sfn = mockClient(SFNClient);
  });
  beforeEach(() => sfn.reset());
  after(() => sfn.restore());

  it('ExecutionAlreadyExists for a closed execution with the same input: reuses its result, starts nothing new', async () => {
    sfn.on(StartExecutionCommand).rejects(alreadyExists());
    sfn.on(DescribeExecutionCommand).resolves({
      executionArn: executionArnOf(ARN, NAME),
      stateMachineArn: ARN,
      status: 'FAILED',
      input: JSON.stringify(INPUT),
      error: 'ThresholdConfidenceNotMet',
      cause: 'top confidence 0.61 < 0.93',
      startDate: new Date(1000),
      stopDate: new Date(4000),
    });
    const runner = new StepFunctionsRunner(new SFNClient({ region: 'cn-north-1' }), ARN, {
      sleep: async () => {},
    });
    const result = await runner.execute({ name: NAME, input: INPUT });
    expect(result).to.deep.include({
      name: NAME,
      status: 'FAILED',
      error: 'ThresholdConfidenceNotMet',
      durationMs: 3000,
    });
    const described = sfn.commandCalls(DescribeExecutionCommand).map((c) => c.args[0].input.executionArn);
    // The execution ARN is derived in the state machine's own partition.
    expect(described[0]).to.equal(
      'arn:aws-cn:states:cn-north-1:123456789012:execution:scones-workflow-workflow:run-7-case-003',
    );
    expect(sfn.commandCalls(StartExecutionCommand)).to.have.length(1);
  });

  it('ExecutionAlreadyExists with a different input: fails naming the execution and what to do', async () => {
    sfn.on(StartExecutionCommand).rejects(alreadyExists());
    sfn.on(DescribeExecutionCommand).resolves({
      executionArn: executionArnOf(ARN, NAME),
      stateMachineArn: ARN,
      status: 'SUCCEEDED',
      input: '{"s3_key":"datasets/other.png"}',
      startDate: new Date(0),
    });
    const runner = new StepFunctionsRunner(new SFNClient({ region: 'cn-north-1' }), ARN, {
      sleep: async () => {},
    });
    const failure = await runner.execute({ name: NAME, input: INPUT }).catch((e: unknown) => e);
    expect(failure).to.be.instanceOf(StageFailedError);
    expect((failure as Error).message)
      .to.include(NAME)
      .and.include('different input')
      .and.include('--run-id');
  });
});
