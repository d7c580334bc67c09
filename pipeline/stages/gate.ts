import { createHash } from 'node:crypto';
import type { Deployment } from '../contracts/deployment.js';
import { SconesError, StageFailedError } from '../errors.js';
import type { GateRecord } from '../manifest.js';
import { stableStringify } from '../util/stable-json.js';
import type { StageContext, StageResult } from './context.js';
import { requireStage } from './upstream.js';

export type Champion = NonNullable<GateRecord['champion']>;

/**
 * The deployed model as the gate's champion: its held-out test accuracy and test split when it was deployed
 * with its evaluation; otherwise its validation figure, which no test split makes comparable.
 */
export function championOf(deployment: Deployment | undefined): Champion | undefined {
  if (deployment === undefined) return undefined;
  const { trainingId, evaluation } = deployment;
  return evaluation === undefined
    ? { trainingId, accuracy: deployment.validationAccuracy }
    : { trainingId, ...evaluation };
}

export interface GateInput {
  trainingId: string;
  /** The model's held-out test accuracy (the evaluate stage's). */
  accuracy: number;
  /** The test split it was measured on, and that split's dataset. */
  testSplitDigest: string;
  datasetDigest: string;
  minAccuracy: number;
  maxRegression: number;
  /** The held-out automation rate at the threshold to deploy (undefined: the evaluation chose none). */
  automationRate?: number | undefined;
  /** gate.minAutomationRate; 0 turns the check off. */
  minAutomationRate?: number;
  champion: Champion | undefined;
  force: boolean;
}

/**
 * The decision alone, as a pure function: pass when the test accuracy >= minAccuracy, the held-out
 * automation rate >= minAutomationRate (when set), and the model is not worse than the champion by more
 * than maxRegression. The champion counts only when it was evaluated on
 * the same test split (figures on different test sets are not comparable) and is not this same model.
 */
export function decideGate(input: GateInput): GateRecord {
  const reasons: string[] = [];
  let passed = true;
  if (input.accuracy >= input.minAccuracy) {
    reasons.push(`test accuracy ${fmt(input.accuracy)} >= minimum ${fmt(input.minAccuracy)}`);
  } else {
    passed = false;
    reasons.push(`test accuracy ${fmt(input.accuracy)} is below the minimum ${fmt(input.minAccuracy)}`);
  }
  const minRate = input.minAutomationRate ?? 0;
  if (minRate > 0) {
    const rate = input.automationRate;
    if (rate !== undefined && rate >= minRate) {
      reasons.push(`held-out automation rate ${fmt(rate)} >= minimum ${fmt(minRate)}`);
    } else {
      passed = false;
      reasons.push(
        rate === undefined
          ? `the evaluation records no automation rate: it is below the minimum ${fmt(minRate)} (run \`scones evaluate\` again)`
          : `held-out automation rate ${fmt(rate)} is below the minimum ${fmt(minRate)}`,
      );
    }
  }
  const champion = input.champion;
  if (champion === undefined) {
    reasons.push('no deployed champion: only the threshold applies');
  } else if (champion.trainingId === input.trainingId) {
    reasons.push(`this model (${input.trainingId}) is the deployed champion`);
  } else if (champion.testSplitDigest !== input.testSplitDigest) {
    reasons.push(
      champion.testSplitDigest === undefined
        ? `the deployed champion ${champion.trainingId} has no recorded test evaluation: not comparable, only the minimum applies`
        : `the deployed champion ${champion.trainingId} was evaluated on another test split (dataset ${champion.datasetDigest ?? '?'}, ` +
            `test split ${champion.testSplitDigest}; this model: dataset ${input.datasetDigest}, test split ${input.testSplitDigest}): ` +
            'not comparable, only the minimum applies',
    );
  } else {
    const floor = champion.accuracy - input.maxRegression;
    if (input.accuracy + 1e-12 >= floor) {
      reasons.push(
        `test accuracy ${fmt(input.accuracy)} is within ${fmt(input.maxRegression)} of the champion ${champion.trainingId} (${fmt(champion.accuracy)})`,
      );
    } else {
      passed = false;
      reasons.push(
        `test accuracy ${fmt(input.accuracy)} on dataset ${input.datasetDigest} is worse than the champion ${champion.trainingId} ` +
          `(${fmt(champion.accuracy)} on dataset ${champion.datasetDigest ?? input.datasetDigest}, the same test split) by more than ${fmt(input.maxRegression)}`,
      );
    }
  }
  const forced = !passed && input.force;
  if (forced) reasons.push('forced past the gate with --force');
  return {
    passed: passed || forced,
    forced,
    accuracy: input.accuracy,
    minAccuracy: input.minAccuracy,
    maxRegression: input.maxRegression,
    ...(champion === undefined ? {} : { champion }),
    reasons,
    trainingId: input.trainingId,
    testSplitDigest: input.testSplitDigest,
  };
}

function fmt(value: number): string {
  return value.toFixed(4);
}

/** Gates the run's model against the threshold and the deployed champion; a rejection fails the stage. */
export async function gate(context: StageContext): Promise<StageResult<'gate'>> {
  const { config, backend, reporter, manifest } = context;
  const model = requireStage(manifest, 'train', 'gate').outputs;
  const evaluation = requireStage(manifest, 'evaluate', 'gate').outputs;
  if (evaluation.trainingId !== model.trainingId)
    throw new SconesError(
      `the evaluation is of ${evaluation.trainingId} but the run's model is ${model.trainingId}: run \`scones evaluate --run-id ${manifest.runId}\``,
    );
  const champion = championOf(await backend.deployment());
  const decision = decideGate({
    trainingId: model.trainingId,
    accuracy: evaluation.quality.accuracy,
    testSplitDigest: evaluation.testSplitDigest,
    datasetDigest: evaluation.datasetDigest,
    minAccuracy: config.gate.minAccuracy,
    maxRegression: config.gate.maxRegression,
    automationRate: evaluation.automation?.heldOut.automationRate,
    minAutomationRate: config.gate.minAutomationRate,
    champion,
    force: config.gate.force,
  });
  for (const reason of decision.reasons) reporter.info(`gate: ${reason}`);
  const markdown = gateMarkdown(decision);
  if (decision.forced) reporter.warn(`gate overridden with --force: ${decision.reasons.join('; ')}`);
  if (!decision.passed) {
    await reporter.summary(markdown);
    reporter.output('gate-passed', 'false');
    const failing = decision.reasons.filter((r) => r.includes('below') || r.includes('worse'));
    throw new StageFailedError(
      `gate rejected model ${model.trainingId}: ${failing.join('; ')}. ` +
        'To deploy it anyway pass --force; to drop the deployed champion run `scones teardown`',
    );
  }
  return {
    inputsDigest: createHash('sha256')
      .update(
        stableStringify({
          model: model.trainingId,
          testSplit: evaluation.testSplitDigest,
          gate: config.gate,
          champion,
        }),
      )
      .digest('hex')
      .slice(0, 20),
    reused: false,
    outputs: decision,
    summary: `gate ${decision.forced ? 'FORCED' : 'passed'}: ${decision.reasons[0]}`,
    markdown,
    stepOutputs: { 'gate-passed': 'true', 'gate-forced': String(decision.forced) },
  };
}

function gateMarkdown(decision: GateRecord): string {
  const verdict = decision.forced
    ? ':warning: forced'
    : decision.passed
      ? ':white_check_mark: passed'
      : ':x: rejected';
  return [
    `### gate: ${verdict}`,
    '',
    '| metric | value |',
    '| --- | --- |',
    `| test accuracy (held out) | ${decision.accuracy} |`,
    `| minimum accuracy | ${decision.minAccuracy} |`,
    `| champion | ${decision.champion === undefined ? 'none' : `${decision.champion.trainingId} (${decision.champion.accuracy})`} |`,
    `| max regression | ${decision.maxRegression} |`,
    '',
    ...decision.reasons.map((r) => `- ${r}`),
    '',
  ].join('\n');
}
