import { type Command, InvalidArgumentError, Option } from 'commander';
import { parseScalar } from '../config.js';
import { BACKENDS, FLAG_KEYS, type FlagName, type StageName } from '../constants.js';
import { UsageError } from '../errors.js';
import { isValidRunId } from '../manifest.js';

/** Where the CLI reads and writes; tests pass their own. */
export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Where confirmations are read; only a terminal (isTTY) is asked. */
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean };
}

export interface CommonOptions {
  backend?: string;
  runId?: string;
  config?: string;
  json?: boolean;
  set: string[];
}
export type StageOptions = CommonOptions & Partial<Record<FlagName, string | boolean>>;

export const STAGE_HELP: Record<StageName | 'run', string> = {
  'stage-data': 'stage the dataset (CIFAR-100, an images folder, or synthetic) into the artifact bucket',
  train: 'train the classifier on the staged dataset (TensorFlow.js locally, SageMaker on aws)',
  evaluate:
    'score the trained model once on the held-out test split (locally in process, Batch Transform on aws)',
  gate: 'pass the model only if accurate enough and not worse than the deployed champion',
  deploy: 'deploy the Lambdas, state machine and endpoint (CloudFormation on aws, local servers locally)',
  'test-executions': 'run the state machine on test images and classify the outcomes',
  'monitor-report': "report on the endpoint's captured data: statistics, drift, charts",
  run: 'run every stage in order under one run id',
};

/** The stage flags each command accepts. */
export const STAGE_FLAGS: Record<StageName | 'run', FlagName[]> = {
  'stage-data': ['source'],
  train: ['epochs', 'reuseLastModel'],
  evaluate: [],
  gate: ['minAccuracy', 'maxRegression', 'force'],
  deploy: ['preview'],
  'test-executions': ['count'],
  'monitor-report': ['capture', 'since'],
  run: ['source', 'epochs', 'reuseLastModel', 'minAccuracy', 'maxRegression', 'force', 'count'],
};

const NUMERIC_FLAGS: ReadonlySet<FlagName> = new Set(['epochs', 'minAccuracy', 'maxRegression', 'count']);

export function flagOption(flag: FlagName): Option {
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
    case 'since':
      return new Option(
        '--since <duration>',
        "report on the live endpoint's capture of the last 30m, 24h, 7d... (with --capture: that capture's window)",
      );
    case 'count':
      return new Option('--count <n>', 'number of test executions').argParser(
        wholeNumberAtLeast(1, '--count'),
      );
  }
}

/** Asks on a terminal; says so when there is no one to ask (a pipe, CI). */
export async function confirm(io: CliIo, question: string): Promise<'yes' | 'no' | 'no terminal'> {
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

/** A parser for a flag that takes a whole number of at least `minimum`. */
export function wholeNumberAtLeast(minimum: number, flag: string) {
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

export function withCommonOptions(command: Command): Command {
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
      (value: string, previous: string[]) => [...previous, value],
      [],
    );
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

export function configOptions(options: StageOptions, io: CliIo) {
  return {
    ...(options.config === undefined ? {} : { file: options.config }),
    env: io.env,
    cwd: io.cwd,
    overrides: overridesFromOptions(options),
  };
}
