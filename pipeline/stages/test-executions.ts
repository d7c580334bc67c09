import { createHash } from 'node:crypto';
import type { Deployment } from '../contracts/deployment.js';
import { LAMBDA_ERROR_NAMES, workflowOutputSchema } from '../contracts/lambda.js';
import { datasetImagesPrefix, datasetListKey, testExecutionsKey } from '../contracts/layout.js';
import {
  type CaseResult,
  type ExecutionsSummary,
  type TestExecutionsDocument,
  testExecutionsDocumentSchema,
} from '../contracts/test-executions.js';
import { StageFailedError } from '../errors.js';
import { type DatasetRecord, stageSection } from '../manifest.js';
import type { ExecutionResult, ObjectStore } from '../ports.js';
import { mapConcurrent } from '../util/concurrency.js';
import { parseLst } from '../util/lst.js';
import { getJson, getText } from '../util/object-text.js';
import { seededRandom, shuffled } from '../util/random.js';
import { stableStringify } from '../util/stable-json.js';
import type { StageContext, StageResult } from './context.js';
import { requireDeployment, requireStage } from './upstream.js';

/** One test case: the reference workflow's input, with the true label kept aside. */
export interface TestCase {
  index: number;
  name: string;
  label: number;
  input: { image_data: ''; s3_bucket: string; s3_key: string };
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
    input: {
      image_data: '',
      s3_bucket: options.bucket,
      s3_key: `${datasetImagesPrefix(options.prefix, 'test')}${entry.path}`,
    },
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
    const output = workflowOutputSchema.safeParse(result.output);
    if (output.success) {
      const { inferences } = output.data.body;
      const confidence = Math.max(...inferences);
      return { ...base, outcome: 'SUCCEEDED', predicted: inferences.indexOf(confidence), confidence };
    }
    return {
      ...base,
      outcome: 'ERROR',
      error: 'UnexpectedOutput',
      cause: `output has no inferences: ${JSON.stringify(result.output).slice(0, 200)}`,
    };
  }
  const stopped = {
    ...(result.cause === undefined ? {} : { cause: result.cause }),
    ...(result.failedState === undefined ? {} : { failedState: result.failedState }),
  };
  if (result.error === LAMBDA_ERROR_NAMES.thresholdConfidenceNotMet)
    return { ...base, outcome: 'FILTERED', error: result.error, ...stopped };
  return { ...base, outcome: 'ERROR', error: result.error ?? result.status, ...stopped };
}

export function summarize(results: readonly CaseResult[]): ExecutionsSummary {
  const succeeded = results.filter((r) => r.outcome === 'SUCCEEDED');
  const correct = succeeded.filter((r) => r.predicted === r.label).length;
  const durations = results.map((r) => r.durationMs).sort((a, b) => a - b);
  const filtered = results.filter((r) => r.outcome === 'FILTERED').length;
  return {
    total: results.length,
    succeeded: succeeded.length,
    filtered,
    errors: results.filter((r) => r.outcome === 'ERROR').length,
    passedButWrong: succeeded.length - correct,
    filteredShare: results.length === 0 ? 0 : Math.round((filtered / results.length) * 10000) / 10000,
    durationMs: {
      p50: durations[Math.floor((durations.length - 1) / 2)] ?? 0,
      max: durations.at(-1) ?? 0,
      total: durations.reduce((a, b) => a + b, 0),
    },
  };
}

/** Reads a run's test-executions document back, checked against its contract. */
export function readTestExecutions(store: ObjectStore, runId: string): Promise<TestExecutionsDocument> {
  return getJson(
    store,
    testExecutionsKey(runId),
    testExecutionsDocumentSchema,
    'a test-executions document',
    'run test-executions again',
  );
}

/**
 * The previous run's executions when they drew the same cases (dataset, count, seed) and ran them on the
 * same deployment, which is still the live one: running them again would repeat them, so `run` takes them
 * over (an explicit `scones test-executions` has no previous run and always executes).
 */
async function previousExecutions(
  context: StageContext,
  inputsDigest: string,
  deployment: Deployment,
): Promise<TestExecutionsDocument | undefined> {
  const { previousRun, backend, reporter } = context;
  if (previousRun === undefined) return undefined;
  if (stageSection(previousRun, 'test-executions')?.inputsDigest !== inputsDigest) return undefined;
  if (stableStringify(await backend.deployment()) !== stableStringify(deployment)) return undefined;
  const document = await readTestExecutions(backend.store, previousRun.runId).catch(() => undefined);
  if (document !== undefined)
    reporter.info(
      `run ${previousRun.runId} ran these ${document.summary.total} executions on this deployment: not running them again`,
    );
  return document;
}

/** Runs the drawn cases through the deployed state machine and records each outcome. */
async function execute(
  context: StageContext,
  dataset: DatasetRecord,
  deployment: Deployment,
): Promise<TestExecutionsDocument> {
  const { backend, config, reporter, runId } = context;
  const { count, seed, concurrency } = config.testExecutions;
  const { store } = backend;
  const lstKey = datasetListKey(dataset.prefix, 'test');
  const entries = parseLst(await getText(store, lstKey), store.uri(lstKey));
  const cases = drawTestCases({ entries, count, seed, bucket: store.bucket, prefix: dataset.prefix, runId });
  const startedAt = new Date().toISOString();
  const workflow = await backend.openWorkflow(deployment, reporter);
  let results: CaseResult[];
  try {
    const progress = reporter.progress('test executions', cases.length, 'executions');
    results = await mapConcurrent(cases, concurrency, async (testCase) => {
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
  return {
    runId,
    startedAt,
    finishedAt: new Date().toISOString(),
    endpointName: deployment.endpointName,
    trainingId: deployment.trainingId,
    summary: summarize(results),
    results,
  };
}

/** Runs the deployed state machine on test images and records each outcome. */
export async function testExecutions(context: StageContext): Promise<StageResult<'test-executions'>> {
  const { backend, config, manifest, runId } = context;
  const dataset = requireStage(manifest, 'stage-data', 'test-executions').outputs;
  const { deploymentDigest } = requireStage(manifest, 'deploy', 'test-executions').outputs;
  const deployment = requireDeployment(manifest, 'test-executions');
  const settings = config.testExecutions;
  // Everything the outcomes depend on: the cases drawn, the deployment they ran on, the error budget.
  const inputsDigest = createHash('sha256')
    .update(stableStringify({ dataset: dataset.digest, deploymentDigest, deployment, settings }))
    .digest('hex')
    .slice(0, 20);
  const previous = await previousExecutions(context, inputsDigest, deployment);
  const document = previous ?? (await execute(context, dataset, deployment));
  const { startedAt, finishedAt, summary, results } = document;
  const key = testExecutionsKey(runId);
  await backend.store.put(key, `${JSON.stringify(document, null, 2)}\n`, { contentType: 'application/json' });
  const line = `${summary.total} executions: ${summary.succeeded} succeeded, ${summary.filtered} filtered (low confidence), ${summary.errors} errors; ${summary.passedButWrong} passed with a wrong class`;
  if (summary.errors > settings.errorBudget) {
    const examples = results
      .filter((r) => r.outcome === 'ERROR')
      .slice(0, 3)
      .map((r) => {
        const where = r.failedState === undefined ? '' : ` in ${r.failedState}`;
        return `${r.name}: ${r.error}${where}: ${r.cause ?? ''}`.slice(0, 300);
      });
    throw new StageFailedError(
      `${line}; ${summary.errors} over the error budget of ${settings.errorBudget} (testExecutions.errorBudget): ${examples.join(' | ')}; details in ${backend.store.uri(key)}`,
    );
  }
  return {
    inputsDigest,
    reused: previous !== undefined,
    outputs: { resultsUri: backend.store.uri(key), startedAt, finishedAt, summary },
    summary: line,
    markdown: [
      `### test-executions${previous === undefined ? '' : ' (reused)'}`,
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
