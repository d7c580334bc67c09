/** Names shared across the CLI, the workflows, the manifest and the environment, kept in one place. */

/** The pipeline's stages, in the order `scones run` executes them. */
export const STAGES = [
  'stage-data',
  'train',
  'evaluate',
  'gate',
  'deploy',
  'test-executions',
  'monitor-report',
] as const;
export type StageName = (typeof STAGES)[number];

export const BACKENDS = ['local', 'aws'] as const;
export type BackendName = (typeof BACKENDS)[number];

/** Process exit codes, documented in docs/commands.md. */
export const ExitCode = {
  Ok: 0,
  /** The stage failed: bad input, a failed job, a rejected model. */
  Failure: 1,
  /** The command line was wrong: unknown flag or value. */
  Usage: 2,
  /** Interrupted by SIGINT/SIGTERM. */
  Interrupted: 130,
} as const;

export const ENV = {
  /** Prefix of configuration overrides: SCONES_GATE__MIN_ACCURACY=0.9 sets gate.minAccuracy. */
  configPrefix: 'SCONES_',
  /** Set to print stack traces of unexpected errors; not a configuration key, so loadConfig ignores it. */
  debug: 'SCONES_DEBUG',
  githubActions: 'GITHUB_ACTIONS',
  s3Endpoint: 'AWS_ENDPOINT_URL_S3',
  sagemakerRuntimeEndpoint: 'AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME',
  ci: 'CI',
} as const;

export const DEFAULT_CONFIG_FILE = 'scones.config.yaml';
export const MANIFEST_SCHEMA_VERSION = 1;

/** Object-store layout (keys below the artifact bucket): the contract in contracts/layout.ts. */
export { KEYS } from './contracts/layout.js';

/** Stage flags of the CLI and the configuration key each one sets (also the workflow_dispatch inputs' targets). */
export const FLAG_KEYS = {
  source: 'data.source',
  epochs: 'train.epochs',
  reuseLastModel: 'train.reuseLastModel',
  minAccuracy: 'gate.minAccuracy',
  maxRegression: 'gate.maxRegression',
  force: 'gate.force',
  preview: 'deploy.preview',
  count: 'testExecutions.count',
  capture: 'monitor.capture',
  since: 'monitor.since',
} as const;
export type FlagName = keyof typeof FLAG_KEYS;
