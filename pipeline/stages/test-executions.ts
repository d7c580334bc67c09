import { KEYS } from '../constants.js';
import { parseLst } from '../data/lst.js';
import { seededRandom, shuffled } from '../data/random.js';
import { StageFailedError } from '../errors.js';
import type { DatasetRecord } from '../manifest.js';
import type { ExecutionResult, ObjectStore } from '../ports.js';
import { mapConcurrent } from '../util/concurrency.js';
import { getText } from '../util/object-text.js';
import type { StageContext, StageResult } from './context.js';
import { requireStage } from './upstream.js';

/** One test case: the reference workflow's input, with the true label kept aside. */
export interface TestCase {
  index: number;
  name: string;
  label: number;
  input: { image_data: ''; s3_bucket: string; s3_key: string };
}

export type Outcome = 'SUCCEEDED' | 'FILTERED' | 'ERROR';

export interface CaseResult {
  index: number;
  name: string;
  s3Key: string;
  label: number;
  outcome: Outcome;
  predicted?: number;
  confidence?: number;
  error?: string;
  cause?: string;
  durationMs: number;
}

export interface ExecutionsSummary {
  total: number;
  succeeded: number;
  filtered: number;
  errors: number;
  /**
   * Passed cases whose prediction was wrong. Not an accuracy: the passed cases are the confident ones,
   * so their share correct flatters the model. The one accuracy over every execution with ground truth
   * (filtered included) is the monitor report's, from the endpoint's capture.
   */
  passedButWrong: number;
  filteredShare: number;
  durationMs: { p50: number; max: number; total: number };
}

/**
 * `count` cases from the test split, drawn with a seed and stratified by class (round-robin over the
 * classes' shuffled images), never the same image twice.
 */
export function drawTestCases(options: {
  entries: readonly { label: number; path: string }[];
  count: number;
  seed: number;
  bucket: string;
  prefix: string;
  runId: string;
}): TestCase[] {
  const random = seededRandom(options.seed);
  const byLabel = new Map<number, { label: number; path: string }[]>();
  for (const entry of options.entries) byLabel.set(entry.label, [...(byLabel.get(entry.label) ?? []), entry]);
  const queues = [...byLabel.keys()]
    .sort((a, b) => a - b)
    .map((label) => shuffled(byLabel.get(label) ?? [], random));
  const picked: { label: number; path: string }[] = [];
  while (picked.length < options.count && queues.some((q) => q.length > 0)) {
    for (const queue of queues) {
      const next = queue.shift();
      if (next !== undefined && picked.length < options.count) picked.push(next);
    }
  }
  return picked.map((entry, index) => ({
    index,
    name: executionName(options.runId, index),
    label: entry.label,
    input: { image_data: '', s3_bucket: options.bucket, s3_key: `${options.prefix}test/${entry.path}` },
  }));
}

/** Step Functions execution names: up to 80 of [A-Za-z0-9-_], unique per run and case. */
export function executionName(runId: string, index: number): string {
  const suffix = `-case-${String(index).padStart(3, '0')}`;
  return `${runId.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 80 - suffix.length)}${suffix}`;
}

/** Sorts an execution into succeeded (with prediction), filtered (low confidence) or error. */
export function classifyOutcome(testCase: TestCase, result: ExecutionResult): CaseResult {
  const base = {
    index: testCase.index,
    name: testCase.name,
    s3Key: testCase.input.s3_key,
    label: testCase.label,
    durationMs: result.durationMs,
  };
  if (result.status === 'SUCCEEDED') {
    const inferences = (result.output as { body?: { inferences?: unknown } } | undefined)?.body?.inferences;
    if (
      Array.isArray(inferences) &&
      inferences.length > 0 &&
      inferences.every((p) => typeof p === 'number')
    ) {
      const confidence = Math.max(...(inferences as number[]));
      return {
        ...base,
        outcome: 'SUCCEEDED',
        predicted: (inferences as number[]).indexOf(confidence),
        confidence,
      };
    }
    return {
      ...base,
      outcome: 'ERROR',
      error: 'UnexpectedOutput',
      cause: `output has no inferences: ${JSON.stringify(result.output).slice(0, 200)}`,
    };
  }
  if (result.error === 'ThresholdConfidenceNotMet')
    return {
      ...base,
      outcome: 'FILTERED',
      error: result.error,
      ...(result.cause === undefined ? {} : { cause: result.cause }),
    };
  return {
    ...base,
    outcome: 'ERROR',
    error: result.error ?? result.status,
    ...(result.cause === undefined ? {} : { cause: result.cause }),
  };
}

export function summarize(results: readonly CaseResult[]): ExecutionsSummary {
  const succeeded = results.filter((r) => r.outcome === 'SUCCEEDED');
  const correct = succeeded.filter((r) => r.predicted === r.label).length;
  const durations = results.map((r) => r.durationMs).sort((a, b) => a - b);
  return {
    total: results.length,
    succeeded: succeeded.length,
    filtered: results.filter((r) => r.outcome === 'FILTERED').length,
    errors: results.filter((r) => r.outcome === 'ERROR').length,
    passedButWrong: succeeded.length - correct,
    filteredShare:
      results.length === 0
        ? 0
        : round(results.filter((r) => r.outcome === 'FILTERED').length / results.length),
    durationMs: {
      p50: durations[Math.floor((durations.length - 1) / 2)] ?? 0,
      max: durations.at(-1) ?? 0,
      total: durations.reduce((a, b) => a + b, 0),
    },
  };
}

function round(value: number): number {
  return Math.round(value * 10000) / 10000;
}

export function testExecutionsKey(runId: string): string {
  return `${KEYS.runs}/${runId}/test-executions.json`;
}

async function loadCases(
  store: ObjectStore,
  dataset: DatasetRecord,
  count: number,
  seed: number,
  runId: string,
) {
  const lstKey = `${dataset.prefix}test.lst`;
  const entries = parseLst(await getText(store, lstKey), store.uri(lstKey));
  return drawTestCases({ entries, count, seed, bucket: store.bucket, prefix: dataset.prefix, runId });
}

/** Runs the deployed state machine on test images and records each outcome. */
export async function testExecutions(context: StageContext): Promise<StageResult<'test-executions'>> {
  const { backend, config, reporter, manifest, runId } = context;
  const dataset = requireStage(manifest, 'stage-data', 'test-executions').outputs;
  const deployment = requireStage(manifest, 'deploy', 'test-executions').outputs;
  const settings = config.testExecutions;
  const cases = await loadCases(backend.store, dataset, settings.count, settings.seed, runId);
  const startedAt = new Date().toISOString();
  const workflow = await backend.openWorkflow(deployment, reporter);
  let results: CaseResult[];
  try {
    const progress = reporter.progress('test executions', cases.length, 'executions');
    results = await mapConcurrent(cases, settings.concurrency, async (testCase) => {
      const result = classifyOutcome(
        testCase,
        await workflow.execute({ name: testCase.name, input: testCase.input }),
      );
      progress.tick(1, `${result.name}: ${result.outcome}${result.error ? ` (${result.error})` : ''}`);
      return result;
    });
    progress.done();
  } finally {
    await workflow.close();
  }
  const finishedAt = new Date().toISOString();
  const summary = summarize(results);
  const document = {
    runId,
    startedAt,
    finishedAt,
    endpointName: deployment.endpointName,
    trainingId: deployment.trainingId,
    summary,
    results,
  };
  const key = testExecutionsKey(runId);
  await backend.store.put(key, `${JSON.stringify(document, null, 2)}\n`, { contentType: 'application/json' });
  const line = `${summary.total} executions: ${summary.succeeded} succeeded, ${summary.filtered} filtered (low confidence), ${summary.errors} errors; ${summary.passedButWrong} passed with a wrong class`;
  if (summary.errors > settings.errorBudget) {
    const examples = results
      .filter((r) => r.outcome === 'ERROR')
      .slice(0, 3)
      .map((r) => `${r.name}: ${r.error}: ${r.cause ?? ''}`.slice(0, 300));
    throw new StageFailedError(
      `${line}; ${summary.errors} over the error budget of ${settings.errorBudget} (testExecutions.errorBudget): ${examples.join(' | ')}; details in ${backend.store.uri(key)}`,
    );
  }
  return {
    inputsDigest: `${deployment.deploymentDigest}-${settings.count}-${settings.seed}`,
    reused: false,
    outputs: { resultsUri: backend.store.uri(key), startedAt, finishedAt, summary },
    summary: line,
    markdown: [
      '### test-executions',
      '',
      '| total | succeeded | filtered | errors | passed but wrong | p50 ms |',
      '| --- | --- | --- | --- | --- | --- |',
      `| ${summary.total} | ${summary.succeeded} | ${summary.filtered} | ${summary.errors} | ${summary.passedButWrong} | ${summary.durationMs.p50} |`,
      '',
    ].join('\n'),
    stepOutputs: {
      succeeded: String(summary.succeeded),
      filtered: String(summary.filtered),
      errors: String(summary.errors),
    },
  };
}
