import { DescribeExecutionCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { expect } from 'chai';
import { StepFunctionsRunner } from '../../pipeline/backends/aws/step-functions-runner.js';
import {
  classifyOutcome,
  drawTestCases,
  executionName,
  summarize,
} from '../../pipeline/stages/test-executions.js';

const ARN = 'arn:aws:states:us-east-1:123456789012:stateMachine:scones-workflow-workflow';
const EXECUTION = 'arn:aws:states:us-east-1:123456789012:execution:scones-workflow-workflow:run-case-000';

describe('aws workflow runner: Step Functions (aws-sdk-client-mock)', () => {
  let sfn: AwsClientStub<SFNClient>;
  before(() => {
    sfn = mockClient(SFNClient);
  });
  beforeEach(() => sfn.reset());
  after(() => sfn.restore());

  it('starts under the given name, polls with growing backoff, returns the output', async () => {
    const sleeps: number[] = [];
    sfn.on(StartExecutionCommand).resolves({ executionArn: EXECUTION, startDate: new Date() });
    sfn
      .on(DescribeExecutionCommand)
      .resolvesOnce({
        executionArn: EXECUTION,
        stateMachineArn: ARN,
        status: 'RUNNING',
        startDate: new Date(0),
      })
      .resolvesOnce({
        executionArn: EXECUTION,
        stateMachineArn: ARN,
        status: 'RUNNING',
        startDate: new Date(0),
      })
      .resolves({
        executionArn: EXECUTION,
        stateMachineArn: ARN,
        status: 'SUCCEEDED',
        startDate: new Date(0),
        stopDate: new Date(1500),
        output: '{"statusCode":200,"body":{"inferences":[0.96,0.04]}}',
      });
    const runner = new StepFunctionsRunner(new SFNClient({ region: 'us-east-1' }), ARN, {
      sleep: async (ms) => void sleeps.push(ms),
    });
    const result = await runner.execute({ name: 'run-case-000', input: { s3_key: 'k' } });
    expect(sfn.commandCalls(StartExecutionCommand)[0]!.args[0].input).to.deep.equal({
      stateMachineArn: ARN,
      name: 'run-case-000',
      input: '{"s3_key":"k"}',
    });
    expect(sleeps).to.deep.equal([500, 1000]);
    expect(result).to.deep.include({
      status: 'SUCCEEDED',
      durationMs: 1500,
      output: { statusCode: 200, body: { inferences: [0.96, 0.04] } },
    });
  });

  it('reads the failure error and cause, and classifies low confidence apart from errors', async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: EXECUTION, startDate: new Date() });
    sfn.on(DescribeExecutionCommand).resolves({
      executionArn: EXECUTION,
      stateMachineArn: ARN,
      status: 'FAILED',
      startDate: new Date(0),
      stopDate: new Date(10),
      error: 'ThresholdConfidenceNotMet',
      cause:
        '{"errorMessage":"THRESHOLD_CONFIDENCE_NOT_MET: top confidence 0.7 is below the threshold 0.93"}',
    });
    const runner = new StepFunctionsRunner(new SFNClient({ region: 'us-east-1' }), ARN, {
      sleep: async () => {},
    });
    const result = await runner.execute({ name: 'n', input: {} });
    expect(result).to.include({ status: 'FAILED', error: 'ThresholdConfidenceNotMet' });
    const testCase = {
      index: 0,
      name: 'n',
      label: 1,
      input: { image_data: '' as const, s3_bucket: 'b', s3_key: 'k' },
    };
    expect(classifyOutcome(testCase, result).outcome).to.equal('FILTERED');
    expect(
      classifyOutcome(testCase, { ...result, error: 'States.Timeout', status: 'TIMED_OUT' }).outcome,
    ).to.equal('ERROR');
  });
});

describe('test cases', () => {
  const entries = [
    ...Array.from({ length: 50 }, (_, i) => ({ label: 0, path: `b${i}.png` })),
    ...Array.from({ length: 10 }, (_, i) => ({ label: 1, path: `m${i}.png` })),
  ];
  const draw = (count: number, seed: number) =>
    drawTestCases({ entries, count, seed, bucket: 'bk', prefix: 'datasets/d/', runId: 'run' });

  it('are seeded, stratified by class, and never repeat an image', () => {
    const cases = draw(30, 11);
    expect(draw(30, 11)).to.deep.equal(cases);
    expect(draw(30, 12)).to.not.deep.equal(cases);
    expect(new Set(cases.map((c) => c.input.s3_key)).size).to.equal(30);
    expect(cases.filter((c) => c.label === 1)).to.have.length(10);
    const twenty = draw(20, 11);
    expect(twenty.filter((c) => c.label === 0)).to.have.length(10);
    expect(cases[0]!.input).to.deep.equal({
      image_data: '',
      s3_bucket: 'bk',
      s3_key: cases[0]!.input.s3_key,
    });
    expect(cases[0]!.input.s3_key).to.match(/^datasets\/d\/test\/[bm]\d+\.png$/);
    expect(draw(500, 1)).to.have.length(60);
  });

  it('have execution names unique per run and case, within Step Functions rules', () => {
    expect(executionName('20261123T100000Z-abcd', 7)).to.equal('20261123T100000Z-abcd-case-007');
    expect(executionName('x'.repeat(200), 1)).to.have.length(80);
    expect(executionName('run/with:odd chars', 1)).to.match(/^[A-Za-z0-9_-]+$/);
  });

  it('summarize counts outcomes and the passed cases with a wrong class, and reports no accuracy (the monitor report owns it)', () => {
    const summary = summarize([
      {
        index: 0,
        name: 'a',
        s3Key: 'a',
        label: 0,
        outcome: 'SUCCEEDED',
        predicted: 0,
        confidence: 0.99,
        durationMs: 10,
      },
      {
        index: 1,
        name: 'b',
        s3Key: 'b',
        label: 1,
        outcome: 'SUCCEEDED',
        predicted: 0,
        confidence: 0.95,
        durationMs: 30,
      },
      { index: 2, name: 'c', s3Key: 'c', label: 1, outcome: 'FILTERED', durationMs: 20 },
      { index: 3, name: 'd', s3Key: 'd', label: 0, outcome: 'ERROR', durationMs: 40 },
    ]);
    expect(summary).to.deep.include({
      total: 4,
      succeeded: 2,
      filtered: 1,
      errors: 1,
      passedButWrong: 1,
      filteredShare: 0.25,
    });
    // An accuracy over the confident cases only would flatter the model.
    expect(summary).to.not.have.property('accuracy');
    expect(summary.durationMs).to.deep.equal({ p50: 20, max: 40, total: 100 });
  });
});
