import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { closest, distance } from 'fastest-levenshtein';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { awsConfigProblems } from './backends/aws/config-checks.js';
import { BACKENDS, DEFAULT_CONFIG_FILE, ENV } from './constants.js';
import { ConfigError } from './errors.js';
import { FILE_LIMITS, fixedLimit, readCheckedFile } from './util/files.js';
import { stableStringify } from './util/stable-json.js';

const probability = z.number().min(0).max(1);
/** A count, bounded so that no setting can ask for unbounded memory or time. */
const count = (max: number) => z.number().int().positive().max(max);
/** A seed: any 32-bit integer (the seeded generators work on 32 bits). */
const seed = z
  .number()
  .int()
  .min(-(2 ** 31))
  .max(2 ** 32 - 1);
/** SageMaker's longest training job (StoppingCondition: 28 days). */
const TRAINING_SECONDS_MAX = 28 * 24 * 3600;

/**
 * S3's bucket naming rules (general purpose buckets): 3-63 characters of lower-case letters, digits,
 * dots and hyphens, starting and ending with a letter or digit, no two adjacent dots, not an IP
 * address, none of the reserved prefixes and suffixes. Refused here, not by the store or S3 later.
 */
const bucketName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'expected an S3 bucket name (3-63 characters: a-z 0-9 . -)')
  .refine((name) => !name.includes('..'), 'an S3 bucket name has no two adjacent dots')
  .refine((name) => !/^\d+\.\d+\.\d+\.\d+$/.test(name), 'an S3 bucket name is not an IP address')
  .refine(
    (name) =>
      !/^(xn--|sthree-|amzn-s3-demo-)/.test(name) &&
      !/(-s3alias|--ol-s3|\.mrap|--x-s3|--table-s3)$/.test(name),
    'an S3 bucket name may not use a reserved prefix (xn--, sthree-, amzn-s3-demo-) or suffix (-s3alias, --ol-s3, .mrap, --x-s3, --table-s3)',
  );

/** A data source: `cifar100`, `synthetic`, or `images:DIR`. */
const dataSource = z
  .string()
  .regex(/^(cifar100|synthetic|images:.+)$/, 'expected "cifar100", "synthetic" or "images:DIR"');

/** What data.classes accepts, for its messages. */
const CLASSES_ACCEPTED =
  'expected a list of 2 to 1000 classes, each a CIFAR-100 id 0-99 or a name, such as [8,48] or [bicycle,motorcycle]';

/**
 * Classes in label order, each listed once: a repeated value is refused here, for every command; an id and
 * the name of the same class (8 and bicycle) when the source resolves them (data/sources.ts).
 */
const dataClasses = z
  .array(
    z.union([z.number().int().min(0).max(99), z.string().min(1).max(200)], {
      error: 'expected a CIFAR-100 id 0-99 or a class name of 1 to 200 characters',
    }),
    { error: CLASSES_ACCEPTED },
  )
  .min(2, CLASSES_ACCEPTED)
  .max(1000, CLASSES_ACCEPTED)
  .superRefine((classes, context) => {
    const repeated = classes.find((c, i) => classes.indexOf(c) !== i);
    if (repeated !== undefined)
      context.addIssue({
        code: 'custom',
        message: `data.classes names ${JSON.stringify(repeated)} twice (${classes.join(', ')}): list each class once`,
      });
  });

/** The filter Lambda's threshold: `auto`, or a number from 0 to 1; one message for every refusal. */
const THRESHOLD_ACCEPTED = 'expected "auto" or a number from 0 to 1';
const threshold = z
  .union([z.literal('auto'), z.number()], { error: THRESHOLD_ACCEPTED })
  .refine((value) => value === 'auto' || (value >= 0 && value <= 1), THRESHOLD_ACCEPTED);

/**
 * The whole configuration. Every key has a default, so an empty file is valid; objects are strict so a
 * misspelt key is reported instead of silently ignored.
 */
export const configSchema = z.strictObject({
  backend: z.enum(BACKENDS).default('local'),
  region: z.string().min(1).default('us-east-1'),
  /** Artifact bucket: datasets, models, bundles, manifests, data capture. */
  bucket: bucketName.default('scones-artifacts'),
  /** Where the local backend keeps its state (object store, runs, deployment). */
  workDir: z.string().min(1).default('.scones'),
  data: z
    .strictObject({
      source: dataSource.default('cifar100'),
      /** CIFAR-100 fine label ids or names; their order gives the labels 0..N-1. */
      classes: dataClasses.default([8, 48]),
      cifar100: z
        .strictObject({
          url: z.url().default('https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz'),
          md5: z
            .string()
            .regex(/^[0-9a-f]{32}$/)
            .default('03b5dce01913d631647c71ecec9e9cb8'),
          cacheDir: z.string().min(1).optional(),
        })
        .prefault({}),
      synthetic: z
        .strictObject({
          trainPerClass: count(10_000).default(100),
          testPerClass: count(10_000).default(25),
          imageSize: z.number().int().min(8).max(512).default(32),
          seed: seed.default(42),
        })
        .prefault({}),
      /** Images larger than this many pixels are refused before decoding (decompression bombs). */
      maxImagePixels: count(67_108_864).default(16_777_216),
      /** Image files larger than this many bytes are refused before reading. */
      maxImageBytes: count(268_435_456).default(67_108_864),
      uploadConcurrency: z.number().int().min(1).max(256).default(16),
      /** Let identical images appear twice within one split (never across splits or labels). */
      allowDuplicatesWithinSplit: z.boolean().default(false),
      /** Fraction of each class's training images carved out (seeded) as the validation split. */
      validationFraction: z.number().min(0.01).max(0.5).default(0.1),
    })
    .prefault({}),
  train: z
    .strictObject({
      epochs: count(1000).default(30),
      batchSize: count(4096).default(32),
      learningRate: z.number().positive().max(10).default(0.002),
      /** Epochs without a better validation accuracy before stopping early. */
      patience: count(1000).default(6),
      seed: seed.default(7),
      augment: z.boolean().default(true),
      /** Skip training and reuse the newest completed model for this dataset. */
      reuseLastModel: z.boolean().default(false),
      sagemaker: z
        .strictObject({
          instanceType: z.string().default('ml.g4dn.xlarge'),
          instanceCount: count(100).default(1),
          volumeSizeGb: count(16_384).default(30),
          maxRuntimeSeconds: count(TRAINING_SECONDS_MAX).default(3600),
          spot: z.boolean().default(false),
          /**
           * The algorithm's use_pretrained_model: start from its ImageNet-trained network, as the local
           * trainer starts from a pretrained one (docs/aws.md).
           */
          usePretrainedModel: z.boolean().default(true),
          maxWaitSeconds: count(TRAINING_SECONDS_MAX).default(7200),
          roleArn: z.string().optional(),
          /** Extra hyperparameters passed through to the algorithm verbatim. */
          hyperparameters: z
            .record(z.string().max(256), z.union([z.string().max(2500), z.number(), z.boolean()]))
            // CreateTrainingJob's HyperParameters: at most 100 entries (the botocore model's map max).
            .refine(
              (entries) => Object.keys(entries).length <= 100,
              'at most 100 hyperparameters (SageMaker)',
            )
            .default({}),
        })
        .prefault({}),
    })
    .prefault({}),
  evaluate: z
    .strictObject({
      /** Batch Transform instance for the test split on aws (TransformInstanceType; not every endpoint type is valid). */
      transformInstanceType: z.string().default('ml.m5.large'),
    })
    .prefault({}),
  gate: z
    .strictObject({
      minAccuracy: probability.default(0.8),
      maxRegression: probability.default(0.01),
      force: z.boolean().default(false),
      /** Minimum held-out automation rate (share routed without a person) at the deployed threshold; 0 = off. */
      minAutomationRate: probability.default(0),
    })
    .prefault({}),
  deploy: z
    .strictObject({
      stackName: z
        .string()
        .regex(/^[A-Za-z][A-Za-z0-9-]{0,127}$/)
        .default('scones-workflow'),
      endpointInstanceType: z.string().default('ml.m5.xlarge'),
      /** The filter Lambda's threshold: `auto` (chosen on validation and out-of-fold predictions) or an explicit value. */
      threshold: threshold.default('auto'),
      /** The accuracy of kept inferences `auto` aims at. */
      targetAccuracy: probability.default(0.97),
      /** Make the change set only and describe it (pull request previews). */
      preview: z.boolean().default(false),
      /**
       * Deployment guardrails on aws: how long the alarms watch a new model with all traffic before the old
       * fleet goes (SageMaker's WaitIntervalInSeconds: at most 3600).
       */
      bakeSeconds: z.number().int().min(0).max(3600).default(600),
    })
    .prefault({}),
  monitor: z
    .strictObject({
      /** Report on these capture files (a folder or an s3:// prefix) instead of the run's (--capture). */
      capture: z.string().min(1).optional(),
      /** Report on the live endpoint's capture of this recent window (--since 24h), not on a run's. */
      since: z
        .string()
        .regex(/^[1-9]\d*[mhd]$/, 'expected a duration such as 30m, 24h or 7d')
        .optional(),
    })
    .prefault({}),
  testExecutions: z
    .strictObject({
      count: count(10_000).default(30),
      seed: seed.default(11),
      concurrency: count(64).default(4),
      /** How many executions may fail for a reason other than low confidence before the stage fails. */
      errorBudget: z.number().int().min(0).max(10_000).default(0),
    })
    .prefault({}),
});

export type Config = z.infer<typeof configSchema>;

/** Where each layer of configuration came from, for `scones config`. */
export interface ConfigSources {
  file?: string;
  env: string[];
  flags: string[];
  /** SCONES_* variables that name no configuration key (SCONES_DEBUG, say): left alone, listed here. */
  ignoredEnv: string[];
  /** For every configuration key: `default`, `file <name>`, `env <NAME>` or `flag`. */
  origins: Record<string, string>;
}

export interface LoadConfigOptions {
  /** Explicit --config FILE; missing file is an error. Without it, scones.config.yaml if present. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Overrides from the command line, as dotted keys. */
  overrides?: Record<string, unknown>;
  cwd?: string;
}

/** Loads defaults < file < SCONES_* environment < CLI overrides and validates the result. */
export function loadConfig(options: LoadConfigOptions = {}): { config: Config; sources: ConfigSources } {
  const cwd = options.cwd ?? process.cwd();
  const sources: ConfigSources = { env: [], flags: [], ignoredEnv: [], origins: {} };
  const setBy = new Map<string, string>();
  const raw: Record<string, unknown> = {};

  const file =
    options.file ?? (existsSync(resolve(cwd, DEFAULT_CONFIG_FILE)) ? DEFAULT_CONFIG_FILE : undefined);
  if (file !== undefined) {
    const path = resolve(cwd, file);
    if (!existsSync(path))
      throw new ConfigError(
        `config file ${path} does not exist: check the --config path (relative paths start at ${cwd})`,
      );
    const text = readCheckedFile(path, `config file ${path}`, {
      maxBytes: FILE_LIMITS.config,
      overLimit: fixedLimit('configuration files', 'pass the YAML configuration file'),
      expected: 'a YAML file: pass the configuration file',
      error: (message) => new ConfigError(message),
    }).toString('utf8');
    let parsed: unknown;
    try {
      parsed = parseYaml(text);
    } catch (error) {
      throw new ConfigError(`config file ${file} is not valid YAML: ${(error as Error).message}`);
    }
    if (parsed !== null && parsed !== undefined) {
      if (typeof parsed !== 'object' || Array.isArray(parsed))
        throw new ConfigError(`config file ${file} must hold a mapping of keys, not ${typeof parsed}`);
      // Copied key by key so a `__proto__` key in the file is refused like any other forbidden key.
      for (const [key, value] of leafEntries(parsed as Record<string, unknown>)) {
        setPath(raw, key, value, `config file ${file}`);
        setBy.set(key, `file ${file}`);
      }
    }
    sources.file = file;
  }

  const known = configKeys();
  for (const [name, value] of Object.entries(options.env ?? process.env)) {
    if (!name.startsWith(ENV.configPrefix) || value === undefined) continue;
    const key = envNameToKey(name);
    // SCONES_DEBUG and the like are not configuration: an unknown key from the environment is ignored
    // (and listed by `scones config`), while files and flags, which the user wrote for us, are checked.
    if (!isConfigKey(key, known)) {
      sources.ignoredEnv.push(name);
      continue;
    }
    setPath(raw, key, parseScalar(value), `environment variable ${name}`);
    sources.env.push(`${name} -> ${key}`);
    setBy.set(key, `env ${name}`);
  }
  for (const [key, value] of Object.entries(options.overrides ?? {})) {
    setPath(raw, key, value, `--set ${key}`);
    sources.flags.push(key);
    setBy.set(key, 'flag');
  }

  const result = configSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(formatConfigIssues(result.error, raw, known));
  const config = resolvePaths(result.data, cwd);
  // Instance types and the stack name as AWS would take them (SageMaker's enums, IAM's name patterns).
  const refused = awsConfigProblems(config);
  if (refused.length > 0) throw new ConfigError(refused.join('\n'));
  for (const key of known) sources.origins[key] = originOf(key, setBy);
  return { config, sources };
}

/** The layer that set `key`: the latest layer that set it or an object holding it. */
function originOf(key: string, setBy: ReadonlyMap<string, string>): string {
  for (let prefix = key; prefix !== ''; prefix = prefix.slice(0, Math.max(prefix.lastIndexOf('.'), 0))) {
    const origin = setBy.get(prefix);
    if (origin !== undefined) return origin;
  }
  return 'default';
}

/** A file's mapping as dotted leaf keys (records such as `hyperparameters` stay whole). */
function leafEntries(source: Record<string, unknown>, prefix = ''): [string, unknown][] {
  return Object.keys(source).flatMap((name): [string, unknown][] => {
    const key = `${prefix}${name}`;
    const value = source[name];
    const isMapping = typeof value === 'object' && value !== null && !Array.isArray(value);
    return isMapping && !RECORD_KEYS.has(key) && Object.keys(value).length > 0
      ? leafEntries(value as Record<string, unknown>, `${key}.`)
      : [[key, value]];
  });
}

/** Keys whose value is a free-form mapping: any key below them is accepted. */
const RECORD_KEYS: ReadonlySet<string> = new Set(['train.sagemaker.hyperparameters']);

interface ZodDefLike {
  type: string;
  shape?: Record<string, { _zod: { def: ZodDefLike } }>;
  innerType?: { _zod: { def: ZodDefLike } };
}

/** Every configuration key as a dotted path, read from the schema so the two never disagree. */
export function configKeys(): string[] {
  const walk = (def: ZodDefLike, prefix: string): string[] => {
    if (def.innerType !== undefined && def.type !== 'object') return walk(def.innerType._zod.def, prefix);
    if (def.type === 'object' && def.shape !== undefined)
      return Object.entries(def.shape).flatMap(([name, child]) =>
        walk(child._zod.def, prefix === '' ? name : `${prefix}.${name}`),
      );
    return [prefix];
  };
  return walk(configSchema._zod.def as unknown as ZodDefLike, '');
}

function isConfigKey(key: string, known: readonly string[]): boolean {
  return (
    known.some((k) => k === key || k.startsWith(`${key}.`)) ||
    [...RECORD_KEYS].some((r) => key.startsWith(`${r}.`))
  );
}

/** The known key nearest to a misspelt one, when near enough to be a typo. */
export function suggestKey(key: string, known: readonly string[] = configKeys()): string | undefined {
  const candidates = [
    ...new Set(known.flatMap((k) => k.split('.').map((_, i, parts) => parts.slice(0, i + 1).join('.')))),
  ];
  const best = closest(key, candidates);
  return distance(key, best) <= Math.max(2, Math.floor(key.length / 4)) ? best : undefined;
}

/** Relative paths in the configuration are relative to the directory the CLI runs in. */
function resolvePaths(config: Config, cwd: string): Config {
  const { source, cifar100 } = config.data;
  return {
    ...config,
    workDir: resolve(cwd, config.workDir),
    data: {
      ...config.data,
      source: source.startsWith('images:')
        ? `images:${resolve(cwd, source.slice('images:'.length))}`
        : source,
      cifar100:
        cifar100.cacheDir === undefined
          ? cifar100
          : { ...cifar100, cacheDir: resolve(cwd, cifar100.cacheDir) },
    },
    monitor:
      config.monitor.capture === undefined || config.monitor.capture.startsWith('s3://')
        ? config.monitor
        : { ...config.monitor, capture: resolve(cwd, config.monitor.capture) },
  };
}

/** SCONES_GATE__MIN_ACCURACY -> gate.minAccuracy: `__` separates levels, `_` separates words. */
export function envNameToKey(name: string): string {
  return name
    .slice(ENV.configPrefix.length)
    .split('__')
    .map((segment) => segment.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase()))
    .join('.');
}

/** Parses a string from the environment or `--set` as a YAML scalar, so numbers and booleans keep their type. */
export function parseScalar(value: string): unknown {
  try {
    return parseYaml(value) ?? value;
  } catch {
    return value;
  }
}

/** Names that reach Object.prototype when used as keys: never configuration, always refused. */
const FORBIDDEN_KEY_PARTS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

function setPath(target: Record<string, unknown>, dotted: string, value: unknown, where: string): void {
  const parts = dotted.split('.');
  const forbidden = parts.find((part) => FORBIDDEN_KEY_PARTS.has(part));
  if (forbidden !== undefined)
    throw new ConfigError(
      `${where}: "${dotted}" is not a configuration key (${forbidden} is never one): see \`scones config\` for the keys`,
    );
  let node = target;
  for (const part of parts.slice(0, -1)) {
    const next = Object.hasOwn(node, part) ? node[part] : undefined;
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1] as string] = value;
}

function getPath(source: unknown, path: readonly PropertyKey[]): unknown {
  let node = source;
  for (const part of path) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<PropertyKey, unknown>)[part];
  }
  return node;
}

function formatConfigIssues(error: z.ZodError, raw: unknown, known: readonly string[]): string {
  const lines = error.issues.map((issue) => {
    const key = issue.path.map(String).join('.') || '(root)';
    if (issue.code === 'unrecognized_keys') {
      const prefix = key === '(root)' ? '' : `${key}.`;
      return issue.keys
        .map((k) => {
          const suggestion = suggestKey(`${prefix}${k}`, known);
          return `unknown key ${prefix}${k}: ${suggestion === undefined ? 'remove it or check its spelling' : `did you mean ${suggestion}?`}`;
        })
        .join('\n  ');
    }
    const value = getPath(raw, issue.path);
    return `${key} = ${JSON.stringify(value)}: ${issue.message}`;
  });
  return `invalid configuration:\n  ${lines.join('\n  ')}`;
}

/** A stable digest of the effective configuration, recorded in the run manifest. */
export function configDigest(config: Config): string {
  return createHash('sha256').update(stableStringify(config)).digest('hex').slice(0, 16);
}

/** The user's cache directory for downloads (XDG on Linux, ~/.cache otherwise). */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'scones');
}
