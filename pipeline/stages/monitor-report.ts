import type { Config } from '../config.js';
import type { Deployment } from '../contracts/deployment.js';
import type { EvaluationRecord } from '../contracts/evaluation.js';
import { captureHourOverlaps, datasetKeys, datasetPrefix } from '../contracts/layout.js';
import { DEFAULT_THRESHOLD } from '../contracts/threshold.js';
import { SconesError } from '../errors.js';
import { stageSection, type TrainRecord } from '../manifest.js';
import type { MonitorReporter, MonitorReportRequest, ObjectStore, ValidationPredictions } from '../ports.js';
import { readWentLive } from '../util/model-history-records.js';
import { getText } from '../util/object-text.js';
import { runCost, runUsageOf } from '../util/run-cost.js';
import { keyOfUri, parseS3Uri } from '../util/s3-uri.js';
import type { StageContext, StageResult } from './context.js';
import { readDatasetRecord } from './stage-data.js';
import { readTestExecutions } from './test-executions.js';
import { requireDeployment, requireStage } from './upstream.js';

/** Reads the endpoint's capture for this run's test executions and writes the report. */
export async function monitorReport(
  context: StageContext,
  reports: MonitorReporter,
): Promise<StageResult<'monitor-report'>> {
  const { config, backend, reporter, manifest, runId } = context;
  const store = backend.store;
  if (config.monitor.capture !== undefined) return standaloneReport(context, reports, config.monitor.capture);
  if (config.monitor.since !== undefined) return liveReport(context, reports, config.monitor.since);

  const dataset = requireStage(manifest, 'stage-data', 'monitor-report').outputs;
  const trainSection = requireStage(manifest, 'train', 'monitor-report');
  const model = trainSection.outputs;
  const deployment = requireDeployment(manifest, 'monitor-report');
  const executions = requireStage(manifest, 'test-executions', 'monitor-report').outputs;
  const document = await readTestExecutions(store, runId);
  const prefix = `${keyOfUri(deployment.captureUri).replace(/\/+$/, '')}/${deployment.endpointName}/`;
  // inferenceTime has one-second resolution: widen the window by a second on each side.
  const window = {
    from: Math.floor(Date.parse(executions.startedAt) / 1000) * 1000 - 1000,
    to: Date.parse(executions.finishedAt) + 1000,
  };
  const predictions = await validationPredictions(context, model);
  const evaluation = stageSection(manifest, 'evaluate')?.outputs;
  // On aws, capture reaches S3 minutes late: wait for it, and read only this run's files.
  const keys =
    (await backend.awaitCapture?.(
      { prefix, window, expected: document.results.filter((r) => r.outcome !== 'ERROR').length },
      reporter,
    )) ?? (await captureKeys(store, prefix));
  return finish(context, reports, {
    title: `Monitor report: run ${runId}`,
    classes: dataset.classes.map((c) => c.name),
    threshold: deployment.threshold,
    window,
    promisedAutomationRate: promiseOf(evaluation, deployment),
    baseline: predictions && { predictions, datasetPrefix: dataset.prefix },
    capture: { store, keys },
    header: {
      trainingId: model.trainingId,
      trainer: model.trainer,
      datasetDigest: dataset.digest,
      trainedAt: trainSection.finishedAt,
      endpoint: deployment.endpointName,
      thresholdSource: `deployed with ${deployment.stackName}`,
      runId,
      source: store.uri(prefix),
    },
    evaluation,
    executions: document.results,
    // The definition that ran: the one deployed, not the repository's (which may have changed since).
    definition: {
      text: await getText(store, deployment.definitionKey),
      where: store.uri(deployment.definitionKey),
    },
    cost: runCost(runUsageOf(manifest, config)),
  });
}

/**
 * The automation rate the deployed model promised: its held-out rate's lower bound, when the evaluation is
 * that model's and was measured at the threshold in force (the promise holds for nothing else).
 */
function promiseOf(evaluation: EvaluationRecord | undefined, deployment: Deployment): number | undefined {
  const automation = evaluation?.trainingId === deployment.trainingId ? evaluation.automation : undefined;
  return automation?.threshold === deployment.threshold
    ? automation.heldOut.automationRateInterval.low
    : undefined;
}

/** The model's validation predictions (the drift baseline); undefined, with a warning, when it has none. */
async function validationPredictions(
  { backend, reporter }: StageContext,
  model: TrainRecord,
): Promise<ValidationPredictions | undefined> {
  return backend.trainer.driftBaseline(model).catch((error: Error) => {
    reporter.warn(
      `no drift baseline for model ${model.trainingId} (${error.message}): the report measures no drift`,
    );
    return undefined;
  });
}

/** The .jsonl capture files under a prefix (those the filter keeps). */
async function captureKeys(
  store: ObjectStore,
  prefix: string,
  keep: (key: string) => boolean = () => true,
): Promise<string[]> {
  const keys: string[] = [];
  for await (const object of store.list(prefix))
    if (object.key.endsWith('.jsonl') && keep(object.key)) keys.push(object.key);
  return keys;
}

async function standaloneReport(
  context: StageContext,
  reports: MonitorReporter,
  capture: string,
): Promise<StageResult<'monitor-report'>> {
  const { config, backend } = context;
  const location = capture.startsWith('s3://') ? parseS3Uri(capture, '--capture') : undefined;
  // Any endpoint's capture bucket: the S3 data path, through the standard client and credential chain.
  const store = location && backend.bucketStore(location.bucket);
  return finish(context, reports, {
    title: `Monitor report: ${capture}`,
    classes: reports.classNames(config.data.classes),
    // No run chose a threshold for an outside capture: `auto` falls back to the filter's default.
    threshold: config.deploy.threshold === 'auto' ? DEFAULT_THRESHOLD : config.deploy.threshold,
    window: config.monitor.since === undefined ? undefined : recentWindow(config.monitor.since),
    capture:
      location === undefined || store === undefined
        ? { path: capture }
        : { store, keys: await captureKeys(store, location.key) },
    header: {
      thresholdSource:
        config.deploy.threshold === 'auto'
          ? "the filter's default (deploy.threshold is auto and no run chose one)"
          : 'configuration (capture from outside a run)',
      runId: context.runId,
      source: capture,
    },
  });
}

/** A report that belongs to no run: on capture from anywhere (--capture) or on a recent window (--since). */
export function outsideRun(config: Config): boolean {
  return config.monitor.capture !== undefined || config.monitor.since !== undefined;
}

const DURATION_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** `[now - since, now]` in ms; `since` is a duration the configuration checked (30m, 24h, 7d). */
export function recentWindow(since: string, now = Date.now()): { from: number; to: number } {
  const unit = since.slice(-1) as keyof typeof DURATION_MS;
  return { from: now - Number(since.slice(0, -1)) * DURATION_MS[unit], to: now };
}

/**
 * The live endpoint's capture over a recent window (the scheduled monitor): what is deployed now, its
 * capture destination, the hour folders the window touches, and the drift baseline of the model it serves.
 */
async function liveReport(
  context: StageContext,
  reports: MonitorReporter,
  since: string,
): Promise<StageResult<'monitor-report'>> {
  const { config, backend } = context;
  const deployment = await backend.deployment();
  if (deployment === undefined)
    throw new SconesError(
      `monitor-report --since ${since} reads the deployed endpoint's capture, but nothing is deployed: deploy first, or pass --capture`,
    );
  const window = recentWindow(since);
  const model = await backend.trainer.find(deployment.trainingId);
  const dataset =
    model === undefined
      ? undefined
      : await readDatasetRecord(backend.store, datasetKeys(datasetPrefix(model.datasetDigest)).record).catch(
          () => undefined,
        );
  const predictions =
    model !== undefined && dataset !== undefined ? await validationPredictions(context, model) : undefined;
  // What the live model promised: its newest going-live at the threshold in force, from the model history
  // (a damaged history fails the report, naming the object, rather than silently dropping the check).
  const evaluation = (await readWentLive(backend.store)).findLast(
    (r) => r.trainingId === deployment.trainingId && r.threshold === deployment.threshold,
  )?.evaluation;
  const { bucket, key } = parseS3Uri(deployment.captureUri, "the deployment's capture destination");
  const store = backend.bucketStore(bucket);
  const prefix = `${key.replace(/\/+$/, '')}/${deployment.endpointName}/`;
  return finish(context, reports, {
    title: `Monitor report: endpoint ${deployment.endpointName}, last ${since}`,
    classes: dataset?.classes.map((c) => c.name) ?? reports.classNames(config.data.classes),
    threshold: deployment.threshold,
    window,
    promisedAutomationRate: promiseOf(evaluation, deployment),
    baseline: predictions && dataset && { predictions, datasetPrefix: dataset.prefix },
    capture: {
      store,
      keys: await captureKeys(store, prefix, (k) => captureHourOverlaps(k, window) !== false),
    },
    header: {
      trainingId: deployment.trainingId,
      ...(model === undefined ? {} : { trainer: model.trainer, datasetDigest: model.datasetDigest }),
      endpoint: deployment.endpointName,
      thresholdSource: `deployed with ${deployment.stackName}`,
      runId: context.runId,
      source: `${store.uri(prefix)} since ${new Date(window.from).toISOString()}`,
    },
    evaluation,
  });
}

async function finish(
  context: StageContext,
  reports: MonitorReporter,
  request: Omit<MonitorReportRequest, 'workDir' | 'outsideRun' | 'minAccuracy'>,
): Promise<StageResult<'monitor-report'>> {
  const { config, backend, reporter } = context;
  const { outputs, warnings, markdown } = await reports.write(
    {
      ...request,
      minAccuracy: config.gate.minAccuracy,
      workDir: config.workDir,
      outsideRun: outsideRun(config),
    },
    backend.store,
    reporter,
  );
  return {
    inputsDigest: `${request.header.source}@${outputs.records}`,
    reused: false,
    outputs,
    summary: `report of ${outputs.records} captured inferences (${outputs.malformed} malformed, ${warnings} warnings) in ${outputs.reportDir}`,
    markdown,
    stepOutputs: { 'report-dir': outputs.reportDir, records: String(outputs.records) },
  };
}
