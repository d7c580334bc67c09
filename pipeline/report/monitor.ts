import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative } from 'node:path';
import type { Reporter } from '../console-reporter.js';
import { reportPrefix } from '../contracts/layout.js';
import { resolveClasses } from '../data/sources.js';
import { SconesError } from '../errors.js';
import type { MonitorReporter, MonitorReportRequest, ObjectStore } from '../ports.js';
import { FILE_LIMITS, fixedLimit, readCheckedFile } from '../util/files.js';
import { getText } from '../util/object-text.js';
import { CaptureAggregator, type ReportInputs } from './aggregate.js';
import { reportCacheDir } from './cache.js';
import { labelsByInferenceId, trainingImageStatistics } from './read.js';
import { summaryMarkdown, writeReport } from './report.js';
import type { ReportContext } from './report-context.js';
import { parseDefinition } from './workflow-graph.js';

/** Reports on capture from outside the pipeline (--capture) belong to no run: they are kept here. */
export function captureReportsDir(workDir: string): string {
  return join(workDir, 'capture-reports');
}

const CONTENT_TYPES: Record<string, string> = {
  '.png': 'image/png',
  '.html': 'text/html',
  '.md': 'text/markdown',
};

/** The monitor-report stage's port: reads the capture, writes the report here and in the store. */
export const monitorReporter: MonitorReporter = {
  classNames: (classes) => resolveClasses(classes, 'images:').map((c) => c.name),
  async write(request, store, reporter) {
    const { runId } = request.header;
    const { classes, header, evaluation, executions, definition, cost } = request;
    const aggregator = new CaptureAggregator({
      classes,
      threshold: request.threshold,
      window: request.window,
      minAccuracy: request.minAccuracy,
      promisedAutomationRate: request.promisedAutomationRate,
      labels: executions && labelsByInferenceId(executions),
      baseline: await driftBaseline(request, store, reporter),
    });
    const capture = request.capture;
    if ('path' in capture) readCaptureFiles(capture.path, aggregator);
    else
      for (const key of capture.keys)
        aggregator.addFile(await getText(capture.store, key), capture.store.uri(key));
    const context: ReportContext = {
      classes,
      header,
      evaluation,
      executions,
      cost,
      ...(definition && { stateMachine: parseDefinition(definition.text, definition.where) }),
    };
    const summary = aggregator.summarize();
    // Where the report is written on this machine (the workflow uploads this folder as an artifact).
    const dir = request.outsideRun
      ? join(captureReportsDir(request.workDir), runId)
      : join(request.workDir, 'runs', runId, 'report');
    const keyPrefix = reportPrefix(runId, request.outsideRun);
    const files = await writeReport(
      dir,
      request.title,
      summary,
      aggregator,
      context,
      reportCacheDir(request.workDir),
    );
    for (const file of files)
      await store.put(`${keyPrefix}${file}`, readFileSync(join(dir, file)), {
        contentType: CONTENT_TYPES[extname(file)] ?? 'application/json',
      });
    if (summary.malformed.count > 0)
      reporter.warn(
        `${summary.malformed.count} malformed capture lines (first: ${JSON.stringify(summary.malformed.examples[0])})`,
      );
    const warnings = Object.entries(summary.verdicts).filter(([, v]) => v.verdict === 'warn');
    for (const [name, v] of warnings) reporter.warn(`monitor ${name}: ${v.detail}`);
    return {
      outputs: {
        reportDir: dir,
        reportUri: store.uri(keyPrefix),
        source: request.header.source,
        records: summary.records,
        malformed: summary.malformed.count,
        accuracy: summary.accuracy,
        shareUnderThreshold: summary.shareUnderThreshold,
        automationRate: summary.automationRate,
        promisedAutomationRate: summary.promisedAutomationRate,
        predictionsPerClass: summary.predictionsPerClass,
        verdicts: Object.fromEntries(Object.entries(summary.verdicts).map(([k, v]) => [k, v.verdict])),
      },
      warnings: warnings.length,
      markdown: summaryMarkdown(request.title, summary, context),
    };
  },
};

/** The model's validation predictions with statistics of its training images; none, with a warning, when unreadable. */
async function driftBaseline(
  request: MonitorReportRequest,
  store: ObjectStore,
  reporter: Reporter,
): Promise<ReportInputs['baseline']> {
  if (request.baseline === undefined) return undefined;
  try {
    const images = await trainingImageStatistics(
      store,
      request.baseline.datasetPrefix,
      undefined,
      undefined,
      reportCacheDir(request.workDir),
    );
    return { ...request.baseline.predictions, images };
  } catch (error) {
    reporter.warn(
      `no drift baseline for model ${request.header.trainingId} (${(error as Error).message}): the report measures no drift`,
    );
    return undefined;
  }
}

/** A local .jsonl capture file, or a folder of them (--capture). */
function readCaptureFiles(capture: string, aggregator: CaptureAggregator): void {
  if (!existsSync(capture))
    throw new SconesError(
      `--capture ${capture} does not exist: pass a folder of .jsonl files or an s3:// prefix`,
    );
  // Anything but a folder is read as one capture file, and refused by name if it is not a regular one.
  const files = statSync(capture).isDirectory()
    ? readdirSync(capture, { recursive: true, encoding: 'utf8' })
        .filter((name) => name.endsWith('.jsonl'))
        .sort()
        .map((name) => join(capture, name))
    : [capture];
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
