import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { stringify as toYaml } from 'yaml';
import { openBackend } from './backends/index.js';
import { localPaths } from './backends/local/index.js';
import { bootstrap } from './commands/bootstrap.js';
import { acquireLock } from './commands/lock.js';
import { serve } from './commands/serve.js';
import { teardown, teardownPlan } from './commands/teardown.js';
import { type Config, loadConfig, parseScalar } from './config.js';
import { BACKENDS, ExitCode, FLAG_KEYS, type FlagName, STAGES, type StageName } from './constants.js';
import { InterruptedError, SconesError, UsageError } from './errors.js';
import { type Manifest, stageSection } from './manifest.js';
import type { Backend } from './ports.js';
import { createReporter, type Reporter } from './reporter.js';
import { executeStage, executeStages, resolveRun } from './run.js';

/** Where the CLI reads and writes; tests pass their own. */
export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  cwd: string;
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

/** Asks on a terminal; refuses (false) when there is no one to ask. */
async function confirm(io: CliIo, question: string): Promise<boolean> {
  const input = process.stdin;
  if (input.isTTY !== true) return false;
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input, output: io.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
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
    .option(
      '--run-id <id>',
      'run to use; stage-data and run start a new one without it, other stages continue the newest',
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
  const overrides: Record<string, unknown> = {};
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
  try {
    await program.parseAsync([...argv], { from: 'user' });
    if (argv.length === 0) {
      program.outputHelp();
      return ExitCode.Usage;
    }
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
    .showHelpAfterError('(run with --help for usage)');

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
      await guarded(io, undefined, async () => {
        const { config, sources } = loadConfig(configOptions(options, io));
        io.stdout.write(options.json === true ? `${JSON.stringify(config, null, 2)}\n` : toYaml(config));
        if (options.json !== true) io.stderr.write(`# sources: ${JSON.stringify(sources)}\n`);
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
      'local: keep the newest N runs and remove the others',
      wholeNumberAtLeast(0, '--keep-runs'),
    )
    .option('--include-bootstrap', 'aws: also delete the bootstrap stack (the bucket is retained)')
    .action(
      async (options: StageOptions & { yes?: boolean; keepRuns?: string; includeBootstrap?: boolean }) => {
        setExit(
          await guarded(io, undefined, async () => {
            const { config } = loadConfig(configOptions(options, io));
            const reporter = createReporter({ stream: io.stderr, env: io.env });
            const plan = {
              ...(options.keepRuns === undefined ? {} : { keepRuns: Number(options.keepRuns) }),
              ...(options.includeBootstrap === true ? { includeBootstrap: true } : {}),
            };
            const targets = teardownPlan(config, plan);
            if (
              options.yes !== true &&
              !(await confirm(io, `This removes:\n  - ${targets.join('\n  - ')}\nContinue? [y/N] `))
            )
              throw new UsageError('teardown not confirmed: answer y, or pass --yes in scripts');
            const lock = lockLocalWorkDir(config, 'teardown');
            try {
              const backend = config.backend === 'local' ? await openBackend(config) : undefined;
              try {
                await teardown(config, plan, backend?.store, reporter);
              } finally {
                await backend?.close();
              }
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
          await guarded(io, undefined, async () => {
            const { config } = loadConfig(configOptions(options, io));
            const variables = await bootstrap(
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
          }),
        );
      },
    );
  withCommonOptions(
    program
      .command('serve')
      .description('run the local object store and endpoint in the foreground until Ctrl-C'),
  ).action(async (options: StageOptions) => {
    setExit(
      await guarded(io, undefined, async () => {
        const { config } = loadConfig(configOptions(options, io));
        // The store and the deployment are the work directory's: no run may change them meanwhile.
        const lock = lockLocalWorkDir(config, 'serve');
        const stopped = new Promise<void>((resolve) => {
          process.once('SIGINT', () => resolve());
          process.once('SIGTERM', () => resolve());
        });
        await serve(
          config,
          (info) => {
            if (options.json === true) io.stdout.write(`${JSON.stringify(info)}\n`);
            io.stderr.write(
              `object store  ${info.objectStore} (bucket ${info.bucket}, path-style, any credentials)\n` +
                `endpoint      ${info.endpoint} (name ${info.endpointName})\n` +
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

/** On the local backend, one process at a time owns the work directory (its store and deployment). */
function lockLocalWorkDir(
  config: Config,
  command: string,
  runId = `(${command})`,
): ReturnType<typeof acquireLock> | undefined {
  if (config.backend !== 'local') return undefined;
  mkdirSync(config.workDir, { recursive: true });
  return acquireLock(localPaths(config.workDir).lock, { runId, command });
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
  const reporter = createReporter({ stream: io.stderr, env: io.env });
  let backend: Backend | undefined;
  let lock: ReturnType<typeof acquireLock> | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    reporter.warn(`${signal}: stopping; the manifest keeps the last completed stage, re-run to resume`);
    const closing = (backend?.close() ?? Promise.resolve()).finally(() => lock?.release());
    void closing.finally(() => process.exit(new InterruptedError(signal).exitCode));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await guarded(io, reporter, async () => {
      const { config } = loadConfig(configOptions(options, io));
      lock = lockLocalWorkDir(config, command, options.runId ?? '(new run)');
      backend = await openBackend(config);
      // A report on outside capture files needs no earlier stage: it starts a run of its own.
      const starts =
        command === 'monitor-report' && config.monitor.capture !== undefined ? 'stage-data' : command;
      const manifest = await resolveRun(backend, config, starts, options.runId);
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
    });
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await backend?.close();
    lock?.release();
  }
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

/** The one place errors are caught: prints them and maps them to exit codes. */
async function guarded(
  io: CliIo,
  reporter: Reporter | undefined,
  body: () => Promise<number>,
): Promise<number> {
  try {
    return await body();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (reporter !== undefined) reporter.error(message);
    else io.stderr.write(`error: ${message}\n`);
    if (!(error instanceof SconesError) && io.env.SCONES_DEBUG !== undefined && error instanceof Error)
      io.stderr.write(`${error.stack}\n`);
    return error instanceof SconesError ? error.exitCode : ExitCode.Failure;
  }
}

function defaultIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() };
}
