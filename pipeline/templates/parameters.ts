import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Config } from '../config.js';
import { KEYS } from '../constants.js';
import type { EvaluationRecord } from '../contracts/evaluation.js';
import { lambdaKey, stateMachineDefinitionKey } from '../contracts/layout.js';
import type { ModelToDeploy, ObjectStore } from '../ports.js';
import type { LambdaBundle } from './lambda-bundles.js';
import { nameDigests } from './names.js';
import { loadTemplate, STATE_MACHINE_DEFINITION } from './template.js';

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

/** The workflow template's parameter values for this model and configuration, on either backend. */
export function workflowParameters(options: {
  config: Config;
  model: ModelToDeploy;
  /** The model's held-out evaluation, recorded with the deployment for the next gate. */
  evaluation?: EvaluationRecord | undefined;
  bundles: readonly LambdaBundle[];
  inferenceImage: string;
  sageMakerRoleArn: string;
  store: ObjectStore;
}): Record<string, string> {
  const { config, model, bundles, store } = options;
  const keys = codeKeys(bundles);
  const values: Record<string, string> = {
    ModelDataUrl: model.modelUri,
    InferenceImage: options.inferenceImage,
    SageMakerRoleArn: options.sageMakerRoleArn,
    TrainingId: model.trainingId,
    ValidationAccuracy: String(model.validationAccuracy),
    ModelTestAccuracy: options.evaluation === undefined ? '' : String(options.evaluation.quality.accuracy),
    TestSplitDigest: options.evaluation?.testSplitDigest ?? '',
    TestDatasetDigest: options.evaluation?.datasetDigest ?? '',
    EndpointInstanceType: config.deploy.endpointInstanceType,
    ConfidenceThreshold: String(config.deploy.threshold),
    DataCaptureS3Uri: store.uri(KEYS.capture),
    DataBucket: config.bucket,
    CodeBucket: config.bucket,
    SerializeCodeKey: keys.serialize,
    ClassifyCodeKey: keys.classify,
    FilterCodeKey: keys.filter,
    StateMachineDefinitionKey: keys.definition,
  };
  return { ...values, ...nameDigests(loadTemplate(), values) };
}
