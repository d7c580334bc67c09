import * as core from '@actions/core';
import cliProgress from 'cli-progress';
import { ENV } from './constants.js';

/** Progress of one long step. */
export interface Progress {
  /**
   * Advances by `n` units; `detail` replaces the status text (loss, accuracy, ...). `remaining` is the
   * most units still to come when the step may end early (early stopping's patience); the ETA uses it.
   */
  tick(n?: number, detail?: string, remaining?: number): void;
  /** Ends the step; prints the summary line. */
  done(summary?: string): void;
}

/**
 * Where stages say what they do. Logs and progress go to stderr so stdout stays free for `--json`.
 * In GitHub Actions: log groups and annotations as workflow commands on stderr, step outputs and the job
 * summary through @actions/core.
 */
export interface Reporter {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  group<T>(name: string, fn: () => Promise<T>): Promise<T>;
  progress(label: string, total: number, unit?: string): Progress;
  /** A step output in Actions (`core.setOutput`); recorded elsewhere for tests. */
  output(name: string, value: string): void;
  /** Appends Markdown to the job summary in Actions; no-op elsewhere. */
  summary(markdown: string): Promise<void>;
}

export interface ReporterOptions {
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  env?: NodeJS.ProcessEnv;
  /** Seconds between progress lines when not on a TTY. */
  plainIntervalSeconds?: number;
  now?: () => number;
}

/** Picks the reporter for the environment: Actions, an interactive terminal, or plain lines. */
export function createReporter(options: ReporterOptions = {}): Reporter {
  const env = options.env ?? process.env;
  if (env[ENV.githubActions] === 'true') return new ActionsReporter(options);
  const stream = options.stream ?? process.stderr;
  if (stream.isTTY === true && env[ENV.ci] !== 'true') return new TtyReporter(options);
  return new PlainReporter(options);
}

/** Plain lines: no escape codes, a progress line every few seconds and at 25% steps. */
export class PlainReporter implements Reporter {
  protected readonly stream: NodeJS.WritableStream;
  private readonly interval: number;
  private readonly now: () => number;
  readonly outputs = new Map<string, string>();

  constructor(options: ReporterOptions = {}) {
    this.stream = options.stream ?? process.stderr;
    this.interval = (options.plainIntervalSeconds ?? 10) * 1000;
    this.now = options.now ?? Date.now;
  }

  protected write(line: string): void {
    this.stream.write(`${line}\n`);
  }
  info(message: string): void {
    this.write(message);
  }
  warn(message: string): void {
    this.write(`warning: ${message}`);
  }
  error(message: string): void {
    this.write(`error: ${message}`);
  }
  async group<T>(name: string, fn: () => Promise<T>): Promise<T> {
    this.write(`== ${name}`);
    return fn();
  }
  output(name: string, value: string): void {
    this.outputs.set(name, value);
  }
  async summary(_markdown: string): Promise<void> {}

  progress(label: string, total: number, unit = 'items'): Progress {
    const started = this.now();
    let done = 0;
    let lastPrint = started;
    let lastQuarter = 0;
    let detail = '';
    let left: number | undefined;
    const line = () => {
      const seconds = (this.now() - started) / 1000;
      const rate = seconds > 0 ? done / seconds : 0;
      const pct = total > 0 ? Math.floor((done / total) * 100) : 100;
      const toCome = Math.min(total - done, left ?? total - done);
      const eta =
        rate > 0 && toCome > 0
          ? `, ETA ${left !== undefined && left < total - done ? '<= ' : ''}${Math.ceil(toCome / rate)}s`
          : '';
      // Slow steps (heads, epochs) read better per minute than as 0.0 per second.
      const speed =
        rate > 0 && rate < 1 ? `${(rate * 60).toFixed(1)} ${unit}/min` : `${rate.toFixed(1)} ${unit}/s`;
      return `${label}: ${done}/${total} ${unit} (${pct}%, ${speed}${eta})${detail ? ` ${detail}` : ''}`;
    };
    // Few steps that say something (an epoch's loss, an execution's outcome) get a line each; counts (images
    // read, uploads) a line per quarter or interval, however few.
    return {
      tick: (n = 1, text?: string, remaining?: number) => {
        done += n;
        if (text !== undefined) detail = text;
        left = remaining;
        const quarter = total > 0 ? Math.floor((done / total) * 4) : 4;
        const t = this.now();
        if ((text !== undefined && total <= 50) || quarter > lastQuarter || t - lastPrint >= this.interval) {
          lastQuarter = quarter;
          lastPrint = t;
          this.write(line());
        }
      },
      done: (summary?: string) => {
        const seconds = ((this.now() - started) / 1000).toFixed(1);
        this.write(`${label}: done in ${seconds}s${summary ? `: ${summary}` : ''}`);
      },
    };
  }
}

/** An interactive terminal: a live bar per long step; few slow steps (epochs) keep a line each. */
export class TtyReporter extends PlainReporter {
  override progress(label: string, total: number, unit = 'items'): Progress {
    // A bar would erase each epoch's loss and accuracy; a line per step stays on screen after training.
    if (total <= 50) return super.progress(label, total, unit);
    const started = Date.now();
    const bar = new cliProgress.SingleBar(
      {
        stream: this.stream as NodeJS.WritableStream,
        format: `${label} [{bar}] {value}/{total} ${unit} | {percentage}% | ETA {eta_formatted} | {detail}`,
        hideCursor: true,
        clearOnComplete: true,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { detail: '' });
    return {
      tick: (n = 1, detail?: string) => bar.increment(n, detail === undefined ? {} : { detail }),
      done: (summary?: string) => {
        bar.stop();
        const seconds = ((Date.now() - started) / 1000).toFixed(1);
        this.write(`${label}: done in ${seconds}s${summary ? `: ${summary}` : ''}`);
      },
    };
  }
}

/** GitHub Actions: log groups, annotations, step outputs, job summary. */
export class ActionsReporter extends PlainReporter {
  /**
   * A workflow command on the reporter's stream (stderr), which the runner reads as it reads stdout.
   * Hand-written because @actions/core writes commands to stdout, where `--json` keeps its one document.
   * The escaping is the runner's (a command's data ends at a newline).
   */
  private command(name: string, data: string): void {
    this.write(`::${name}::${data.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A')}`);
  }
  override warn(message: string): void {
    this.command('warning', message);
  }
  override error(message: string): void {
    this.command('error', message);
  }
  override async group<T>(name: string, fn: () => Promise<T>): Promise<T> {
    this.command('group', name);
    try {
      return await fn();
    } finally {
      this.command('endgroup', '');
    }
  }
  override output(name: string, value: string): void {
    super.output(name, value);
    // Without an output file @actions/core falls back to `::set-output` on stdout, which --json keeps.
    if (process.env.GITHUB_OUTPUT) core.setOutput(name, value);
  }
  override async summary(markdown: string): Promise<void> {
    // Best effort: a runner without a summary file (act, a self-made runner) must not fail a finished stage.
    // The variable is read where @actions/core reads it, the process's environment.
    if (!process.env.GITHUB_STEP_SUMMARY) return;
    try {
      await core.summary.addRaw(markdown, true).write();
    } catch (error) {
      this.warn(`job summary not written: ${(error as Error).message}`);
    }
  }
}
