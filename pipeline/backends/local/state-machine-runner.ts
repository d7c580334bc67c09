import {
  ExecutionError,
  ExecutionTimeoutError,
  StateMachine,
  type StateMachineDefinition,
} from 'aws-local-stepfunctions';
import { SconesError } from '../../errors.js';
import type { ExecutionResult } from '../../ports.js';
import type { LocalLambdaRuntime } from './lambda-runtime.js';

/** An execution's result as the WorkflowRunner port reports it, before the caller names it. */
type ExecutionOutcome = Omit<ExecutionResult, 'name'>;

type EventLogs = ReturnType<StateMachine['run']>['eventLogs'];
type EventLog = EventLogs extends AsyncGenerator<infer Event> ? Event : never;

/** The events that end a whole execution (a Map iteration's or a Parallel branch's are renamed when forwarded). */
const EXECUTION_ENDS = new Set([
  'ExecutionSucceeded',
  'ExecutionFailed',
  'ExecutionTimeout',
  'ExecutionAborted',
]);

/**
 * The top-level state an ended execution was in: the last one entered before the execution's end event, as
 * the Step Functions console marks it: a state that throws was entered last (its retries run it again
 * without entering it anew), a caught error enters the Catch state, and a timeout stops the state it was in. The interpreter queues every
 * event as it happens and never closes its log, so this reads the queue up to the end event and stops there,
 * or as soon as nothing more is queued. Events of Map iterations carry an index and are skipped.
 */
async function stateStoppedIn(events: EventLogs, states: ReadonlySet<string>): Promise<string | undefined> {
  let entered: string | undefined;
  for (;;) {
    const next = await Promise.race([
      events.next(),
      new Promise<undefined>((resolve) => setImmediate(() => resolve(undefined))),
    ]);
    if (next === undefined || next.done === true) return entered;
    const event: EventLog = next.value;
    if (event.type === 'StateEntered' && event.index === undefined && states.has(event.state.name))
      entered = event.state.name;
    if (EXECUTION_ENDS.has(event.type)) return entered;
  }
}

const LAMBDA_INVOKE = /^arn:aws[a-z-]*:states:::lambda:invoke(\.waitForTaskToken)?$/;
const LAMBDA_ARN = /^arn:aws[a-z-]*:lambda:[^:]+:\d+:function:[^:]+(:.+)?$/;

interface TaskState {
  Type: string;
  Resource?: string;
  Parameters?: Record<string, unknown>;
  States?: Record<string, TaskState>;
  QueryLanguage?: string;
}

/**
 * Runs a state machine definition with a real ASL interpreter, every Lambda Task mapped to the local
 * runtime. The `arn:aws:states:::lambda:invoke` integration is emulated as AWS does it: the task's
 * Parameters give FunctionName and Payload, and the result is `{ExecutedVersion, Payload, StatusCode}`,
 * which the definition's `OutputPath: $.Payload` unwraps. Direct Lambda ARNs get the bare result.
 */
export class LocalStateMachineRunner {
  private readonly machine: StateMachine;
  private readonly handlers: Record<string, (input: unknown) => Promise<unknown>>;
  private readonly states: ReadonlySet<string>;

  constructor(definitionText: string, runtime: LocalLambdaRuntime) {
    let definition: StateMachineDefinition & { QueryLanguage?: string; States: Record<string, TaskState> };
    try {
      definition = JSON.parse(definitionText);
    } catch (error) {
      throw new SconesError(`the state machine definition is not JSON: ${(error as Error).message}`);
    }
    const jsonata =
      definition.QueryLanguage === 'JSONata' ||
      Object.values(definition.States).some((s) => s.QueryLanguage === 'JSONata');
    if (jsonata)
      throw new SconesError(
        'unsupported query language: the definition uses JSONata, which the local runner does not interpret (use JSONPath)',
      );
    this.states = new Set(Object.keys(definition.States));
    this.handlers = {};
    for (const [name, state] of Object.entries(definition.States)) {
      if (state.Type !== 'Task' || state.Resource === undefined) continue;
      if (LAMBDA_INVOKE.test(state.Resource)) {
        this.handlers[name] = async (input) => {
          const parameters = input as { FunctionName?: string; Payload?: unknown };
          if (typeof parameters.FunctionName !== 'string')
            throw new SconesError(`state ${name}: lambda:invoke needs Parameters.FunctionName`);
          const payload = await runtime.invoke(parameters.FunctionName, parameters.Payload ?? {});
          return { ExecutedVersion: '$LATEST', Payload: payload, StatusCode: 200 };
        };
      } else if (LAMBDA_ARN.test(state.Resource)) {
        const resource = state.Resource;
        this.handlers[name] = (input) => runtime.invoke(resource, input);
      } else {
        throw new SconesError(
          `state ${name}: resource ${state.Resource} is not a Lambda function the local runner can run`,
        );
      }
    }
    // The definition is validated (asl-validator) by the tests of the file it is deployed from; validating
    // it again at every start cost about a second of each test-executions run (bench/cli-start.ts profile).
    this.machine = new StateMachine(definition, { validationOptions: { noValidate: true } });
  }

  /** Runs one execution to its end. */
  async execute(input: unknown, executionName: string): Promise<ExecutionOutcome> {
    const started = Date.now();
    const execution = this.machine.run(input as never, {
      overrides: {
        taskResourceLocalHandlers: this.handlers as never,
        // Retries wait a few milliseconds locally instead of IntervalSeconds x BackoffRate.
        retryIntervalOverrides: Object.fromEntries(Object.keys(this.handlers).map((name) => [name, 5])),
      },
      context: { Execution: { Id: executionName, Name: executionName } },
    });
    try {
      const output = await execution.result;
      return { status: 'SUCCEEDED', output, durationMs: Date.now() - started };
    } catch (error) {
      const durationMs = Date.now() - started;
      if (!(error instanceof ExecutionTimeoutError || error instanceof ExecutionError)) throw error;
      const failedState = await stateStoppedIn(execution.eventLogs, this.states);
      const where = failedState === undefined ? {} : { failedState };
      if (error instanceof ExecutionTimeoutError)
        return { status: 'TIMED_OUT', error: 'States.Timeout', ...where, durationMs };
      const caught = (error as Error & { cause?: Error }).cause;
      return {
        status: 'FAILED',
        error: caught?.name ?? 'States.Runtime',
        cause: caught?.message ?? error.message,
        ...where,
        durationMs,
      };
    }
  }
}
