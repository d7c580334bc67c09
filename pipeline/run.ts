import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type Config, configDigest } from './config.js';
import { STAGES, type StageName } from './constants.js';
import { SconesError } from './errors.js';
import { type Manifest, newManifest, newRunId, type StageRecord, withStage } from './manifest.js';
import type { Backend } from './ports.js';
import type { Stage, StageContext, StageResult } from './stages/context.js';
/** Each stage's implementation, loaded when the stage runs: a stage pays for its own heavy modules only. */
export const STAGE_IMPLEMENTATIONS: { [S in StageName]: () => Promise<Stage<S>> } = {
  'stage-data': async () => {
    const [{ stageData }, { readDataset }] = await Promise.all([
      import('./stages/stage-data.js'),
      import('./data/sources.js'),
    ]);
    return (context) => stageData(context, readDataset);
  },
  train: async () => (await import('./stages/train.js')).train,
  evaluate: async () => (await import('./stages/evaluate.js')).evaluate,
  gate: async () => (await import('./stages/gate.js')).gate,
  deploy: async () => {
    const [{ deploy }, { currentCommit }] = await Promise.all([
      import('./stages/deploy.js'),
      import('./model-history.js'),
    ]);
    return (context) => deploy(context, () => currentCommit(process.env, process.cwd()));
  },
  'test-executions': async () => (await import('./stages/test-executions.js')).testExecutions,
  'monitor-report': async () => {
    const [{ monitorReport }, { monitorReporter }] = await Promise.all([
      import('./stages/monitor-report.js'),
      import('./report/monitor.js'),
    ]);
    return (context) => monitorReport(context, monitorReporter);
  },
};

/** Stages that start a new run when no --run-id is given; the others continue the newest run. */
const STARTS_A_RUN: ReadonlySet<string> = new Set(['stage-data', 'run']);

/** Picks the run: the given id, a new one, or the newest run for stages that continue one. */
export async function resolveRun(
  backend: Backend,
  config: Config,
  command: string,
  runId: string | undefined,
): Promise<Manifest> {
  // A given id has passed --run-id's check (cli/options.ts runIdOption) before any command runs.
  if (runId !== undefined)
    return (await backend.manifests.load(runId)) ?? newManifest(runId, backend.name, configDigest(config));
  if (STARTS_A_RUN.has(command)) return newManifest(newRunId(), backend.name, configDigest(config));
  const latest = await backend.manifests.latestRunId();
  if (latest === undefined)
    throw new SconesError(
      `no run to continue: start one with \`scones stage-data\` or \`scones run\`, or pass --run-id`,
    );
  const manifest = await backend.manifests.load(latest);
  if (manifest === undefined) throw new SconesError(`run ${latest} has no manifest`);
  return manifest;
}

/**
 * Runs one stage and records it. The manifest is written only after the stage completes, so a failed
 * or interrupted stage leaves the last good manifest as it was.
 */
export async function executeStage<S extends StageName>(
  stage: S,
  context: Omit<StageContext, 'runId'>,
  now: () => Date = () => new Date(),
): Promise<{ manifest: Manifest; record: StageRecord<S>; result: StageResult<S> }> {
  const implementation = (await STAGE_IMPLEMENTATIONS[stage]()) as Stage<S>;
  const { reporter, backend } = context;
  return reporter.group(stage, async () => {
    const started = now();
    const result = await implementation({ ...context, runId: context.manifest.runId });
    const finished = now();
    const record: StageRecord<S> = {
      inputsDigest: result.inputsDigest,
      startedAt: started.toISOString(),
      finishedAt: finished.toISOString(),
      durationMs: finished.getTime() - started.getTime(),
      reused: result.reused,
      outputs: result.outputs,
    };
    const manifest = {
      ...withStage(context.manifest, stage, record),
      configDigest: configDigest(context.config),
    };
    // A preview is read-only end to end (its role may not write): the run's manifest stays as it was.
    if (!result.readOnly) await backend.manifests.save(manifest);
    reporter.info(
      `${stage} ${result.reused ? 'reused' : 'done'} in ${(record.durationMs / 1000).toFixed(1)}s: ${result.summary}`,
    );
    for (const [name, value] of Object.entries(result.stepOutputs ?? {})) reporter.output(name, value);
    for (const [name, content] of Object.entries(result.files ?? {})) {
      const path = join(context.config.workDir, 'runs', manifest.runId, name);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, content);
      reporter.output(`${name.replace(/\.[^.]*$/, '')}-file`, path);
    }
    reporter.output('run-id', manifest.runId);
    reporter.output('manifest', backend.manifests.location(manifest.runId));
    if (result.markdown !== undefined)
      await reporter.summary(
        `${result.markdown}\nRun manifest: \`${backend.manifests.location(manifest.runId)}\`\n`,
      );
    return { manifest, record, result };
  });
}

/** The newest run other than this one: read before this run saves its manifest, the run before it. */
async function previousRun(backend: Backend, runId: string): Promise<Manifest | undefined> {
  const latest = await backend.manifests.latestRunId();
  if (latest === undefined || latest === runId) return undefined;
  return backend.manifests.load(latest).catch((error: unknown) => {
    if (error instanceof SconesError) return undefined; // a damaged manifest only has nothing to take over
    throw error;
  });
}

/**
 * Runs stages in pipeline order under one run id, stopping at the first failure. A stage may take over
 * the previous run's result when its inputs are the same (test-executions does).
 */
export async function executeStages(
  stages: readonly StageName[],
  context: Omit<StageContext, 'runId'>,
): Promise<{ manifest: Manifest; reused: StageName[] }> {
  let manifest = context.manifest;
  const reused: StageName[] = [];
  const previous = await previousRun(context.backend, manifest.runId);
  for (const stage of STAGES.filter((s) => stages.includes(s))) {
    const outcome = await executeStage(stage, { ...context, manifest, previousRun: previous });
    manifest = outcome.manifest;
    if (outcome.record.reused) reused.push(stage);
  }
  return { manifest, reused };
}
