import type { StageContext, StageResult } from './context.js';
import { requireStage } from './upstream.js';

/** Deploys the gated model with the workflow template; unchanged inputs deploy nothing. */
export async function deploy(context: StageContext): Promise<StageResult<'deploy'>> {
  const { backend, config, reporter, manifest } = context;
  const dataset = requireStage(manifest, 'stage-data', 'deploy').outputs;
  const model = requireStage(manifest, 'train', 'deploy').outputs;
  const gate = requireStage(manifest, 'gate', 'deploy').outputs;
  if (gate.trainingId !== model.trainingId)
    reporter.warn(
      `the gate judged ${gate.trainingId} but the run's model is ${model.trainingId}: re-run gate`,
    );
  const { reused, ...record } = await backend.deployer.deploy(
    { runId: context.runId, model, dataset, preview: config.deploy.preview },
    reporter,
  );
  const verb = record.preview ? 'previewed' : record.deployed ? 'deployed' : 'unchanged';
  return {
    inputsDigest: record.deploymentDigest,
    reused,
    outputs: record,
    summary: `${config.deploy.stackName} ${verb}: model ${record.trainingId} (accuracy ${record.validationAccuracy}) behind endpoint ${record.endpointName || '(preview)'}`,
    markdown:
      record.previewMarkdown ??
      [
        `### deploy: ${verb}`,
        '',
        `Stack \`${record.stackName}\`, endpoint \`${record.endpointName}\`, model \`${record.trainingId}\``,
        '',
        ...record.changes.map(
          (c) =>
            `- ${c.action} ${c.logicalId} (${c.type})${c.replacement ? `, replacement: ${c.replacement}` : ''}`,
        ),
        '',
      ].join('\n'),
    stepOutputs: {
      deployed: String(record.deployed),
      'endpoint-name': record.endpointName,
      'state-machine-arn': record.stateMachineArn,
    },
  };
}
