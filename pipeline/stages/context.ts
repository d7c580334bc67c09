import type { Config } from '../config.js';
import type { Reporter } from '../console-reporter.js';
import type { StageName } from '../constants.js';
import type { Manifest, StageOutputs } from '../manifest.js';
import type { Backend } from '../ports.js';

/** What every stage receives: typed configuration, the backend's ports, the run so far. */
export interface StageContext {
  config: Config;
  backend: Backend;
  reporter: Reporter;
  runId: string;
  /** The run's manifest before this stage; stages read earlier stages' outputs from it. */
  manifest: Manifest;
  /** The newest run before this one (`scones run` only): a stage may take over its result for the same inputs. */
  previousRun?: Manifest | undefined;
}

export interface StageResult<S extends StageName> {
  inputsDigest: string;
  /** True when the result already existed and the stage did no work. */
  reused: boolean;
  outputs: StageOutputs[S];
  /** One line for the console and the run summary. */
  summary: string;
  /** Markdown for the job summary in Actions. */
  markdown?: string;
  /** Step outputs in Actions. */
  stepOutputs?: Record<string, string>;
  /**
   * Files for later workflow steps, by name: the runner writes each in the run's folder and sets the step
   * output `<name without extension>-file` to its path (stages write no files themselves).
   */
  files?: Record<string, string>;
  /** True when the stage must leave the run's manifest unwritten (a change-set preview). */
  readOnly?: boolean;
}

export type Stage<S extends StageName> = (context: StageContext) => Promise<StageResult<S>>;
