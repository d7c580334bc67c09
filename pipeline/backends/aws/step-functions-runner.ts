import { DescribeExecutionCommand, type SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { ExecutionRequest, ExecutionResult, WorkflowRunner } from '../../ports.js';
import { realSleep, type Sleep } from './sagemaker-trainer.js';

/**
 * Executions of the deployed state machine: StartExecution under a deterministic name (a re-run with the
 * same input returns the existing execution instead of starting a duplicate), then DescribeExecution
 * with exponential backoff until it ends.
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
    const started = await this.client.send(
      new StartExecutionCommand({
        stateMachineArn: this.stateMachineArn,
        name: request.name,
        input: JSON.stringify(request.input),
      }),
    );
    const executionArn = started.executionArn;
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

  async close(): Promise<void> {}
}
