import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { BACKENDS, DEFAULT_CONFIG_FILE, ENV } from './constants.js';
import { DEFAULT_THRESHOLD } from './contracts/threshold.js';
import { ConfigError } from './errors.js';

const probability = z.number().min(0).max(1);
const positiveInt = z.number().int().positive();

/** A data source: `cifar100`, `synthetic`, or `images:DIR`. */
const dataSource = z
  .string()
  .regex(/^(cifar100|synthetic|images:.+)$/, 'expected "cifar100", "synthetic" or "images:DIR"');

/**
 * The whole configuration. Every key has a default, so an empty file is valid; objects are strict so a
 * misspelt key is reported instead of silently ignored.
 */
export const configSchema = z.strictObject({
  backend: z.enum(BACKENDS).default('local'),
  region: z.string().min(1).default('us-east-1'),
  /** Artifact bucket: datasets, models, bundles, manifests, data capture. */
  bucket: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'expected an S3 bucket name')
    .default('scones-artifacts'),
  /** Where the local backend keeps its state (object store, runs, deployment). */
  workDir: z.string().min(1).default('.scones'),
  data: z
    .strictObject({
      source: dataSource.default('cifar100'),
      /** CIFAR-100 fine label ids or names; their order gives the labels 0..N-1. */
      classes: z
        .array(z.union([z.number().int().min(0).max(99), z.string().min(1)]))
        .min(2)
        .default([8, 48]),
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
          trainPerClass: positiveInt.default(100),
          testPerClass: positiveInt.default(25),
          imageSize: z.number().int().min(8).max(512).default(32),
          seed: z.number().int().default(42),
        })
        .prefault({}),
      /** Images larger than this many pixels are refused before decoding (decompression bombs). */
      maxImagePixels: positiveInt.default(16_777_216),
      uploadConcurrency: z.number().int().min(1).max(256).default(16),
      /** Fraction of each class's training images carved out (seeded) as the validation split. */
      validationFraction: z.number().min(0.01).max(0.5).default(0.1),
    })
    .prefault({}),
  train: z
    .strictObject({
      epochs: positiveInt.default(30),
      batchSize: positiveInt.default(32),
      learningRate: z.number().positive().default(0.002),
      /** Epochs without a better validation accuracy before stopping early. */
      patience: z.number().int().min(1).default(6),
      seed: z.number().int().default(7),
      augment: z.boolean().default(true),
      /** Skip training and reuse the newest completed model for this dataset. */
      reuseLastModel: z.boolean().default(false),
      sagemaker: z
        .strictObject({
          instanceType: z.string().default('ml.p3.2xlarge'),
          instanceCount: positiveInt.default(1),
          volumeSizeGb: positiveInt.default(30),
          maxRuntimeSeconds: positiveInt.default(3600),
          spot: z.boolean().default(false),
          maxWaitSeconds: positiveInt.default(7200),
          roleArn: z.string().optional(),
          /** Extra hyperparameters passed through to the algorithm verbatim. */
          hyperparameters: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
        })
        .prefault({}),
    })
    .prefault({}),
  gate: z
    .strictObject({
      minAccuracy: probability.default(0.8),
      maxRegression: probability.default(0.01),
      force: z.boolean().default(false),
    })
    .prefault({}),
  deploy: z
    .strictObject({
      stackName: z
        .string()
        .regex(/^[A-Za-z][A-Za-z0-9-]{0,127}$/)
        .default('scones-workflow'),
      endpointInstanceType: z.string().default('ml.m5.xlarge'),
      threshold: probability.default(DEFAULT_THRESHOLD),
      /** Make the change set only and describe it (pull request previews). */
      preview: z.boolean().default(false),
      /** Port of the local model server; 0 picks a free one. */
      localPort: z.number().int().min(0).max(65535).default(0),
    })
    .prefault({}),
  monitor: z
    .strictObject({
      /** Report on these capture files (a folder or an s3:// prefix) instead of the run's (--capture). */
      capture: z.string().min(1).optional(),
    })
    .prefault({}),
  testExecutions: z
    .strictObject({
      count: positiveInt.default(30),
      seed: z.number().int().default(11),
      concurrency: positiveInt.default(4),
      /** How many executions may fail for a reason other than low confidence before the stage fails. */
      errorBudget: z.number().int().min(0).default(0),
    })
    .prefault({}),
});

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;

/** Where each layer of configuration came from, for `scones config`. */
export interface ConfigSources {
  file?: string;
  env: string[];
  flags: string[];
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
  const sources: ConfigSources = { env: [], flags: [] };
  let raw: Record<string, unknown> = {};

  const file = options.file ?? (existsSync(join(cwd, DEFAULT_CONFIG_FILE)) ? DEFAULT_CONFIG_FILE : undefined);
  if (file !== undefined) {
    const path = join(cwd, file);
    if (!existsSync(path))
      throw new ConfigError(`config file ${file} does not exist: check the --config path`);
    let parsed: unknown;
    try {
      parsed = parseYaml(readFileSync(path, 'utf8'));
    } catch (error) {
      throw new ConfigError(`config file ${file} is not valid YAML: ${(error as Error).message}`);
    }
    if (parsed !== null && parsed !== undefined) {
      if (typeof parsed !== 'object' || Array.isArray(parsed))
        throw new ConfigError(`config file ${file} must hold a mapping of keys, not ${typeof parsed}`);
      raw = parsed as Record<string, unknown>;
    }
    sources.file = file;
  }

  for (const [name, value] of Object.entries(options.env ?? process.env)) {
    if (!name.startsWith(ENV.configPrefix) || value === undefined) continue;
    const key = envNameToKey(name);
    setPath(raw, key, parseScalar(value));
    sources.env.push(`${name} -> ${key}`);
  }
  for (const [key, value] of Object.entries(options.overrides ?? {})) {
    setPath(raw, key, value);
    sources.flags.push(key);
  }

  const result = configSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(formatConfigIssues(result.error, raw));
  return { config: resolvePaths(result.data, cwd), sources };
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

function setPath(target: Record<string, unknown>, dotted: string, value: unknown): void {
  const parts = dotted.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
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

function formatConfigIssues(error: z.ZodError, raw: unknown): string {
  const lines = error.issues.map((issue) => {
    const key = issue.path.map(String).join('.') || '(root)';
    if (issue.code === 'unrecognized_keys') {
      const prefix = key === '(root)' ? '' : `${key}.`;
      return `unknown key ${issue.keys.map((k) => `${prefix}${k}`).join(', ')}: remove it or check its spelling`;
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

/** JSON with sorted keys, so equal values always give equal digests. */
export function stableStringify(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The user's cache directory for downloads (XDG on Linux, ~/.cache otherwise). */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'scones');
}
