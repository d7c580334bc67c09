import { ExitCode } from './constants.js';

/** Base of every error the CLI reports by itself: a message that says what failed and what to do. */
export class SconesError extends Error {
  readonly exitCode: number;
  constructor(message: string, options: { cause?: unknown; exitCode?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SconesError';
    this.exitCode = options.exitCode ?? ExitCode.Failure;
  }
}

/** A SconesError class of its own name and exit code, for errors callers tell apart. */
function failure(name: string, exitCode: number = ExitCode.Failure) {
  return class extends SconesError {
    constructor(message: string, options: { cause?: unknown } = {}) {
      super(message, { ...options, exitCode });
      this.name = name;
    }
  };
}

/** The command line is wrong (unknown flag, bad value): exit 2. */
export const UsageError = failure('UsageError', ExitCode.Usage);
/** Configuration that does not match the schema: exit 2. */
export const ConfigError = failure('ConfigError', ExitCode.Usage);
/** Input data the stage cannot use: names the input (file, line) and the fix. */
export const InputError = failure('InputError');
/** A download that could not complete (offline, HTTP error, checksum). */
export const DownloadError = failure('DownloadError');
/** The stage ran and its outcome is a failure (rejected model, failed job, failed executions). */
export const StageFailedError = failure('StageFailedError');

/** The run was interrupted (Ctrl-C); the manifest keeps the last completed stage. */
export class InterruptedError extends SconesError {
  constructor(signal: string) {
    super(`interrupted by ${signal}; the manifest keeps the last completed stage, re-run to resume`, {
      exitCode: ExitCode.Interrupted,
    });
    this.name = 'InterruptedError';
  }
}

/** The message of any thrown value, for wrapping with context. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
