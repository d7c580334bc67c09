import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import {
  LambdaInvocationError,
  type LocalLambdaRuntime,
} from '../../pipeline/backends/local/lambda-runtime.js';
import { LocalStateMachineRunner } from '../../pipeline/backends/local/state-machine-runner.js';
import { STATE_MACHINE_DEFINITION, substituteDefinition } from '../../pipeline/templates/template.js';

const arn = (name: string) => `arn:aws:lambda:us-east-1:123456789012:function:scones-workflow-${name}`;
const FUNCTIONS = { serialize: arn('serialize'), classify: arn('classify'), filter: arn('filter') };

/** The template's definition with its DefinitionSubstitutions, as the local deployment records it. */
function definition(change: (asl: { TimeoutSeconds?: number }) => void = () => {}): string {
  const asl = JSON.parse(
    substituteDefinition(readFileSync(STATE_MACHINE_DEFINITION, 'utf8'), {
      Partition: 'aws',
      SerializeFunctionArn: FUNCTIONS.serialize,
      ClassifyFunctionArn: FUNCTIONS.classify,
      FilterFunctionArn: FUNCTIONS.filter,
    }),
  ) as { TimeoutSeconds?: number };
  change(asl);
  return JSON.stringify(asl);
}

/** Functions that answer as the three Lambdas do, with `fail` deciding which one throws (and how). */
function runtime(fail: (fn: string, attempt: number) => Error | 'hang' | undefined): LocalLambdaRuntime {
  const attempts = new Map<string, number>();
  return {
    async invoke(fn: string, event: unknown) {
      const attempt = (attempts.get(fn) ?? 0) + 1;
      attempts.set(fn, attempt);
      const failure = fail(fn, attempt);
      if (failure === 'hang') return new Promise((resolve) => setTimeout(resolve, 3_000));
      if (failure !== undefined) throw failure;
      const body = { image_data: 'aW1n', s3_bucket: 'b', s3_key: 'k', inferences: [0.97, 0.03] };
      return fn === FUNCTIONS.filter
        ? { statusCode: 200, body: (event as { body?: unknown }).body ?? event }
        : { statusCode: 200, body };
    },
  } as unknown as LocalLambdaRuntime;
}

describe('local state machine runner: the state an execution stopped in', function () {
  this.timeout(20_000);
  const input = { s3_bucket: 'b', s3_key: 'k', image_data: '' };

  it('a Lambda error in the second state, after a retried first state, is placed on the second state', async () => {
    // Prepare: serialize is throttled once (the definition retries it), classify fails for good
    const runner = new LocalStateMachineRunner(
      definition(),
      runtime((fn, attempt) => {
        if (fn === FUNCTIONS.serialize && attempt === 1)
          return new LambdaInvocationError('Lambda.TooManyRequestsException', 'Rate exceeded', fn);
        if (fn === FUNCTIONS.classify)
          return new LambdaInvocationError('EndpointError', 'endpoint failed', fn);
        return undefined;
      }),
    );
    // Act
    const outcome = await runner.execute(input, 'case-1');
    // Assess
    expect(outcome).to.include({ status: 'FAILED', error: 'EndpointError', failedState: 'ClassifyImage' });
  });

  it('the filter raising ThresholdConfidenceNotMet stops in the filter state; a success names no state', async () => {
    const filtered = await new LocalStateMachineRunner(
      definition(),
      runtime((fn) =>
        fn === FUNCTIONS.filter
          ? new LambdaInvocationError('ThresholdConfidenceNotMet', 'top confidence 0.6', fn)
          : undefined,
      ),
    ).execute(input, 'case-2');
    expect(filtered).to.include({
      status: 'FAILED',
      error: 'ThresholdConfidenceNotMet',
      failedState: 'FilterInferences',
    });
    const passed = await new LocalStateMachineRunner(
      definition(),
      runtime(() => undefined),
    ).execute(input, 'case-3');
    expect(passed.status).to.equal('SUCCEEDED');
    expect(passed).to.not.have.property('failedState');
  });

  it('a timeout is placed on the state that was running', async () => {
    const runner = new LocalStateMachineRunner(
      definition((asl) => {
        asl.TimeoutSeconds = 1;
      }),
      runtime((fn) => (fn === FUNCTIONS.classify ? 'hang' : undefined)),
    );
    const outcome = await runner.execute(input, 'case-4');
    expect(outcome).to.include({ status: 'TIMED_OUT', failedState: 'ClassifyImage' });
  });
});
