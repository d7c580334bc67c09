import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Config } from '../config.js';
import { datasetKeys, datasetPrefix, reportPrefix } from '../contracts/layout.js';
import { DEFAULT_THRESHOLD } from '../contracts/threshold.js';
import { resolveClasses } from '../data/sources.js';
import { SconesError } from '../errors.js';
import { stageSection } from '../manifest.js';
import type { ObjectStore } from '../ports.js';
import { trainingImageStatistics } from '../report/read.js';
import {
  aggregateFromStore,
  CaptureAggregator,
  labelsByInferenceId,
  type ReportContext,
  type ReportInputs,
  summaryMarkdown,
  writeReport,
} from '../report/report.js';
import { parseDefinition } from '../report/workflow-graph.js';
import { FILE_LIMITS, fixedLimit, readCheckedFile } from '../util/files.js';
import { getText } from '../util/object-text.js';
import { runCost, runUsageOf } from '../util/run-cost.js';
import { keyOfUri, parseS3Uri } from '../util/s3-uri.js';
import type { StageContext, StageResult } from './context.js';
import { readDatasetRecord } from './stage-data.js';
import { readTestExecutions } from './test-executions.js';
import { requireDeployment, requireStage } from './upstream.js';

/** Where the report is written on this machine (the workflow uploads this folder as an artifact). */
export function reportDir(workDir: string, runId: string): string {
  return join(workDir, 'runs', runId, 'report');
}

/** Reports on capture from outside the pipeline (--capture) belong to no run: they are kept here. */
export function captureReportsDir(workDir: string): string {
  return join(workDir, 'capture-reports');
}

/** Reads the endpoint's capture for this run's test executions and writes the report. */
export async function monitorReport(context: StageContext): Promise<StageResult<'monitor-report'>> {
  const { config, backend, reporter, manifest, runId } = context;
  const store = backend.store;
  if (config.monitor.capture !== undefined) return standaloneReport(context, config.monitor.capture);
  if (config.monitor.since !== undefined) return liveReport(context, config.monitor.since);

  const dataset = requireStage(manifest, 'stage-data', 'monitor-report').outputs;
  const model = requireStage(manifest, 'train', 'monitor-report').outputs;
  const deployment = requireDeployment(manifest, 'monitor-report');
  const executions = requireStage(manifest, 'test-executions', 'monitor-report').outputs;
  const document = await readTestExecutions(store, runId);
  const prefix = `${keyOfUri(deployment.captureUri).replace(/\/+$/, '')}/${deployment.endpointName}/`;
  // inferenceTime has one-second resolution: widen the window by a second on each side.
  const window = {
    from: Math.floor(Date.parse(executions.startedAt) / 1000) * 1000 - 1000,
    to: Date.parse(executions.finishedAt) + 1000,
  };
  let baseline: ReportInputs['baseline'];
  try {
    const predictions = await backend.trainer.driftBaseline(model);
    baseline = { ...predictions, images: await trainingImageStatistics(store, dataset.prefix) };
  } catch (error) {
    reporter.warn(
      `no drift baseline for model ${model.trainingId} (${(error as Error).message}): the report measures no drift`,
    );
  }
  const classes = dataset.classes.map((c) => c.name);
  const evaluation = stageSection(manifest, 'evaluate')?.outputs;
  // The promise holds for the model and threshold it was measured at: the run's evaluation, if deployed as is.
  const automation = evaluation?.trainingId === deployment.trainingId ? evaluation.automation : undefined;
  const promise =
    automation?.threshold === deployment.threshold
      ? automation.heldOut.automationRateInterval.low
      : undefined;
  const aggregator = new CaptureAggregator({
    classes,
    threshold: deployment.threshold,
    window,
    labels: labelsByInferenceId(document.results.map((r) => ({ s3Key: r.s3Key, label: r.label }))),
    minAccuracy: config.gate.minAccuracy,
    ...(promise === undefined ? {} : { promisedAutomationRate: promise }),
    ...(baseline === undefined ? {} : { baseline }),
  });
  // On aws, capture reaches S3 minutes late: wait for it, and read only this run's files.
  const captureKeys = await backend.awaitCapture?.(
    { prefix, window, expected: document.results.filter((r) => r.outcome !== 'ERROR').length },
    reporter,
  );
  if (captureKeys === undefined) await aggregateFromStore(store, prefix, aggregator);
  else for (const key of captureKeys) aggregator.addFile(await getText(store, key), store.uri(key));
  const trainSection = requireStage(manifest, 'train', 'monitor-report');
  return finish(context, aggregator, `Monitor report: run ${runId}`, {
    classes,
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
    ...(evaluation === undefined ? {} : { evaluation }),
    executions: document.results,
    // The definition that ran: the one deployed, not the repository's (which may have changed since).
    stateMachine: parseDefinition(
      await getText(store, deployment.definitionKey),
      store.uri(deployment.definitionKey),
    ),
    cost: runCost(runUsageOf(manifest, config)),
  });
}

async function standaloneReport(
  context: StageContext,
  capture: string,
): Promise<StageResult<'monitor-report'>> {
  const { config, backend } = context;
  const classes = resolveClasses(config.data.classes, 'images:').map((c) => c.name);
  // No run chose a threshold for an outside capture: `auto` falls back to the filter's default.
  const explicitThreshold = config.deploy.threshold === 'auto' ? DEFAULT_THRESHOLD : config.deploy.threshold;
  const aggregator = new CaptureAggregator({
    classes,
    threshold: explicitThreshold,
    minAccuracy: config.gate.minAccuracy,
    ...(config.monitor.since === undefined ? {} : { window: recentWindow(config.monitor.since) }),
  });
  if (capture.startsWith('s3://')) {
    const location = parseS3Uri(capture, '--capture');
    // Any endpoint's capture bucket: the S3 data path, through the standard client and credential chain.
    await aggregateFromStore(backend.bucketStore(location.bucket), location.key, aggregator);
  } else {
    if (!existsSync(capture))
      throw new SconesError(
        `--capture ${capture} does not exist: pass a folder of .jsonl files or an s3:// prefix`,
      );
    const files = jsonlFiles(capture);
    if (files.length === 0)
      throw new SconesError(
        `--capture ${capture} holds no .jsonl files: pass the folder the endpoint's data capture wrote (or an s3:// prefix)`,
      );
    for (const file of files) {
      const shown = relative(process.cwd(), file) || file;
      // A link is followed and its target checked: a FIFO, device or folder is refused by name.
      const text = readCheckedFile(file, `capture file ${shown}`, {
        maxBytes: FILE_LIMITS.capture,
        overLimit: fixedLimit('capture files', 'split the file or pass a folder of smaller .jsonl files'),
        expected: 'a .jsonl capture file: pass a folder of .jsonl files (rename or remove this one)',
      });
      aggregator.addFile(text.toString('utf8'), shown);
    }
  }
  return finish(context, aggregator, `Monitor report: ${capture}`, {
    classes,
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
async function liveReport(context: StageContext, since: string): Promise<StageResult<'monitor-report'>> {
  const { config, backend, reporter } = context;
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
  let baseline: ReportInputs['baseline'];
  if (model !== undefined && dataset !== undefined)
    try {
      const predictions = await backend.trainer.driftBaseline(model);
      baseline = { ...predictions, images: await trainingImageStatistics(backend.store, dataset.prefix) };
    } catch (error) {
      reporter.warn(
        `no drift baseline for model ${model.trainingId} (${(error as Error).message}): the report measures no drift`,
      );
    }
  const classes =
    dataset?.classes.map((c) => c.name) ?? resolveClasses(config.data.classes, 'images:').map((c) => c.name);
  const aggregator = new CaptureAggregator({
    classes,
    threshold: deployment.threshold,
    window,
    minAccuracy: config.gate.minAccuracy,
    ...(baseline === undefined ? {} : { baseline }),
  });
  const { bucket, key } = parseS3Uri(deployment.captureUri, "the deployment's capture destination");
  const store = backend.bucketStore(bucket);
  const prefix = `${key.replace(/\/+$/, '')}/${deployment.endpointName}/`;
  for await (const object of store.list(prefix))
    if (object.key.endsWith('.jsonl') && hourMayOverlap(object.key, window))
      aggregator.addFile(await getText(store, object.key), store.uri(object.key));
  return finish(context, aggregator, `Monitor report: endpoint ${deployment.endpointName}, last ${since}`, {
    classes,
    header: {
      trainingId: deployment.trainingId,
      ...(model === undefined ? {} : { trainer: model.trainer, datasetDigest: model.datasetDigest }),
      endpoint: deployment.endpointName,
      thresholdSource: `deployed with ${deployment.stackName}`,
      runId: context.runId,
      source: `${store.uri(prefix)} since ${new Date(window.from).toISOString()}`,
    },
  });
}

/** Capture files sit in their hour's folder (`.../yyyy/mm/dd/hh/`): skip the hours the window misses. */
function hourMayOverlap(key: string, window: { from: number; to: number }): boolean {
  const hour = /\/(\d{4})\/(\d{2})\/(\d{2})\/(\d{2})\/[^/]+$/.exec(key);
  if (hour === null) return true;
  const start = Date.UTC(Number(hour[1]), Number(hour[2]) - 1, Number(hour[3]), Number(hour[4]));
  return start <= window.to && start + 3_600_000 > window.from;
}

function jsonlFiles(path: string): string[] {
  // Anything but a folder is read as one capture file, and refused by name if it is not a regular one.
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.jsonl'))
    .sort()
    .map((name) => join(path, name));
}

async function finish(
  context: StageContext,
  aggregator: CaptureAggregator,
  title: string,
  reportContext: ReportContext,
): Promise<StageResult<'monitor-report'>> {
  const { config, backend, reporter, runId } = context;
  const source = reportContext.header.source;
  const summary = aggregator.summarize();
  const outside = outsideRun(config);
  const dir = outside ? join(captureReportsDir(config.workDir), runId) : reportDir(config.workDir, runId);
  const keyPrefix = reportPrefix(runId, outside);
  const files = await writeReport(dir, title, summary, aggregator, reportContext);
  await uploadReport(backend.store, dir, keyPrefix, files);
  if (summary.malformed.count > 0)
    reporter.warn(
      `${summary.malformed.count} malformed capture lines (first: ${JSON.stringify(summary.malformed.examples[0])})`,
    );
  const warnings = Object.entries(summary.verdicts).filter(([, v]) => v.verdict === 'warn');
  for (const [name, v] of warnings) reporter.warn(`monitor ${name}: ${v.detail}`);
  return {
    inputsDigest: `${source}@${summary.records}`,
    reused: false,
    outputs: {
      reportDir: dir,
      reportUri: backend.store.uri(keyPrefix),
      source,
      records: summary.records,
      malformed: summary.malformed.count,
      accuracy: summary.accuracy,
      shareUnderThreshold: summary.shareUnderThreshold,
      automationRate: summary.automationRate,
      promisedAutomationRate: summary.promisedAutomationRate,
      predictionsPerClass: summary.predictionsPerClass,
      verdicts: Object.fromEntries(Object.entries(summary.verdicts).map(([k, v]) => [k, v.verdict])),
    },
    summary: `report of ${summary.records} captured inferences (${summary.malformed.count} malformed, ${warnings.length} warnings) in ${dir}`,
    markdown: summaryMarkdown(title, summary, reportContext),
    stepOutputs: { 'report-dir': dir, records: String(summary.records) },
  };
}

async function uploadReport(
  store: ObjectStore,
  dir: string,
  keyPrefix: string,
  files: string[],
): Promise<void> {
  for (const file of files)
    await store.put(`${keyPrefix}${file}`, readFileSync(join(dir, file)), {
      contentType: file.endsWith('.png')
        ? 'image/png'
        : file.endsWith('.html')
          ? 'text/html'
          : file.endsWith('.md')
            ? 'text/markdown'
            : 'application/json',
    });
}
