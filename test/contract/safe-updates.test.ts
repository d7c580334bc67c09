import { loadAwsServiceSpec } from '@aws-cdk/aws-service-spec';
import { expect } from 'chai';
import { NAME_LIMITS } from '../../pipeline/backends/aws/stacks.js';
import { nameDigests } from '../../pipeline/templates/names.js';
import {
  loadTemplate,
  type ResolveContext,
  resolveValue,
  type Template,
} from '../../pipeline/templates/template.js';

/**
 * Issue 13, safe updates: CloudFormation cannot replace a resource with a custom name in place ("CloudFormation
 * cannot update a stack when a custom-named resource requires replacing"; User Guide, resource Name type). So
 * for every custom-named resource in workflow.yaml, whenever a property that causes replacement changes
 * (`causesReplacement: 'yes'` in @aws-cdk/aws-service-spec, the CloudFormation resource specification), its
 * name must change too. Each parameter, the stack name and each literal of a digest-named resource is changed
 * in turn.
 */

/** One valid value per parameter (patterns respected), and a different valid value for each. */
const BASELINE: Record<string, string> = {
  ModelDataUrl: 's3://team-artifacts/models/t-1/output/model.tar.gz',
  InferenceImage: '811284229777.dkr.ecr.us-east-1.amazonaws.com/image-classification:1',
  SageMakerRoleArn: 'arn:aws:iam::123456789012:role/scones-sagemaker',
  TrainingId: 't-1',
  ValidationAccuracy: '0.9',
  ModelTestAccuracy: '0.885',
  TestSplitDigest: 'a7253a61a5bb5b60c29e',
  TestDatasetDigest: 'b7253a61a5bb5b60c29e',
  EndpointInstanceType: 'ml.m5.xlarge',
  ConfidenceThreshold: '0.93',
  DataCaptureS3Uri: 's3://team-artifacts/data-capture',
  DataBucket: 'team-artifacts',
  CodeBucket: 'team-artifacts',
  SerializeCodeKey: 'lambdas/serialize-image-data-0000.zip',
  ClassifyCodeKey: 'lambdas/classify-image-0000.zip',
  FilterCodeKey: 'lambdas/filter-inferences-0000.zip',
  StateMachineDefinitionKey: 'templates/state-machine-0000.asl.json',
  LogRetentionDays: '30',
  BakeSeconds: '600',
  MaxLowConfidenceShare: '0.5',
};
const CHANGED: Record<string, string> = {
  ModelDataUrl: 's3://team-artifacts/models/t-2/output/model.tar.gz',
  InferenceImage: '433757028032.dkr.ecr.us-west-2.amazonaws.com/image-classification:1',
  SageMakerRoleArn: 'arn:aws:iam::123456789012:role/other',
  TrainingId: 't-2',
  ValidationAccuracy: '0.95',
  ModelTestAccuracy: '0.91',
  TestSplitDigest: 'c7253a61a5bb5b60c29e',
  TestDatasetDigest: 'd7253a61a5bb5b60c29e',
  EndpointInstanceType: 'ml.c5.large',
  ConfidenceThreshold: '0.8',
  DataCaptureS3Uri: 's3://team-artifacts/capture-2',
  DataBucket: 'other-bucket',
  CodeBucket: 'other-code',
  SerializeCodeKey: 'lambdas/serialize-image-data-1111.zip',
  ClassifyCodeKey: 'lambdas/classify-image-1111.zip',
  FilterCodeKey: 'lambdas/filter-inferences-1111.zip',
  StateMachineDefinitionKey: 'templates/state-machine-1111.asl.json',
  LogRetentionDays: '90',
  BakeSeconds: '300',
  MaxLowConfidenceShare: '0.2',
};

const NAME_PROPERTY = Object.fromEntries(Object.entries(NAME_LIMITS).map(([type, l]) => [type, l.property]));

/** Every resource's properties as CloudFormation would receive them for these inputs. */
function resolveAll(template: Template, parameters: Record<string, string>, stackName: string) {
  const values = { ...parameters, ...nameDigests(template, parameters) };
  const context: ResolveContext = {
    parameters: values,
    pseudo: { StackName: stackName, Region: 'us-east-1', AccountId: '123456789012', Partition: 'aws' },
    refs: {},
    attributes: {},
  };
  for (const [logicalId, resource] of Object.entries(template.Resources)) {
    const nameProperty = NAME_PROPERTY[resource.Type];
    const custom = nameProperty === undefined ? undefined : resource.Properties?.[nameProperty];
    const name =
      custom === undefined
        ? `${stackName}-${logicalId}-GENERATED`
        : String(resolveValue(custom, context, logicalId));
    context.refs[logicalId] = name;
    for (const attribute of ['ModelName', 'EndpointConfigName', 'EndpointName', 'Name'])
      context.attributes[`${logicalId}.${attribute}`] = name;
    context.attributes[`${logicalId}.Arn`] =
      `arn:aws:${resource.Type.split('::')[1]?.toLowerCase()}:us-east-1:123456789012:${name}`;
  }
  return Object.fromEntries(
    Object.entries(template.Resources).map(([id, r]) => [
      id,
      resolveValue(r.Properties ?? {}, context, id) as Record<string, unknown>,
    ]),
  );
}

/** Copies of the template with one literal (string, number or boolean) of `logicalId`'s properties changed. */
function literalMutations(
  template: Template,
  logicalId: string,
  skip: string,
): { where: string; template: Template }[] {
  const mutations: { where: string; template: Template }[] = [];
  const visit = (value: unknown, path: (string | number)[]) => {
    if (value !== null && typeof value === 'object') {
      const keys = Object.keys(value);
      if (keys.length === 1 && /^(Ref|Fn::)/.test(keys[0] ?? '')) return;
      for (const [k, v] of Object.entries(value)) visit(v, [...path, Array.isArray(value) ? Number(k) : k]);
      return;
    }
    const copy = structuredClone(template);
    let parent = copy.Resources[logicalId]?.Properties as Record<string | number, unknown>;
    for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
    const last = path.at(-1) as string | number;
    parent[last] =
      typeof value === 'number' ? value + 1 : typeof value === 'boolean' ? !value : `${String(value)}x`;
    mutations.push({ where: `${logicalId}.${path.join('.')}`, template: copy });
  };
  for (const [key, value] of Object.entries(template.Resources[logicalId]?.Properties ?? {}))
    if (key !== skip) visit(value, [key]);
  return mutations;
}

describe('safe updates: a custom name changes whenever a property that requires replacement changes', () => {
  const template = loadTemplate();
  let replacing: (type: string) => Set<string>;
  before(async () => {
    const db = await loadAwsServiceSpec();
    replacing = (type) => {
      const spec = db.lookup('resource', 'cloudFormationType', 'equals', type).only() as unknown as {
        properties: Record<string, { causesReplacement?: string }>;
      };
      return new Set(
        Object.entries(spec.properties)
          .filter(([, p]) => p.causesReplacement === 'yes')
          .map(([k]) => k),
      );
    };
  });

  const customNamed = Object.entries(template.Resources).filter(
    ([, r]) =>
      NAME_PROPERTY[r.Type] !== undefined && r.Properties?.[NAME_PROPERTY[r.Type] as string] !== undefined,
  );

  /** Problems: a replacement-causing property changed while the name stayed. */
  function unsafe(
    before: Template,
    after: Template,
    parametersAfter: Record<string, string>,
    stackAfter: string,
    change: string,
  ) {
    const a = resolveAll(before, BASELINE, 'scones-workflow');
    const b = resolveAll(after, parametersAfter, stackAfter);
    const problems: string[] = [];
    for (const [logicalId, resource] of customNamed) {
      const nameProperty = NAME_PROPERTY[resource.Type] as string;
      const changed = [...replacing(resource.Type)].filter(
        (p) => p !== nameProperty && JSON.stringify(a[logicalId]?.[p]) !== JSON.stringify(b[logicalId]?.[p]),
      );
      if (changed.length > 0 && a[logicalId]?.[nameProperty] === b[logicalId]?.[nameProperty])
        problems.push(
          `${change}: ${logicalId} ${changed.join(', ')} require replacement but ${nameProperty} stays ${String(a[logicalId]?.[nameProperty])}`,
        );
    }
    return problems;
  }

  it('the baseline covers every parameter the template declares (digests aside)', () => {
    const declared = Object.keys(template.Parameters ?? {}).filter((p) => !p.endsWith('NameDigest'));
    expect(Object.keys(BASELINE).sort()).to.deep.equal(declared.sort());
    expect(customNamed.map(([id]) => id)).to.include.members([
      'Model',
      'EndpointConfig',
      'Endpoint',
      'StateMachine',
    ]);
  });

  it('requires replacement: changing each parameter, and the stack name, in turn', () => {
    const problems: string[] = [];
    for (const parameter of Object.keys(BASELINE))
      problems.push(
        ...unsafe(
          template,
          template,
          { ...BASELINE, [parameter]: CHANGED[parameter] as string },
          'scones-workflow',
          parameter,
        ),
      );
    problems.push(...unsafe(template, template, BASELINE, 'scones-other', 'AWS::StackName'));
    expect(problems).to.deep.equal([]);
  });

  it('requires replacement: changing each literal of the digest-named resources (Model, EndpointConfig) in turn', () => {
    const problems: string[] = [];
    let mutations = 0;
    for (const [logicalId, resource] of customNamed) {
      const nameProperty = NAME_PROPERTY[resource.Type] as string;
      if (!JSON.stringify(resource.Properties?.[nameProperty]).includes('NameDigest')) continue;
      for (const { where, template: mutated } of literalMutations(template, logicalId, nameProperty)) {
        mutations++;
        problems.push(...unsafe(template, mutated, BASELINE, 'scones-workflow', where));
      }
    }
    expect(mutations, 'literals changed').to.be.greaterThan(0);
    expect(problems).to.deep.equal([]);
  });

  it('the check catches the old naming: a name that follows only the training id', () => {
    const old = structuredClone(template);
    const config = old.Resources.EndpointConfig?.Properties as Record<string, unknown>;
    config.EndpointConfigName = { 'Fn::Sub': ['$', '{AWS::StackName}-config-$', '{TrainingId}'].join('') };
    const problems = unsafe(
      old,
      old,
      { ...BASELINE, EndpointInstanceType: 'ml.c5.large' },
      'scones-workflow',
      'EndpointInstanceType',
    );
    expect(problems).to.have.length(1);
    expect(problems[0]).to.include('EndpointConfig ProductionVariants require replacement');
  });
});
