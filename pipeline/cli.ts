import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { stringify as toYaml } from 'yaml';
import { backendModule } from './backends/index.js';
import { type Config, loadConfig, parseScalar } from './config.js';
import { BACKENDS, ENV, ExitCode, FLAG_KEYS, type FlagName, STAGES, type StageName } from './constants.js';
import { InterruptedError, SconesError, UsageError } from './errors.js';
import { isValidRunId, type Manifest, newManifest, newRunId, stageSection } from './manifest.js';
import type { Backend, WorkDirLock } from './ports.js';
import { createReporter, type Reporter } from './reporter.js';
import { executeStage, executeStages, resolveRun } from './run.js';
import { captureReportsDir, monitorReport } from './stages/monitor-report.js';

/** Where the CLI reads and writes; tests pass their own. */
export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Where confirmations are read; only a terminal (isTTY) is asked. */
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean };
}

interface CommonOptions {
  backend?: string;
  runId?: string;
  config?: string;
  json?: boolean;
  set: string[];
}
type StageOptions = CommonOptions & Partial<Record<FlagName, string | boolean>>;

const STAGE_HELP: Record<StageName, string> = {
  'stage-data': 'stage the dataset (CIFAR-100, an images folder, or synthetic) into the artifact bucket',
  train: 'train the classifier on the staged dataset (TensorFlow.js locally, SageMaker on aws)',
  evaluate:
    'score the trained model once on the held-out test split (locally in process, Batch Transform on aws)',
  gate: 'pass the model only if accurate enough and not worse than the deployed champion',
  deploy: 'deploy the Lambdas, state machine and endpoint (CloudFormation on aws, local servers locally)',
  'test-executions': 'run the state machine on test images and classify the outcomes',
  'monitor-report': "report on the endpoint's captured data: statistics, drift, charts",
};

/** The stage flags each command accepts. */
const STAGE_FLAGS: Record<StageName | 'run', FlagName[]> = {
  'stage-data': ['source'],
  train: ['epochs', 'reuseLastModel'],
  evaluate: [],
  gate: ['minAccuracy', 'maxRegression', 'force'],
  deploy: ['threshold', 'preview'],
  'test-executions': ['count'],
  'monitor-report': ['capture'],
  run: ['source', 'epochs', 'reuseLastModel', 'minAccuracy', 'maxRegression', 'force', 'threshold', 'count'],
};

const NUMERIC_FLAGS: ReadonlySet<FlagName> = new Set([
  'epochs',
  'minAccuracy',
  'maxRegression',
  'threshold',
  'count',
]);

function flagOption(flag: FlagName): Option {
  switch (flag) {
    case 'source':
      return new Option('--source <source>', 'data source: cifar100, synthetic, or images:DIR');
    case 'epochs':
      return new Option('--epochs <n>', 'maximum training epochs').argParser(
        wholeNumberAtLeast(1, '--epochs'),
      );
    case 'reuseLastModel':
      return new Option(
        '--reuse-last-model',
        'skip training: reuse the newest completed model for this dataset',
      );
    case 'minAccuracy':
      return new Option('--min-accuracy <x>', 'gate: minimum held-out test accuracy (0-1)').argParser(
        fraction('--min-accuracy'),
      );
    case 'maxRegression':
      return new Option(
        '--max-regression <x>',
        'gate: allowed accuracy drop against the champion (0-1)',
      ).argParser(fraction('--max-regression'));
    case 'force':
      return new Option('--force', 'gate: deploy even if the gate rejects the model (logged)');
    case 'threshold':
      return new Option('--threshold <x>', 'confidence threshold of the filter Lambda (0-1)').argParser(
        fraction('--threshold'),
      );
    case 'preview':
      return new Option(
        '--preview',
        'deploy: make the change set, print it as Markdown, delete it; deploy nothing',
      );
    case 'capture':
      return new Option(
        '--capture <path>',
        'report on capture files from any endpoint: a folder, or an s3:// prefix',
      );
    case 'count':
      return new Option('--count <n>', 'number of test executions').argParser(
        wholeNumberAtLeast(1, '--count'),
      );
  }
}

/** Asks on a terminal; says so when there is no one to ask (a pipe, CI). */
async function confirm(io: CliIo, question: string): Promise<'yes' | 'no' | 'no terminal'> {
  const input = io.stdin ?? process.stdin;
  if (input.isTTY !== true) return 'no terminal';
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input, output: io.stderr, terminal: false });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim()) ? 'yes' : 'no';
  } finally {
    rl.close();
  }
}

function runIdOption(value: string): string {
  if (!isValidRunId(value))
    throw new InvalidArgumentError(
      `--run-id ${JSON.stringify(value)} is not valid: use letters, digits, '.', '_' and '-'`,
    );
  return value;
}

/** The package's version, for --version, from the package.json beside the sources (no build step copies it). */
function packageVersion(): string {
  const text = readFileSync(new URL('../package.json', import.meta.url), 'utf8');
  return String((JSON.parse(text) as { version?: unknown }).version);
}

/** A parser for a flag that takes a whole number of at least `minimum`. */
function wholeNumberAtLeast(minimum: number, flag: string) {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < minimum)
      throw new InvalidArgumentError(`${flag} takes a whole number >= ${minimum}, not "${value}"`);
    return value;
  };
}
function fraction(flag: string) {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < 0 || n > 1)
      throw new InvalidArgumentError(`${flag} takes a number from 0 to 1, not "${value}"`);
    return value;
  };
}

function withCommonOptions(command: Command): Command {
  return command
    .addOption(new Option('--backend <name>', 'where stages run').choices(BACKENDS))
    .addOption(
      new Option(
        '--run-id <id>',
        'run to use; stage-data and run start a new one without it, other stages continue the newest',
      ).argParser(runIdOption),
    )
    .option('--config <file>', 'configuration file (default: scones.config.yaml if present)')
    .option('--json', "print the result (the stage's manifest section) as JSON on stdout; logs go to stderr")
    .option(
      '--set <key=value>',
      'set any configuration key, e.g. --set train.batchSize=64 (repeatable)',
      collect,
      [],
    );
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Configuration overrides from flags: --set pairs first, then the named stage flags. */
export function overridesFromOptions(options: StageOptions): Record<string, unknown> {
  // No prototype: a `--set __proto__=...` key stays a plain key for loadConfig to refuse.
  const overrides: Record<string, unknown> = Object.create(null);
  for (const pair of options.set) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--set ${pair}: expected key=value, e.g. --set gate.minAccuracy=0.9`);
    overrides[pair.slice(0, eq)] = parseScalar(pair.slice(eq + 1));
  }
  if (options.backend !== undefined) overrides.backend = options.backend;
  for (const [flag, key] of Object.entries(FLAG_KEYS) as [FlagName, string][]) {
    const value = options[flag];
    if (value === undefined) continue;
    overrides[key] = typeof value === 'string' && NUMERIC_FLAGS.has(flag) ? Number(value) : value;
  }
  return overrides;
}

/** Runs the CLI and returns the exit code; never calls process.exit itself. */
export async function main(argv: readonly string[], io: CliIo = defaultIo()): Promise<number> {
  let exitCode: number = ExitCode.Ok;
  const program = createProgram(io, (code) => {
    exitCode = code;
  });
  if (argv.length === 0) {
    // No command is a usage error: the help goes where errors go, and scripts see exit 2.
    program.outputHelp({ error: true });
    return ExitCode.Usage;
  }
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      if (['commander.helpDisplayed', 'commander.help', 'commander.version'].includes(error.code))
        return ExitCode.Ok;
      return ExitCode.Usage;
    }
    throw error;
  }
  return exitCode;
}

/** The command tree (also read by the workflow test, to check every command and flag the workflows use). */
export function createProgram(io: CliIo, setExit: (code: number) => void): Command {
  const program = new Command('scones')
    .description('Train, gate, deploy, exercise and monitor the Scones Unlimited image classifier')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    })
    .showHelpAfterError('(run with --help for usage)')
    .version(packageVersion(), '-V, --version', 'print the version of scones');

  for (const stage of STAGES) {
    const command = withCommonOptions(program.command(stage).description(STAGE_HELP[stage]));
    for (const flag of STAGE_FLAGS[stage]) command.addOption(flagOption(flag));
    command.action(async (options: StageOptions) => {
      setExit(await runCommand(stage, options, io));
    });
  }
  const run = withCommonOptions(
    program.command('run').description('run every stage in order under one run id'),
  );
  for (const flag of STAGE_FLAGS.run) run.addOption(flagOption(flag));
  run.action(async (options: StageOptions) => {
    setExit(await runCommand('run', options, io));
  });
  withCommonOptions(
    program.command('config').description('print the effective configuration and where it came from'),
  ).action(async (options: StageOptions) => {
    setExit(
      await guarded(io, undefined, { json: options.json === true, stage: () => 'config' }, async () => {
        const { config, sources } = loadConfig(configOptions(options, io));
        const { origins, ignoredEnv } = sources;
        if (options.json === true)
          io.stdout.write(
            `${JSON.stringify({ config, origins, ignoredEnvironment: ignoredEnv }, null, 2)}\n`,
          );
        else {
          io.stdout.write(toYaml(config));
          const set = Object.entries(origins).filter(([, origin]) => origin !== 'default');
          io.stderr.write(
            `# set outside the defaults: ${set.length === 0 ? 'nothing' : set.map(([k, o]) => `${k} (${o})`).join(', ')}\n`,
          );
          if (ignoredEnv.length > 0)
            io.stderr.write(`# ignored (not configuration keys): ${ignoredEnv.join(', ')}\n`);
        }
        return ExitCode.Ok;
      }),
    );
  });
  withCommonOptions(
    program.command('teardown').description('remove what runs left deployed or stored (asks first)'),
  )
    .option('--yes', 'do not ask for confirmation')
    .option(
      '--keep-runs <n>',
      'local: keep the newest N runs and remove the others (the deployment stays unless --include-deployment)',
      wholeNumberAtLeast(0, '--keep-runs'),
    )
    .option('--include-deployment', 'with --keep-runs: also remove the local deployment')
    .option('--include-bootstrap', 'aws: also delete the bootstrap stack (the bucket is retained)')
    .action(
      async (
        options: StageOptions & {
          yes?: boolean;
          keepRuns?: string;
          includeBootstrap?: boolean;
          includeDeployment?: boolean;
        },
      ) => {
        setExit(
          await guarded(io, undefined, { json: options.json === true, stage: () => 'teardown' }, async () => {
            const { config } = loadConfig(configOptions(options, io));
            const reporter = createReporter({ stream: io.stderr, env: io.env });
            const plan = {
              ...(options.keepRuns === undefined ? {} : { keepRuns: Number(options.keepRuns) }),
              ...(options.includeBootstrap === true ? { includeBootstrap: true } : {}),
              // Pruning runs leaves the endpoint up unless asked; a plain teardown removes it.
              deployment: options.keepRuns === undefined || options.includeDeployment === true,
            };
            const backends = backendModule(config);
            const targets = backends.teardownPlan(config, plan);
            const listed = `  - ${targets.join('\n  - ')}`;
            if (targets.length === 0) {
              reporter.info('nothing to remove');
              return ExitCode.Ok;
            }
            if (options.yes !== true) {
              const answer = await confirm(io, `This removes:\n${listed}\nContinue? [y/N] `);
              if (answer === 'no terminal')
                throw new UsageError(
                  `teardown would remove:\n${listed}\nno terminal to ask: pass --yes to remove them`,
                );
              if (answer === 'no') {
                reporter.info('nothing removed');
                return ExitCode.Ok;
              }
            }
            const lock = lockWorkDir(config, 'teardown');
            try {
              await backends.teardown(config, plan, reporter);
            } finally {
              lock?.release();
            }
            return ExitCode.Ok;
          }),
        );
      },
    );
  withCommonOptions(
    program.command('bootstrap').description('aws: create the artifact bucket and roles once per account'),
  )
    .option(
      '--github-repository <owner/name>',
      'create GitHub OIDC deploy and preview roles trusted by this repository',
    )
    .option('--existing-oidc-provider-arn <arn>', "use the account's existing GitHub OIDC provider")
    .action(
      async (options: StageOptions & { githubRepository?: string; existingOidcProviderArn?: string }) => {
        setExit(
          await guarded(
            io,
            undefined,
            { json: options.json === true, stage: () => 'bootstrap' },
            async () => {
              const { config } = loadConfig(configOptions(options, io));
              const variables = await backendModule(config).bootstrap(
                config,
                {
                  ...(options.githubRepository === undefined
                    ? {}
                    : { githubRepository: options.githubRepository }),
                  ...(options.existingOidcProviderArn === undefined
                    ? {}
                    : { existingOidcProviderArn: options.existingOidcProviderArn }),
                },
                createReporter({ stream: io.stderr, env: io.env }),
              );
              if (options.json === true) io.stdout.write(`${JSON.stringify(variables)}\n`);
              return ExitCode.Ok;
            },
          ),
        );
      },
    );
  withCommonOptions(
    program
      .command('serve')
      .description('run the local object store and endpoint in the foreground until Ctrl-C'),
  ).action(async (options: StageOptions) => {
    setExit(
      await guarded(io, undefined, { json: options.json === true, stage: () => 'serve' }, async () => {
        const { config } = loadConfig(configOptions(options, io));
        // The store and the deployment are the work directory's: no run may change them meanwhile.
        const { serve } = backendModule(config);
        if (serve === undefined)
          throw new SconesError(`scones serve runs the local backend only: drop --backend ${config.backend}`);
        const lock = lockWorkDir(config, 'serve');
        const stopped = new Promise<void>((resolve) => {
          process.once('SIGINT', () => resolve());
          process.once('SIGTERM', () => resolve());
        });
        await serve(
          config,
          (info) => {
            if (options.json === true) io.stdout.write(`${JSON.stringify(info)}\n`);
            io.stderr.write(
              `object store  ${info.objectStore} (bucket ${info.bucket}, path-style)\n` +
                `endpoint      ${info.endpoint} (name ${info.endpointName})\n` +
                `credentials   export AWS_ACCESS_KEY_ID=${info.accessKeyId} AWS_SECRET_ACCESS_KEY=${info.secretAccessKey} (valid until Ctrl-C; requests must be signed)\n` +
                `try: aws sagemaker-runtime invoke-endpoint --endpoint-url ${info.endpoint} --endpoint-name ${info.endpointName} --content-type image/png --body fileb://image.png out.json\n` +
                'Ctrl-C stops both.\n',
            );
          },
          stopped,
        ).finally(() => lock?.release());
        return ExitCode.Ok;
      }),
    );
  });

  return program;
}

/** Where the backend has one (local), the work directory's lock: one process at a time owns it. */
function lockWorkDir(config: Config, command: string, runId = `(${command})`): WorkDirLock | undefined {
  return backendModule(config).lockWorkDir?.(config, command, runId);
}

function configOptions(options: StageOptions, io: CliIo) {
  return {
    ...(options.config === undefined ? {} : { file: options.config }),
    env: io.env,
    cwd: io.cwd,
    overrides: overridesFromOptions(options),
  };
}

async function runCommand(command: StageName | 'run', options: StageOptions, io: CliIo): Promise<number> {
  let currentStage: string = command;
  const reporter = trackingStage(createReporter({ stream: io.stderr, env: io.env }), (stage) => {
    currentStage = stage;
  });
  let backend: Backend | undefined;
  let lock: WorkDirLock | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    reporter.warn(`${signal}: stopping; the manifest keeps the last completed stage, re-run to resume`);
    const closing = (backend?.close() ?? Promise.resolve()).finally(() => lock?.release());
    void closing.finally(() => process.exit(new InterruptedError(signal).exitCode));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await guarded(
      io,
      reporter,
      { json: options.json === true, stage: () => currentStage },
      async () => {
        const { config } = loadConfig(configOptions(options, io));
        lock = lockWorkDir(config, command, options.runId ?? '(new run)');
        backend = await backendModule(config).open(config);
        if (command === 'monitor-report' && config.monitor.capture !== undefined) {
          await outsideCaptureReport(config, backend, reporter, options, io);
          return ExitCode.Ok;
        }
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
      },
    );
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await backend?.close();
    lock?.release();
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
  return {
    info: (message) => reporter.info(message),
    warn: (message) => reporter.warn(message),
    error: (message) => reporter.error(message),
    group: (name, fn) => {
      onStage(name);
      return reporter.group(name, fn);
    },
    progress: (label, total, unit) => reporter.progress(label, total, unit),
    output: (name, value) => reporter.output(name, value),
    summary: (markdown) => reporter.summary(markdown),
  };
}

/** The end-of-run summary: dataset, accuracy, gate, executions, report. */
export function runSummary(manifest: Manifest, config: Config, reused: readonly StageName[]): string {
  const dataset = stageSection(manifest, 'stage-data')?.outputs;
  const model = stageSection(manifest, 'train')?.outputs;
  const evaluation = stageSection(manifest, 'evaluate')?.outputs;
  const gate = stageSection(manifest, 'gate')?.outputs;
  const executions = manifest.stages['test-executions']?.outputs as
    | { summary?: { succeeded: number; filtered: number; errors: number } }
    | undefined;
  const report = manifest.stages['monitor-report']?.outputs as
    | { reportDir?: string; accuracy?: number | null; records?: number }
    | undefined;
  const lines = [
    `run ${manifest.runId} complete on the ${config.backend} backend${reused.length > 0 ? ` (reused: ${reused.join(', ')})` : ''}`,
    `  dataset     ${dataset === undefined ? '-' : `${dataset.digest}: ${dataset.totals.train} train / ${dataset.totals.validation} validation / ${dataset.totals.test} test images`}`,
    `  model       ${model === undefined ? '-' : `${model.trainingId}: validation accuracy ${model.validationAccuracy.toFixed(4)} (selection, ${dataset?.totals.validation ?? '?'} images)`}`,
    `  evaluation  ${evaluation === undefined ? '-' : `test accuracy ${evaluation.quality.accuracy.toFixed(4)} (held out, ${evaluation.quality.count} images, 95% interval ${evaluation.quality.accuracyInterval.low.toFixed(3)}-${evaluation.quality.accuracyInterval.high.toFixed(3)})`}`,
    `  gate        ${gate === undefined ? '-' : `${gate.forced ? 'forced' : gate.passed ? 'passed' : 'rejected'} on test accuracy (minimum ${gate.minAccuracy})`}`,
    `  executions  ${
      executions?.summary === undefined
        ? '-'
        : `${executions.summary.succeeded} succeeded / ${executions.summary.filtered} filtered / ${executions.summary.errors} failed${
            typeof report?.accuracy === 'number'
              ? `; accuracy ${report.accuracy.toFixed(4)} over the captured executions with ground truth (filtered included)`
              : ''
          }`
    }`,
    `  report      ${report?.reportDir === undefined ? '-' : join(report.reportDir, 'report.html')}`,
  ];
  return lines.join('\n');
}

/** With --json, a failure is also a document on stdout, naming the stage it happened in. */
interface ErrorDocument {
  json: boolean;
  stage: () => string;
}

/** The one place errors are caught: prints them and maps them to exit codes. */
async function guarded(
  io: CliIo,
  reporter: Reporter | undefined,
  document: ErrorDocument,
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
    if (document.json)
      io.stdout.write(`${JSON.stringify({ error: { stage: document.stage(), message, exitCode } })}\n`);
    return exitCode;
  }
}

function defaultIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() };
}
