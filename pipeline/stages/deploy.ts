import type { EvaluationRecord } from '../contracts/evaluation.js';
import { ConfigError } from '../errors.js';
import { stageSection } from '../manifest.js';
import type { CommitReader, ModelToDeploy } from '../ports.js';
import { recordWentLive } from '../util/model-history-records.js';
import { endpointUsage, stageCostLine } from '../util/run-cost.js';
import type { StageContext, StageResult } from './context.js';
import { requireStage } from './upstream.js';

/**
 * The run's gated model; for a preview without one (a pull request), the model deployed now, so the
 * change set shows only what the change to code and templates does.
 */
async function modelToDeploy(context: StageContext): Promise<
  | {
      model: ModelToDeploy;
      imageSide: number | undefined;
      evaluation?: EvaluationRecord;
      deployedThreshold?: number;
    }
  | undefined
> {
  const { backend, config, reporter, manifest } = context;
  if (config.deploy.preview && stageSection(manifest, 'train') === undefined) {
    const deployed = await backend.deployment();
    // Before the first deploy there is no model to keep, so nothing to compare a change set with.
    if (deployed === undefined) return undefined;
    reporter.info(`preview keeps the deployed model ${deployed.trainingId}`);
    return { model: deployed, imageSide: deployed.imageSide, deployedThreshold: deployed.threshold };
  }
  const dataset = requireStage(manifest, 'stage-data', 'deploy').outputs;
  const model = requireStage(manifest, 'train', 'deploy').outputs;
  const gate = requireStage(manifest, 'gate', 'deploy').outputs;
  if (gate.trainingId !== model.trainingId)
    reporter.warn(
      `the gate judged ${gate.trainingId} but the run's model is ${model.trainingId}: re-run gate`,
    );
  const evaluation = stageSection(manifest, 'evaluate')?.outputs;
  return {
    model,
    imageSide: dataset.imageShape[1],
    ...(evaluation?.trainingId === model.trainingId ? { evaluation } : {}),
  };
}

/** `deploy.threshold`: an explicit value, or under `auto` the threshold the evaluation chose (never on the test split). */
function thresholdToDeploy(
  configured: number | 'auto',
  evaluation: EvaluationRecord | undefined,
  trainingId: string,
): number {
  if (configured !== 'auto') return configured;
  const chosen = evaluation?.automation?.chosenThreshold;
  if (chosen === undefined)
    throw new ConfigError(
      `deploy.threshold is auto but model ${trainingId} has no threshold chosen by \`scones evaluate\`: ` +
        'run evaluate, or set deploy.threshold to a number (--set deploy.threshold=0.9)',
    );
  return chosen;
}

/** Deploys the gated model with the workflow template; unchanged inputs deploy nothing. */
export async function deploy(
  context: StageContext,
  currentCommit: CommitReader,
): Promise<StageResult<'deploy'>> {
  const { backend, config, reporter } = context;
  const chosen = await modelToDeploy(context);
  if (chosen === undefined) return nothingToPreview(context);
  const { model, imageSide, evaluation, deployedThreshold } = chosen;
  const threshold =
    config.deploy.threshold === 'auto' && deployedThreshold !== undefined
      ? deployedThreshold // a preview keeping the deployed model keeps its threshold too
      : thresholdToDeploy(config.deploy.threshold, evaluation, model.trainingId);
  // What leaves if this deploy changes what is live (the model history's `replaced`).
  const wasLive = config.deploy.preview ? undefined : await backend.deployment();
  const { reused, ...record } = await backend.deployer.deploy(
    { runId: context.runId, model, evaluation, imageSide, threshold, preview: config.deploy.preview },
    reporter,
  );
  if (record.deployed && !record.preview)
    await recordInHistory(context, currentCommit, { imageSide, threshold, replaced: wasLive?.trainingId });
  const verb = record.preview ? 'previewed' : record.deployed ? 'deployed' : 'unchanged';
  const endpoint = record.deployment?.endpointName ?? '(preview)';
  return {
    inputsDigest: record.deploymentDigest,
    reused,
    readOnly: record.preview,
    outputs: record,
    summary: `${record.stackName} ${verb}: model ${record.trainingId} (${evaluation === undefined ? `validation accuracy ${model.validationAccuracy}` : `test accuracy ${evaluation.quality.accuracy.toFixed(4)}`}, threshold ${threshold}) behind endpoint ${endpoint}`,
    markdown:
      record.previewMarkdown ??
      [
        `### deploy: ${verb}`,
        '',
        `Stack \`${record.stackName}\`, endpoint \`${endpoint}\`, model \`${record.trainingId}\`, threshold ${threshold}`,
        '',
        ...(record.rollout === undefined ? [] : [record.rollout, '']),
        stageCostLine('Endpoint', backend.name, { region: config.region, endpoint: endpointUsage(config) }),
        '',
        ...record.changes.map(
          (c) =>
            `- ${c.action} ${c.logicalId} (${c.type})${c.replacement ? `, replacement: ${c.replacement}` : ''}`,
        ),
        '',
      ].join('\n'),
    stepOutputs: {
      deployed: String(record.deployed),
      'endpoint-name': record.deployment?.endpointName ?? '',
      'state-machine-arn': record.deployment?.stateMachineArn ?? '',
    },
    // For the pull-request comment step: stdout carries workflow commands in Actions.
    ...(record.previewMarkdown === undefined ? {} : { files: { 'preview.md': record.previewMarkdown } }),
  };
}

/** A preview before the first deploy: no stack and no model yet, so it says so instead of failing. */
function nothingToPreview(context: StageContext): StageResult<'deploy'> {
  const { stackName } = context.config.deploy;
  const markdown = `### Change set preview: \`${stackName}\`\n\nNothing is deployed yet, so there is nothing to compare: the first deploy (the \`pipeline\` workflow on main) creates the stack.\n`;
  context.reporter.info(`nothing deployed in ${stackName} yet: nothing to compare a change set with`);
  return {
    inputsDigest: '',
    reused: false,
    readOnly: true,
    outputs: {
      deployed: false,
      preview: true,
      stackName,
      trainingId: '',
      deploymentDigest: '',
      changes: [],
      previewMarkdown: markdown,
    },
    summary: `${stackName}: nothing deployed yet, nothing to preview`,
    markdown,
    stepOutputs: { deployed: 'false' },
    files: { 'preview.md': markdown },
  };
}

/**
 * A deploy that changed what is live records the run's model in the model history (the model it replaced
 * ends there: its replacement time is this record's). The commit is this checkout's only when this run
 * trained the model; a reused model was trained from some earlier commit, which is not known here.
 */
async function recordInHistory(
  context: StageContext,
  currentCommit: CommitReader,
  deployed: { imageSide: number | undefined; threshold: number; replaced: string | undefined },
): Promise<void> {
  const { manifest, backend, reporter, runId } = context;
  const train = requireStage(manifest, 'train', 'deploy');
  const gate = requireStage(manifest, 'gate', 'deploy').outputs;
  const evaluation = stageSection(manifest, 'evaluate')?.outputs;
  const commit = train.reused ? undefined : currentCommit();
  const liveAt = new Date().toISOString();
  const key = await recordWentLive(backend.store, {
    trainingId: train.outputs.trainingId,
    trainer: train.outputs.trainer,
    modelUri: train.outputs.modelUri,
    validationAccuracy: train.outputs.validationAccuracy,
    ...(deployed.imageSide === undefined ? {} : { imageSide: deployed.imageSide }),
    datasetDigest: train.outputs.datasetDigest,
    ...(commit === undefined ? {} : { commit }),
    ...(evaluation?.trainingId === train.outputs.trainingId ? { evaluation } : {}),
    verdict: gate.forced ? 'forced' : 'passed',
    threshold: deployed.threshold,
    liveAt,
    how: 'deploy',
    runId,
    ...(deployed.replaced === undefined ? {} : { replaced: deployed.replaced }),
  });
  reporter.info(`model history: ${train.outputs.trainingId} went live (${backend.store.uri(key)})`);
}
