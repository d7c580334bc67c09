import { existsSync, readdirSync, statSync } from 'node:fs';
import { backendModule } from '../backends/index.js';
import { type Config, loadConfig } from '../config.js';
import { createReporter, type Reporter } from '../console-reporter.js';
import { ENV, ExitCode, STAGES, type StageName } from '../constants.js';
import type { ModelHistoryEntry } from '../contracts/model-history.js';
import { InterruptedError, SconesError } from '../errors.js';
import { newManifest, newRunId } from '../manifest.js';
import { listModels, modelsTable, rollback } from '../model-history.js';
import type { Backend, WorkDirLock } from '../ports.js';
import { type CliIo, configOptions, type StageOptions } from './options.js';
import { runSummary } from './summary.js';

/** Where the backend has one (local), the work directory's lock: one process at a time owns it. */
export async function lockWorkDir(
  config: Config,
  command: string,
  runId = `(${command})`,
): Promise<WorkDirLock | undefined> {
  return (await backendModule(config)).lockWorkDir?.(config, command, runId);
}

export async function runCommand(
  command: StageName | 'run',
  options: StageOptions,
  io: CliIo,
): Promise<number> {
  let currentStage: string = command;
  const reporter = trackingStage(createReporter({ stream: io.stderr, env: io.env }), (stage) => {
    currentStage = stage;
  });
  let backend: Backend | undefined;
  let lock: WorkDirLock | undefined;
  // Ctrl-C ends the command at once with exit 130, the backend's death (its store) with exit 1: the stage in
  // flight is abandoned (its section is never written, so the manifest keeps the last completed stage),
  // and the finally below closes and unlocks.
  let interrupt: (error: Error) => void = () => {};
  const interrupted = new Promise<never>((_resolve, reject) => {
    interrupt = reject;
  });
  const onSignal = (signal: NodeJS.Signals) => {
    reporter.warn(`${signal}: stopping; the manifest keeps the last completed stage, re-run to resume`);
    interrupt(new InterruptedError(signal));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await guarded(io, reporter, { json: options.json === true, stage: () => currentStage }, () =>
      Promise.race([work(), interrupted]),
    );
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await backend?.close();
    lock?.release();
  }

  async function work(): Promise<number> {
    const { config } = loadConfig(configOptions(options, io));
    lock = await lockWorkDir(config, command, options.runId ?? '(new run)');
    backend = await (await backendModule(config)).open(config);
    // The store's death ends the command at once, whatever the stage is doing (training for minutes
    // without a request would otherwise notice only at its next one); the finally closes and unlocks.
    backend.failed?.catch((error: Error) => interrupt(error));
    // A report outside any run: on given capture files (--capture) or the live endpoint's window (--since).
    if (
      command === 'monitor-report' &&
      (config.monitor.capture !== undefined || config.monitor.since !== undefined)
    ) {
      await outsideCaptureReport(config, backend, reporter, options, io);
      return ExitCode.Ok;
    }
    const { executeStage, executeStages, resolveRun } = await import('../run.js');
    const manifest = await resolveRun(backend, config, command, options.runId);
    reporter.info(`run ${manifest.runId} on the ${config.backend} backend`);
    lock?.update(manifest.runId);
    if (command === 'run') {
      const { manifest: final, reused } = await executeStages(STAGES, {
        config,
        backend,
        reporter,
        manifest,
      });
      reporter.info(runSummary(final, config, reused));
      if (options.json === true) io.stdout.write(`${JSON.stringify(final, null, 2)}\n`);
    } else {
      const outcome = await executeStage(command, { config, backend, reporter, manifest });
      if (options.json === true) io.stdout.write(`${JSON.stringify(outcome.record, null, 2)}\n`);
    }
    return ExitCode.Ok;
  }
}

/**
 * A report on capture files from any endpoint belongs to no pipeline run: it is written under its own
 * folder (capture-reports/), no manifest is saved, so no later stage continues it and teardown
 * --keep-runs does not count it. The reports made so far are listed.
 */
async function outsideCaptureReport(
  config: Config,
  backend: Backend,
  reporter: Reporter,
  options: StageOptions,
  io: CliIo,
): Promise<void> {
  const { STAGE_IMPLEMENTATIONS } = await import('../run.js');
  const { captureReportsDir } = await import('../report/monitor.js');
  const monitorReport = await STAGE_IMPLEMENTATIONS['monitor-report']();
  const reportId = options.runId ?? newRunId();
  const manifest = newManifest(reportId, backend.name, '');
  const result = await reporter.group('monitor-report', () =>
    monitorReport({ config, backend, reporter, manifest, runId: reportId }),
  );
  reporter.info(`monitor-report done: ${result.summary}`);
  for (const [name, value] of Object.entries(result.stepOutputs ?? {})) reporter.output(name, value);
  if (result.markdown !== undefined) await reporter.summary(result.markdown);
  const dir = captureReportsDir(config.workDir);
  const reports = existsSync(dir) ? readdirSync(dir).sort() : [];
  reporter.info(`reports on outside capture in ${dir}: ${reports.join(', ')}`);
  if (options.json === true) io.stdout.write(`${JSON.stringify({ outputs: result.outputs }, null, 2)}\n`);
}

/** The reporter, telling `onStage` each stage it enters (for the error document of --json). */
function trackingStage(reporter: Reporter, onStage: (stage: string) => void): Reporter {
  // Every other method, and the state it uses, is the reporter's own, through the prototype.
  const tracking: Reporter = Object.create(reporter);
  tracking.group = (name, fn) => {
    onStage(name);
    return reporter.group(name, fn);
  };
  return tracking;
}

/**
 * The one place errors are caught: prints them and maps them to exit codes. With --json (`document.json`),
 * a failure is also a document on stdout, naming the stage it happened in.
 */
export async function guarded(
  io: CliIo,
  reporter: Reporter | undefined,
  document: { json: boolean; stage: () => string },
  body: () => Promise<number>,
): Promise<number> {
  try {
    return await body();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (reporter !== undefined) reporter.error(message);
    else io.stderr.write(`error: ${message}\n`);
    if (!(error instanceof SconesError) && io.env[ENV.debug] !== undefined && error instanceof Error)
      io.stderr.write(`${error.stack}\n`);
    const exitCode = error instanceof SconesError ? error.exitCode : ExitCode.Failure;
    if (document.json) writeErrorDocument(io, document.stage(), message, exitCode);
    return exitCode;
  }
}

/** The error document of --json on stdout: `{ "error": { "stage", "message", "exitCode" } }`. */
export function writeErrorDocument(io: CliIo, stage: string, message: string, exitCode: number): void {
  io.stdout.write(`${JSON.stringify({ error: { stage, message, exitCode } })}\n`);
}

/** `scones models`: the model history, newest first, the live one marked; reads only. */
export async function modelsCommand(options: StageOptions, io: CliIo): Promise<number> {
  return guarded(io, undefined, { json: options.json === true, stage: () => 'models' }, async () => {
    const { config } = loadConfig(configOptions(options, io));
    const backends = await backendModule(config);
    const print = (entries: ModelHistoryEntry[]) =>
      io.stdout.write(options.json === true ? `${JSON.stringify(entries, null, 2)}\n` : modelsTable(entries));
    // Reads only: a backend that keeps its state in the work directory (the one with its lock) has no
    // history before that folder exists, and opening it would create the folder and its store.
    if (backends.lockWorkDir !== undefined && absent(config.workDir)) {
      print([]);
      return ExitCode.Ok;
    }
    const backend = await backends.open(config);
    try {
      print(await listModels(backend));
      return ExitCode.Ok;
    } finally {
      await backend.close();
    }
  });
}

/** True when nothing is at `path` (a path through a file is not absent: opening it reports that, exit 2). */
function absent(path: string): boolean {
  try {
    statSync(path);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

/** `scones rollback [--to <training-id>]`: the previous (or named) model of the history goes live again. */
export async function rollbackCommand(options: StageOptions & { to?: string }, io: CliIo): Promise<number> {
  const reporter = createReporter({ stream: io.stderr, env: io.env });
  return guarded(io, reporter, { json: options.json === true, stage: () => 'rollback' }, async () => {
    const { config } = loadConfig(configOptions(options, io));
    const lock = await lockWorkDir(config, 'rollback');
    const backend = await (await backendModule(config)).open(config).catch((error: unknown) => {
      lock?.release();
      throw error;
    });
    try {
      const result = await rollback(backend, reporter, options.to === undefined ? {} : { to: options.to });
      reporter.info(
        `rollback done: ${result.wentLive.trainingId} is live${result.left === undefined ? '' : `, ${result.left} left`}`,
      );
      reporter.output('went-live', result.wentLive.trainingId);
      reporter.output('left', result.left ?? '');
      await reporter.summary(result.markdown);
      if (options.json === true)
        io.stdout.write(
          `${JSON.stringify({ wentLive: result.wentLive, left: result.left ?? null }, null, 2)}\n`,
        );
      return ExitCode.Ok;
    } finally {
      await backend.close();
      lock?.release();
    }
  });
}
