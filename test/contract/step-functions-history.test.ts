import { SFNClient } from '@aws-sdk/client-sfn';
import { expect } from 'chai';
import { StepFunctionsRunner } from '../../pipeline/backends/aws/step-functions-runner.js';
import { FakeAws, type FakeExecutionFailure } from '../iam/fake-aws.js';

const ARN = 'arn:aws:states:us-east-1:123456789012:stateMachine:scones-workflow-workflow';
const BUCKET = 'scones-artifacts';
const KEY = 'datasets/d/test/bicycle_1.png';
const INPUT = { image_data: '', s3_bucket: BUCKET, s3_key: KEY };

/**
 * The aws runner against the in-memory AWS, whose executions record the history Step Functions documents
 * (API reference: GetExecutionHistory, HistoryEvent). Each test fails if the state name does not come back
 * from the events the fake recorded for the execution.
 */
describe('aws workflow runner: the state a failed execution stopped in (Step Functions API reference, GetExecutionHistory / HistoryEvent previousEventId)', () => {
  let fake: FakeAws | undefined;
  afterEach(() => fake?.restore());

  function start(options: ConstructorParameters<typeof FakeAws>[0]): FakeAws {
    fake = new FakeAws(options).install();
    fake.objects.set(`${BUCKET}/${KEY}`, Buffer.from('png'));
    return fake;
  }
  const failIn = (failure: FakeExecutionFailure) => () => failure;
  const runner = (options: ConstructorParameters<typeof StepFunctionsRunner>[2] = {}) =>
    new StepFunctionsRunner(new SFNClient({ region: 'us-east-1' }), ARN, {
      sleep: async () => {},
      ...options,
    });

  it('walks previousEventId back from ExecutionFailed through TaskFailed to TaskStateEntered, reading older pages only as needed (GetExecutionHistory reverseOrder, nextToken)', async () => {
    // Prepare: the execution fails in the second state; pages of 3 events, newest first
    const aws = start({
      failExecution: failIn({ state: 'ClassifyImage', error: 'EndpointError', cause: 'endpoint failed' }),
    });
    // Act
    const result = await runner({ historyPageSize: 3 }).execute({ name: 'run-case-000', input: INPUT });
    // Assess
    expect(result).to.include({ status: 'FAILED', error: 'EndpointError', failedState: 'ClassifyImage' });
    const history = aws.calls.filter((c) => c.command === 'GetExecutionHistory');
    // 12 events (started; serialize entered, scheduled, started, succeeded, exited; classify entered,
    // scheduled, started, failed; execution failed = 11): the classify events are on the first two pages.
    expect(history).to.have.length(2);
    expect(history[0]!.input).to.deep.include({
      executionArn: `${ARN.replace(':stateMachine:', ':execution:')}:run-case-000`,
      reverseOrder: true,
      includeExecutionData: false,
      maxResults: 3,
    });
    expect(history[0]!.input).to.not.have.property('nextToken');
    expect(history[1]!.input.nextToken).to.be.a('string').with.length.greaterThan(0);
  });

  it('a failure in the first state and a filtered execution are placed on their own states', async () => {
    start({
      failExecution: (name) =>
        name.endsWith('0')
          ? { state: 'SerializeImageData', error: 'ImageNotFound', cause: 'no such key' }
          : {
              state: 'FilterInferences',
              error: 'ThresholdConfidenceNotMet',
              cause: 'top confidence 0.7 is below the threshold 0.93',
            },
    });
    const sfn = runner({ historyPageSize: 2 });
    expect(await sfn.execute({ name: 'run-case-000', input: INPUT })).to.include({
      failedState: 'SerializeImageData',
    });
    expect(await sfn.execute({ name: 'run-case-001', input: INPUT })).to.include({
      error: 'ThresholdConfidenceNotMet',
      failedState: 'FilterInferences',
    });
  });

  it('ExecutionTimedOut and ExecutionAborted lead back to the state that was running', async () => {
    start({
      failExecution: (name) => ({
        state: 'ClassifyImage',
        status: name.endsWith('0') ? 'TIMED_OUT' : 'ABORTED',
        error: 'States.Timeout',
        cause: 'the execution ran longer than its TimeoutSeconds',
      }),
    });
    const sfn = runner();
    expect(await sfn.execute({ name: 'run-case-000', input: INPUT })).to.include({
      status: 'TIMED_OUT',
      failedState: 'ClassifyImage',
    });
    expect(await sfn.execute({ name: 'run-case-001', input: INPUT })).to.include({
      status: 'ABORTED',
      failedState: 'ClassifyImage',
    });
  });

  it('a Lambda ARN resource records LambdaFunctionScheduled/Started/Failed: the walk passes them the same way', async () => {
    const fn = 'arn:aws:lambda:us-east-1:123456789012:function:scones-workflow-classify';
    start({
      definition: {
        StartAt: 'Prepare',
        States: {
          Prepare: { Type: 'Pass', Next: 'Classify' },
          Classify: { Type: 'Task', Resource: fn, End: true },
        },
      },
      failExecution: failIn({ state: 'Classify', error: 'Lambda.Unknown', cause: 'out of memory' }),
    });
    const sfn = runner({ historyPageSize: 1 });
    expect(await sfn.execute({ name: 'run-case-000', input: INPUT })).to.include({ failedState: 'Classify' });
    const types = fake!.calls.filter((c) => c.command === 'GetExecutionHistory');
    // One event per page: ExecutionFailed, LambdaFunctionFailed, LambdaFunctionStarted,
    // LambdaFunctionScheduled, TaskStateEntered.
    expect(types).to.have.length(5);
  });

  it('a ThrottlingException is waited out; throttled past the waits, the result stands without a state and a warning says why', async () => {
    // Prepare: two throttled answers, then the history
    start({
      throttleHistory: 2,
      failExecution: failIn({ state: 'ClassifyImage', error: 'EndpointError', cause: 'endpoint failed' }),
    });
    const sleeps: number[] = [];
    const warnings: string[] = [];
    // Act
    const result = await runner({
      sleep: async (ms) => void sleeps.push(ms),
      warn: (m) => void warnings.push(m),
    }).execute({ name: 'run-case-000', input: INPUT });
    // Assess
    expect(result.failedState).to.equal('ClassifyImage');
    expect(sleeps).to.deep.equal([1_000, 2_000]);
    expect(warnings).to.deep.equal([]);
    fake?.restore();

    // Prepare: throttled on every call
    start({
      throttleHistory: 1_000,
      failExecution: failIn({ state: 'ClassifyImage', error: 'EndpointError', cause: 'endpoint failed' }),
    });
    // Act
    const throttled = await runner({ warn: (m) => void warnings.push(m) }).execute({
      name: 'run-case-001',
      input: INPUT,
    });
    // Assess
    expect(throttled).to.include({ status: 'FAILED', error: 'EndpointError' });
    expect(throttled).to.not.have.property('failedState');
    expect(warnings).to.have.length(1);
    expect(warnings[0]).to.match(
      /^execution run-case-001: its history could not be read \(ThrottlingException: Rate exceeded\); the report counts it without a state$/,
    );
  });

  it('a succeeded execution reads no history', async () => {
    const aws = start({});
    const result = await runner().execute({ name: 'run-case-000', input: INPUT });
    expect(result.status).to.equal('SUCCEEDED');
    expect(result).to.not.have.property('failedState');
    expect(aws.calls.map((c) => c.command)).to.not.include('GetExecutionHistory');
  });
});
