import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { Worker } from 'node:worker_threads';
import { SconesError } from '../../errors.js';

/** One deployed function as the local runtime runs it. */
export interface LocalFunctionSpec {
  functionName: string;
  arn: string;
  /** The bundled CommonJS handler (`exports.handler`). */
  handlerPath: string;
  environment: Record<string, string>;
  timeoutSeconds: number;
}

/** A failed invocation, as Lambda reports it: errorType is the error's name. */
export class LambdaInvocationError extends Error {
  constructor(
    readonly errorType: string,
    readonly errorMessage: string,
    readonly functionName: string,
  ) {
    super(errorMessage);
    // Step Functions matches Retry/Catch and reports failures by this name.
    this.name = errorType;
  }
}

// Runs inside the worker: CommonJS, so the bundle loads as Lambda loads it.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { handler } = require(workerData.handlerPath);
parentPort.on('message', async ({ id, event, requestId, deadline }) => {
  const context = {
    awsRequestId: requestId,
    functionName: workerData.functionName,
    invokedFunctionArn: workerData.arn,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
  try {
    const result = await handler(event, context);
    parentPort.postMessage({ id, ok: true, result: result === undefined ? null : result });
  } catch (error) {
    parentPort.postMessage({ id, ok: false, errorType: (error && error.name) || 'Error', errorMessage: (error && error.message) || String(error) });
  }
});
`;

/**
 * The deployed functions on this machine: each bundle in its own worker thread with its own environment
 * (as separate Lambda functions have), so one function's variables never leak into another's.
 */
export class LocalLambdaRuntime {
  private readonly workers = new Map<string, { spec: LocalFunctionSpec; worker: Worker }>();
  private readonly pending = new Map<
    string,
    { resolve: (value: unknown) => void; reject: (error: Error) => void; timer: NodeJS.Timeout }
  >();

  constructor(
    functions: readonly LocalFunctionSpec[],
    baseEnvironment: Record<string, string>,
    private readonly onLog: (functionName: string, line: string) => void = () => {},
  ) {
    for (const spec of functions) {
      const worker = new Worker(WORKER_SOURCE, {
        eval: true,
        env: { ...baseEnvironment, ...spec.environment, AWS_LAMBDA_FUNCTION_NAME: spec.functionName },
        workerData: { handlerPath: spec.handlerPath, functionName: spec.functionName, arn: spec.arn },
        stdout: true,
        stderr: true,
      });
      for (const stream of [worker.stdout, worker.stderr])
        createInterface({ input: stream }).on('line', (line) => {
          if (line !== '') this.onLog(spec.functionName, line);
        });
      worker.on(
        'message',
        (message: {
          id: string;
          ok: boolean;
          result?: unknown;
          errorType?: string;
          errorMessage?: string;
        }) => {
          const call = this.pending.get(message.id);
          if (call === undefined) return;
          this.pending.delete(message.id);
          clearTimeout(call.timer);
          if (message.ok) call.resolve(message.result);
          else
            call.reject(
              new LambdaInvocationError(
                message.errorType ?? 'Error',
                message.errorMessage ?? '',
                spec.functionName,
              ),
            );
        },
      );
      worker.on('error', (error) => this.failAll(spec.functionName, error));
      worker.unref();
      this.workers.set(spec.arn, { spec, worker });
      this.workers.set(spec.functionName, { spec, worker });
    }
  }

  /** Invokes a function by name or ARN (a `:$LATEST` or version qualifier is ignored). */
  invoke(nameOrArn: string, event: unknown): Promise<unknown> {
    const key = nameOrArn.replace(/:(\$LATEST|\d+)$/, '');
    const entry = this.workers.get(key) ?? this.workers.get(key.split(':').pop() ?? key);
    if (entry === undefined)
      return Promise.reject(
        new SconesError(`no local function ${nameOrArn}: is it declared in the template?`),
      );
    const id = randomUUID();
    const timeoutMs = entry.spec.timeoutSeconds * 1000;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(
          new LambdaInvocationError(
            'Sandbox.Timedout',
            `Task timed out after ${entry.spec.timeoutSeconds} seconds`,
            entry.spec.functionName,
          ),
        );
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      entry.worker.postMessage({ id, event, requestId: randomUUID(), deadline: Date.now() + timeoutMs });
    });
  }

  private failAll(functionName: string, error: Error): void {
    for (const [id, call] of this.pending) {
      clearTimeout(call.timer);
      call.reject(
        new LambdaInvocationError(
          'Runtime.ExitError',
          `${functionName} crashed: ${error.message}`,
          functionName,
        ),
      );
      this.pending.delete(id);
    }
  }

  async stop(): Promise<void> {
    const unique = new Set([...this.workers.values()].map((w) => w.worker));
    await Promise.all([...unique].map((worker) => worker.terminate()));
    this.workers.clear();
  }
}
