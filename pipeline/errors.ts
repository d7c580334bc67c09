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

/** The command line is wrong (unknown flag, bad value): exit 2. */
export class UsageError extends SconesError {
  constructor(message: string) {
    super(message, { exitCode: ExitCode.Usage });
    this.name = 'UsageError';
  }
}

/** Configuration that does not match the schema. */
export class ConfigError extends SconesError {
  constructor(message: string) {
    super(message, { exitCode: ExitCode.Usage });
    this.name = 'ConfigError';
  }
}

/** A SconesError class of its own name (exit 1), for errors callers tell apart. */
function failure(name: string) {
  return class extends SconesError {
    constructor(message: string, options: { cause?: unknown } = {}) {
      super(message, options);
      this.name = name;
    }
  };
}

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
