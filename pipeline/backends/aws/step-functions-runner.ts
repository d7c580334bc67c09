import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  type GetExecutionHistoryOutput,
  type HistoryEvent,
  type SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { SconesError, StageFailedError } from '../../errors.js';
import type { ExecutionRequest, ExecutionResult, WorkflowRunner } from '../../ports.js';
import { realSleep, type Sleep } from '../../util/time.js';

/**
 * GetExecutionHistory pages: 1000 events is the largest page the API reference allows, and 25 pages the
 * longest history a Standard execution can have (25,000 events, Step Functions Developer Guide, "Quotas").
 */
const HISTORY_PAGE_SIZE = 1000;
const HISTORY_MAX_PAGES = 25;
/** Waits after a ThrottlingException the SDK's own retries did not get past (a token bucket refills by the second). */
const HISTORY_THROTTLE_WAITS_MS = [1_000, 2_000, 4_000, 8_000];

export interface StepFunctionsRunnerOptions {
  sleep?: Sleep;
  maxPollMs?: number;
  /** How long one execution may run before the stage stops waiting for it (the three Lambdas take seconds). */
  maxWaitMs?: number;
  /** Events per GetExecutionHistory page (tests pass a few to page). */
  historyPageSize?: number;
  /** Told when the state an execution stopped in cannot be read; the execution's result stands without it. */
  warn?: (message: string) => void;
}

/**
 * Executions of the deployed state machine: StartExecution under a deterministic name (a re-run reuses
 * the existing execution with that name and input, open or closed, instead of starting a duplicate),
 * then DescribeExecution with exponential backoff until it ends, and for one that did not succeed its
 * history, for the state it stopped in.
 */
export class StepFunctionsRunner implements WorkflowRunner {
  private readonly sleep: Sleep;
  private readonly maxPollMs: number;
  private readonly maxWaitMs: number;
  private readonly historyPageSize: number;
  private readonly warn: (message: string) => void;
  constructor(
    private readonly client: SFNClient,
    private readonly stateMachineArn: string,
    options: StepFunctionsRunnerOptions = {},
  ) {
    this.sleep = options.sleep ?? realSleep;
    this.maxPollMs = options.maxPollMs ?? 10_000;
    this.maxWaitMs = options.maxWaitMs ?? 10 * 60_000;
    this.historyPageSize = options.historyPageSize ?? HISTORY_PAGE_SIZE;
    this.warn = options.warn ?? (() => {});
  }

  async execute(request: ExecutionRequest): Promise<ExecutionResult> {
    const input = JSON.stringify(request.input);
    const executionArn = await this.start(request.name, input);
    let delay = 500;
    for (let waited = 0; ; waited += delay, delay = Math.min(this.maxPollMs, delay * 2)) {
      const execution = await this.client.send(new DescribeExecutionCommand({ executionArn }));
      const status = execution.status ?? 'RUNNING';
      if (status !== 'RUNNING' && status !== 'PENDING_REDRIVE') {
        const durationMs =
          (execution.stopDate?.getTime() ?? Date.now()) - (execution.startDate?.getTime() ?? Date.now());
        const failedState =
          status === 'SUCCEEDED' ? undefined : await this.stateStoppedIn(executionArn, request.name);
        return {
          name: request.name,
          status: (['SUCCEEDED', 'TIMED_OUT', 'ABORTED'] as const).find((s) => s === status) ?? 'FAILED',
          ...(execution.output === undefined ? {} : { output: JSON.parse(execution.output) as unknown }),
          ...(execution.error === undefined ? {} : { error: execution.error }),
          ...(execution.cause === undefined ? {} : { cause: execution.cause }),
          ...(failedState === undefined ? {} : { failedState }),
          durationMs,
        };
      }
      if (waited >= this.maxWaitMs)
        throw new StageFailedError(
          `execution ${request.name} is still ${status} after ${Math.round(waited / 60_000)} min: it goes on in Step Functions; see it in the console, or stop it (aws stepfunctions stop-execution --execution-arn ${executionArn}) and run test-executions again`,
        );
      await this.sleep(delay);
    }
  }

  /**
   * StartExecution API reference: a Standard workflow's execution names are unique for 90 days; the same
   * name and input while the execution is open returns it again, but a closed one (or another input)
   * answers ExecutionAlreadyExists. A re-run of a job keeps its run id and so its names: the existing
   * execution is described and, when its input is ours, its result is reused rather than run again.
   */
  private async start(name: string, input: string): Promise<string> {
    try {
      const started = await this.client.send(
        new StartExecutionCommand({ stateMachineArn: this.stateMachineArn, name, input }),
      );
      if (started.executionArn === undefined)
        throw new SconesError(`Step Functions StartExecution returned no executionArn for ${name}`);
      return started.executionArn;
    } catch (error) {
      if ((error as Error).name !== 'ExecutionAlreadyExists') throw error;
      const executionArn = executionArnOf(this.stateMachineArn, name);
      const existing = await this.client.send(new DescribeExecutionCommand({ executionArn }));
      if (existing.input !== undefined && !sameJson(existing.input, input))
        throw new StageFailedError(
          `execution ${name} already exists on ${this.stateMachineArn} with a different input: start a new run (new --run-id) to run it again`,
        );
      return executionArn;
    }
  }

  /**
   * The state a closed execution stopped in, from its history (Step Functions API reference,
   * GetExecutionHistory and HistoryEvent): events are numbered from 1 and each names its previousEventId;
   * with reverseOrder the newest, the event that ended the execution (ExecutionFailed, ExecutionTimedOut,
   * ExecutionAborted), comes first. Its previousEventId chain leads back through the state's own events
   * (TaskFailed, TaskStarted, TaskScheduled for a service integration such as lambda:invoke;
   * LambdaFunctionFailed, LambdaFunctionStarted, LambdaFunctionScheduled for a Lambda ARN resource; retries
   * included) to the `*StateEntered` event whose stateEnteredEventDetails names the state. Older pages are
   * read only while the chain leads into them. Execution data (inputs, outputs) is not asked for. In a Map
   * or Parallel state the chain can end on a state of an iteration or branch; the report names such a
   * state as one its definition lacks.
   *
   * The state is a detail of a result that is already known: when the history cannot be read (throttled
   * past the retries, denied, or past its 90-day retention) the result stands without it, and says why.
   */
  private async stateStoppedIn(executionArn: string, name: string): Promise<string | undefined> {
    const events = new Map<number, HistoryEvent>();
    let cursor: number | undefined;
    let nextToken: string | undefined;
    try {
      for (let page = 0; page < HISTORY_MAX_PAGES; page++) {
        const history = await this.historyPage(executionArn, nextToken);
        for (const event of history.events ?? []) if (event.id !== undefined) events.set(event.id, event);
        cursor ??= history.events?.[0]?.id;
        while (cursor !== undefined) {
          const event = events.get(cursor);
          if (event === undefined) break; // on an older page
          if (event.type?.endsWith('StateEntered') === true) return event.stateEnteredEventDetails?.name;
          cursor =
            event.previousEventId === undefined || event.previousEventId < 1
              ? undefined
              : event.previousEventId;
        }
        nextToken = history.nextToken;
        if (cursor === undefined || nextToken === undefined) return undefined;
      }
      this.warn(
        `execution ${name}: no state entered within ${HISTORY_MAX_PAGES} pages of its history; the report counts it without a state`,
      );
    } catch (error) {
      const { name: errorName, message } = error as Error;
      const fix =
        errorName === 'AccessDeniedException'
          ? ' (the deploy role needs states:GetExecutionHistory: run scones bootstrap again to update its stack)'
          : '';
      this.warn(
        `execution ${name}: its history could not be read (${errorName}: ${message})${fix}; the report counts it without a state`,
      );
    }
    return undefined;
  }

  /** One page, newest first; a ThrottlingException the SDK's retries did not get past waits and tries again. */
  private async historyPage(
    executionArn: string,
    nextToken: string | undefined,
  ): Promise<GetExecutionHistoryOutput> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.client.send(
          new GetExecutionHistoryCommand({
            executionArn,
            reverseOrder: true,
            includeExecutionData: false,
            maxResults: this.historyPageSize,
            ...(nextToken === undefined ? {} : { nextToken }),
          }),
        );
      } catch (error) {
        const wait = HISTORY_THROTTLE_WAITS_MS[attempt];
        if ((error as Error).name !== 'ThrottlingException' || wait === undefined) throw error;
        await this.sleep(wait);
      }
    }
  }

  async close(): Promise<void> {}
}

/** `arn:<partition>:states:<region>:<account>:execution:<state machine>:<name>`, from the state machine's ARN. */
export function executionArnOf(stateMachineArn: string, name: string): string {
  const match = /^arn:([^:]+):states:([^:]+):(\d{12}):stateMachine:([^:]+)$/.exec(stateMachineArn);
  if (match === null) throw new SconesError(`${stateMachineArn} is not a Step Functions state machine ARN`);
  const [, partition, region, account, machine] = match;
  return `arn:${partition}:states:${region}:${account}:execution:${machine}:${name}`;
}

function sameJson(a: string, b: string): boolean {
  try {
    return JSON.stringify(JSON.parse(a)) === JSON.stringify(JSON.parse(b));
  } catch {
    return a === b;
  }
}
