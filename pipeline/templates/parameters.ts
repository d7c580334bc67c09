import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Config } from '../config.js';
import type { Reporter } from '../console-reporter.js';
import { KEYS } from '../constants.js';
import { lambdaKey, stateMachineDefinitionKey } from '../contracts/layout.js';
import type { DeployRequest, ObjectStore } from '../ports.js';
import type { LambdaBundle } from './lambda-bundles.js';
import { nameDigests } from './names.js';
import { deploymentDigest, loadTemplate, STATE_MACHINE_DEFINITION } from './template.js';

/** Keys of the code the template points at: content-hashed, so an unchanged bundle is never re-uploaded. */
export function codeKeys(bundles: readonly LambdaBundle[]) {
  const key = (name: string) => {
    const bundle = bundles.find((b) => b.name === name);
    if (bundle === undefined) throw new Error(`no bundle for ${name}`);
    return lambdaKey(bundle.zipName);
  };
  const definition = readFileSync(STATE_MACHINE_DEFINITION);
  const definitionHash = createHash('sha256').update(definition).digest('hex').slice(0, 16);
  return {
    serialize: key('serialize-image-data'),
    classify: key('classify-image'),
    filter: key('filter-inferences'),
    definition: stateMachineDefinitionKey(definitionHash),
  };
}

/** The code objects the template points at that the bucket does not hold yet. */
export async function missingCode(
  store: ObjectStore,
  bundles: readonly LambdaBundle[],
): Promise<{ key: string; path: string; contentType: string }[]> {
  const keys = codeKeys(bundles);
  const wanted = [
    ...bundles.map((b) => ({
      key: lambdaKey(b.zipName),
      path: b.zipPath,
      contentType: 'application/zip',
    })),
    { key: keys.definition, path: STATE_MACHINE_DEFINITION, contentType: 'application/json' },
  ];
  const missing = [];
  for (const object of wanted) if ((await store.head(object.key)) === undefined) missing.push(object);
  return missing;
}

/** Uploads the bundles and the state machine definition unless already present; returns how many were uploaded. */
export async function uploadCode(store: ObjectStore, bundles: readonly LambdaBundle[]): Promise<number> {
  const missing = await missingCode(store, bundles);
  for (const object of missing)
    await store.put(object.key, readFileSync(object.path), { contentType: object.contentType });
  return missing.length;
}

/** What a deploy applies, built once for either backend: the bundles, the template's parameters, their digest. */
export type DeployPlan = ReturnType<typeof planDeployment>;

/** The workflow template's parameter values for a deploy request, and their digest, on either backend. */
export function planDeployment(options: {
  config: Config;
  request: DeployRequest;
  bundles: LambdaBundle[];
  inferenceImage: string;
  sageMakerRoleArn: string;
  store: ObjectStore;
  reporter: Reporter;
}) {
  const { config, request, bundles, store } = options;
  for (const b of bundles)
    options.reporter.info(`bundle ${b.zipName}: ${(b.zipBytes / 1024).toFixed(1)} KiB`);
  const keys = codeKeys(bundles);
  const { model, evaluation } = request;
  const values: Record<string, string> = {
    ModelDataUrl: model.modelUri,
    InferenceImage: options.inferenceImage,
    SageMakerRoleArn: options.sageMakerRoleArn,
    TrainingId: model.trainingId,
    ValidationAccuracy: String(model.validationAccuracy),
    ModelTestAccuracy: evaluation === undefined ? '' : String(evaluation.quality.accuracy),
    TestSplitDigest: evaluation?.testSplitDigest ?? '',
    TestDatasetDigest: evaluation?.datasetDigest ?? '',
    EndpointInstanceType: config.deploy.endpointInstanceType,
    ConfidenceThreshold: String(request.threshold),
    DataCaptureS3Uri: store.uri(KEYS.capture),
    DataBucket: config.bucket,
    CodeBucket: config.bucket,
    SerializeCodeKey: keys.serialize,
    ClassifyCodeKey: keys.classify,
    FilterCodeKey: keys.filter,
    StateMachineDefinitionKey: keys.definition,
    BakeSeconds: String(config.deploy.bakeSeconds),
    MaxLowConfidenceShare: maxLowConfidenceShare(request),
  };
  const parameters = { ...values, ...nameDigests(loadTemplate(), values) };
  // Equal digests deploy the same thing.
  return { bundles, parameters, digest: deploymentDigest(config.deploy.stackName, parameters) };
}

/**
 * The share of inferences the filter may drop before the rollout is rolled back: what the model promised at
 * the threshold it is deployed with (1 minus the lower bound of its held-out automation rate, evaluated at
 * that threshold). A model without that promise has no bound here (errors and latency are still watched).
 */
export function maxLowConfidenceShare(request: Pick<DeployRequest, 'evaluation' | 'threshold'>): string {
  const automation = request.evaluation?.automation;
  if (automation === undefined || automation.threshold !== request.threshold) return '1';
  const share = 1 - automation.heldOut.automationRateInterval.low;
  return String(Math.min(1, Math.ceil(share * 10_000) / 10_000));
}
