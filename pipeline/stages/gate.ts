import { createHash } from 'node:crypto';
import { stableStringify } from '../config.js';
import { StageFailedError } from '../errors.js';
import type { GateRecord } from '../manifest.js';
import type { Champion } from '../ports.js';
import type { StageContext, StageResult } from './context.js';
import { requireStage } from './upstream.js';

export interface GateInput {
  trainingId: string;
  accuracy: number;
  minAccuracy: number;
  maxRegression: number;
  champion: Champion | undefined;
  force: boolean;
}

/**
 * The decision alone, as a pure function: pass when accuracy >= minAccuracy and the model is not worse
 * than the champion by more than maxRegression. The champion is ignored when it is this same model.
 */
export function decideGate(input: GateInput): GateRecord {
  const reasons: string[] = [];
  let passed = true;
  if (input.accuracy >= input.minAccuracy) {
    reasons.push(`accuracy ${fmt(input.accuracy)} >= minimum ${fmt(input.minAccuracy)}`);
  } else {
    passed = false;
    reasons.push(`accuracy ${fmt(input.accuracy)} is below the minimum ${fmt(input.minAccuracy)}`);
  }
  const champion = input.champion;
  if (champion === undefined) {
    reasons.push('no deployed champion: only the threshold applies');
  } else if (champion.trainingId === input.trainingId) {
    reasons.push(`this model (${input.trainingId}) is the deployed champion`);
  } else {
    const floor = champion.accuracy - input.maxRegression;
    if (input.accuracy + 1e-12 >= floor) {
      reasons.push(
        `accuracy ${fmt(input.accuracy)} is within ${fmt(input.maxRegression)} of the champion ${champion.trainingId} (${fmt(champion.accuracy)})`,
      );
    } else {
      passed = false;
      reasons.push(
        `accuracy ${fmt(input.accuracy)} is worse than the champion ${champion.trainingId} (${fmt(champion.accuracy)}) by more than ${fmt(input.maxRegression)}`,
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
  };
}

function fmt(value: number): string {
  return value.toFixed(4);
}

/** Gates the run's model against the threshold and the deployed champion; a rejection fails the stage. */
export async function gate(context: StageContext): Promise<StageResult<'gate'>> {
  const { config, backend, reporter, manifest } = context;
  const model = requireStage(manifest, 'train', 'gate').outputs;
  const champion = await backend.champion();
  const decision = decideGate({
    trainingId: model.trainingId,
    accuracy: model.validationAccuracy,
    minAccuracy: config.gate.minAccuracy,
    maxRegression: config.gate.maxRegression,
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
    throw new StageFailedError(`gate rejected model ${model.trainingId}: ${failing.join('; ')}`);
  }
  return {
    inputsDigest: createHash('sha256')
      .update(stableStringify({ model: model.trainingId, gate: config.gate, champion }))
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
    `| validation accuracy | ${decision.accuracy} |`,
    `| minimum accuracy | ${decision.minAccuracy} |`,
    `| champion | ${decision.champion === undefined ? 'none' : `${decision.champion.trainingId} (${decision.champion.accuracy})`} |`,
    `| max regression | ${decision.maxRegression} |`,
    '',
    ...decision.reasons.map((r) => `- ${r}`),
    '',
  ].join('\n');
}
