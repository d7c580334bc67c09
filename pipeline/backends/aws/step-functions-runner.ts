import { DescribeExecutionCommand, type SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { SconesError, StageFailedError } from '../../errors.js';
import type { ExecutionRequest, ExecutionResult, WorkflowRunner } from '../../ports.js';
import { realSleep, type Sleep } from '../../util/time.js';

/**
 * Executions of the deployed state machine: StartExecution under a deterministic name (a re-run reuses
 * the existing execution with that name and input, open or closed, instead of starting a duplicate),
 * then DescribeExecution with exponential backoff until it ends.
 */
export class StepFunctionsRunner implements WorkflowRunner {
  private readonly sleep: Sleep;
  constructor(
    private readonly client: SFNClient,
    private readonly stateMachineArn: string,
    options: { sleep?: Sleep; maxPollMs?: number } = {},
  ) {
    this.sleep = options.sleep ?? realSleep;
    this.maxPollMs = options.maxPollMs ?? 10_000;
  }
  private readonly maxPollMs: number;

  async execute(request: ExecutionRequest): Promise<ExecutionResult> {
    const input = JSON.stringify(request.input);
    const executionArn = await this.start(request.name, input);
    let delay = 500;
    for (;;) {
      const execution = await this.client.send(new DescribeExecutionCommand({ executionArn }));
      const status = execution.status ?? 'RUNNING';
      if (status !== 'RUNNING' && status !== 'PENDING_REDRIVE') {
        const durationMs =
          (execution.stopDate?.getTime() ?? Date.now()) - (execution.startDate?.getTime() ?? Date.now());
        return {
          name: request.name,
          status:
            status === 'SUCCEEDED'
              ? 'SUCCEEDED'
              : status === 'TIMED_OUT'
                ? 'TIMED_OUT'
                : status === 'ABORTED'
                  ? 'ABORTED'
                  : 'FAILED',
          ...(execution.output === undefined ? {} : { output: JSON.parse(execution.output) as unknown }),
          ...(execution.error === undefined ? {} : { error: execution.error }),
          ...(execution.cause === undefined ? {} : { cause: execution.cause }),
          durationMs,
        };
      }
      await this.sleep(delay);
      delay = Math.min(this.maxPollMs, delay * 2);
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
