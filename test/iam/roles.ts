import { readFileSync } from 'node:fs';
import {
  BOOTSTRAP_TEMPLATE,
  loadTemplate,
  type ResolveContext,
  resolveValue,
  type Template,
  WORKFLOW_TEMPLATE,
} from '../../pipeline/templates/template.js';

/** Test values the templates' intrinsic functions resolve with (one account, one region). */
export const TEST_ACCOUNT = {
  partition: 'aws',
  region: 'us-east-1',
  accountId: '123456789012',
  bucket: 'scones-artifacts',
  workflowStack: 'scones-workflow',
  bootstrapStack: 'scones-bootstrap',
  repository: 'octo-org/scones-mlops',
} as const;

export interface PolicyDocument {
  Version: string;
  Statement: Statement[];
}
export interface Statement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

/** One IAM role as the templates write it, every intrinsic resolved. */
export interface ResolvedRole {
  template: 'bootstrap.yaml' | 'workflow.yaml';
  logicalId: string;
  arn: string;
  trust: PolicyDocument;
  policies: { name: string; document: PolicyDocument }[];
  permissionsBoundaryArn?: string;
  /** The boundary's policy document, from the template that defines it. */
  boundary?: PolicyDocument;
}

const { partition, region, accountId, bucket, workflowStack, bootstrapStack, repository } = TEST_ACCOUNT;
const arn = (service: string, resource: string, withRegion = true) =>
  `arn:${partition}:${service}:${withRegion ? region : ''}:${service === 's3' ? '' : accountId}:${resource}`;

/** The role name CloudFormation generates for an unnamed role: `{stack}-{logicalId}-{suffix}`. */
const generatedRoleName = (stack: string, logicalId: string) => `${stack}-${logicalId}-ABCDEFGH1234`;

/** Evaluates Conditions and Fn::If (the shared resolver knows only what the local backend needs). */
function evaluateConditions(template: Template, parameters: Record<string, string>) {
  const conditions = (template.Conditions ?? {}) as Record<string, unknown>;
  const results: Record<string, boolean> = {};
  const scalar = (value: unknown): string => {
    if (typeof value === 'object' && value !== null && 'Ref' in value)
      return parameters[String((value as { Ref: string }).Ref)] ?? '';
    return String(value);
  };
  const evaluate = (expression: unknown): boolean => {
    const [key, arg] = Object.entries(expression as Record<string, unknown>)[0] as [string, unknown];
    if (key === 'Condition') return condition(String(arg));
    const args = arg as unknown[];
    if (key === 'Fn::Equals') return scalar(args[0]) === scalar(args[1]);
    if (key === 'Fn::Not') return !evaluate(args[0]);
    if (key === 'Fn::And') return args.every(evaluate);
    if (key === 'Fn::Or') return args.some(evaluate);
    throw new Error(`condition function ${key} is not understood by the IAM test resolver`);
  };
  const condition = (name: string): boolean => {
    if (!(name in results)) results[name] = evaluate(conditions[name]);
    return results[name] as boolean;
  };
  const stripIf = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(stripIf);
    if (value === null || typeof value !== 'object') return value;
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 1 && entries[0]?.[0] === 'Fn::If') {
      const [name, whenTrue, whenFalse] = entries[0][1] as [string, unknown, unknown];
      return stripIf(condition(name) ? whenTrue : whenFalse);
    }
    return Object.fromEntries(entries.map(([k, v]) => [k, stripIf(v)]));
  };
  return { condition, stripIf };
}

/** Ref and GetAtt values of each resource type, as CloudFormation documents them for the type. */
function resourceValues(template: Template, stack: string, resolveName: (value: unknown) => string) {
  const refs: Record<string, string> = {};
  const attributes: Record<string, string> = {};
  for (const [id, resource] of Object.entries(template.Resources)) {
    const props = (resource.Properties ?? {}) as Record<string, unknown>;
    switch (resource.Type) {
      case 'AWS::S3::Bucket': {
        const name = resolveName(props.BucketName);
        refs[id] = name;
        attributes[`${id}.Arn`] = `arn:${partition}:s3:::${name}`;
        break;
      }
      case 'AWS::IAM::Role': {
        const name = generatedRoleName(stack, id);
        refs[id] = name;
        attributes[`${id}.Arn`] = `arn:${partition}:iam::${accountId}:role/${name}`;
        break;
      }
      case 'AWS::IAM::ManagedPolicy': {
        const name =
          props.ManagedPolicyName === undefined ? `${stack}-${id}-X` : resolveName(props.ManagedPolicyName);
        refs[id] = `arn:${partition}:iam::${accountId}:policy/${name}`;
        break;
      }
      case 'AWS::IAM::OIDCProvider':
        refs[id] = `arn:${partition}:iam::${accountId}:oidc-provider/token.actions.githubusercontent.com`;
        break;
      case 'AWS::Logs::LogGroup': {
        const name = resolveName(props.LogGroupName);
        refs[id] = name;
        attributes[`${id}.Arn`] = arn('logs', `log-group:${name}:*`);
        break;
      }
      case 'AWS::Lambda::Function': {
        const name = resolveName(props.FunctionName);
        refs[id] = name;
        attributes[`${id}.Arn`] = arn('lambda', `function:${name}`);
        break;
      }
      case 'AWS::SageMaker::Model': {
        const name = resolveName(props.ModelName);
        refs[id] = arn('sagemaker', `model/${name}`);
        attributes[`${id}.ModelName`] = name;
        break;
      }
      case 'AWS::SageMaker::EndpointConfig': {
        const name = resolveName(props.EndpointConfigName);
        refs[id] = arn('sagemaker', `endpoint-config/${name}`);
        attributes[`${id}.EndpointConfigName`] = name;
        break;
      }
      case 'AWS::SageMaker::Endpoint': {
        const name = resolveName(props.EndpointName);
        refs[id] = arn('sagemaker', `endpoint/${name}`);
        attributes[`${id}.EndpointName`] = name;
        break;
      }
      case 'AWS::StepFunctions::StateMachine': {
        const name = resolveName(props.StateMachineName);
        refs[id] = arn('states', `stateMachine:${name}`);
        attributes[`${id}.Name`] = name;
        break;
      }
      default:
        refs[id] = `${stack}-${id}`;
    }
  }
  return { refs, attributes };
}

/** Parameter values of the workflow stack in the tests (what the deployer passes, in test form). */
export const WORKFLOW_TEST_PARAMETERS: Record<string, string> = {
  ModelDataUrl: `s3://${bucket}/models/t-abc/job/output/model.tar.gz`,
  InferenceImage: '811284229777.dkr.ecr.us-east-1.amazonaws.com/image-classification:1',
  SageMakerRoleArn: `arn:${partition}:iam::${accountId}:role/${generatedRoleName(bootstrapStack, 'SageMakerExecutionRole')}`,
  ModelNameDigest: '0123456789abcdef',
  ModelTestAccuracy: '0.9',
  TestSplitDigest: 'split0123',
  TestDatasetDigest: 'data0123',
  EndpointConfigNameDigest: 'fedcba9876543210',
  TrainingId: 't-abc',
  ValidationAccuracy: '0.9',
  EndpointInstanceType: 'ml.m5.xlarge',
  ConfidenceThreshold: '0.93',
  DataCaptureS3Uri: `s3://${bucket}/data-capture/${workflowStack}`,
  DataBucket: bucket,
  CodeBucket: bucket,
  SerializeCodeKey: 'lambdas/serialize-image-data-0123456789abcdef.zip',
  ClassifyCodeKey: 'lambdas/classify-image-0123456789abcdef.zip',
  FilterCodeKey: 'lambdas/filter-inferences-0123456789abcdef.zip',
  StateMachineDefinitionKey: 'templates/state-machine-0123456789abcdef.json',
  LogRetentionDays: '30',
};

export const BOOTSTRAP_TEST_PARAMETERS: Record<string, string> = {
  BucketName: bucket,
  WorkflowStackName: workflowStack,
  RunRetentionDays: '90',
  GitHubRepository: repository,
  CreateOidcProvider: 'true',
  ExistingOidcProviderArn: '',
};

/** The template with every intrinsic resolved under the test values (conditions evaluated, false branches dropped). */
export function resolveTemplate(
  path: string,
  stack: string,
  parameterValues: Record<string, string>,
): { template: Template; resources: Record<string, { Type: string; Properties: Record<string, unknown> }> } {
  const template = loadTemplate(path);
  const parameters = { ...parameterValues };
  for (const [name, parameter] of Object.entries(template.Parameters ?? {}))
    if (!(name in parameters) && (parameter as { Default?: unknown }).Default !== undefined)
      parameters[name] = String((parameter as { Default: unknown }).Default);
  const { condition, stripIf } = evaluateConditions(template, parameters);
  const pseudo = { StackName: stack, Region: region, AccountId: accountId, Partition: partition };
  const nameContext: ResolveContext = { parameters, pseudo, refs: {}, attributes: {} };
  const resolveName = (value: unknown) => String(resolveValue(stripIf(value), nameContext, 'name'));
  const { refs, attributes } = resourceValues(template, stack, resolveName);
  const context: ResolveContext = { parameters, pseudo, refs, attributes };
  const resources: Record<string, { Type: string; Properties: Record<string, unknown> }> = {};
  for (const [id, resource] of Object.entries(template.Resources)) {
    const when = (resource as { Condition?: string }).Condition;
    if (when !== undefined && !condition(when)) continue;
    resources[id] = {
      Type: resource.Type,
      Properties: resolveValue(stripIf(resource.Properties ?? {}), context, id) as Record<string, unknown>,
    };
  }
  return { template, resources };
}

/**
 * One granted action taken out of a template's policy statement (an inline policy of a role, or a managed
 * policy such as the workflow roles' boundary): scripts/mutate-permissions.ts proves each one is missed.
 */
export interface RoleMutation {
  template: 'bootstrap.yaml' | 'workflow.yaml';
  /** Logical id of the AWS::IAM::Role or AWS::IAM::ManagedPolicy. */
  resource: string;
  /** The inline policy's PolicyName; undefined for a managed policy's own document. */
  policy?: string;
  statement: number;
  action: string;
}

export const describeMutation = (m: RoleMutation) =>
  `${m.template} ${m.resource}${m.policy === undefined ? '' : `/${m.policy}`}#${m.statement} ${m.action}`;

/** The policy documents of an IAM resource: its inline policies, or a managed policy's own document. */
function documentsOf(resource: {
  Type: string;
  Properties: Record<string, unknown>;
}): { policy?: string; document: PolicyDocument }[] {
  if (resource.Type === 'AWS::IAM::ManagedPolicy')
    return [{ document: resource.Properties.PolicyDocument as PolicyDocument }];
  if (resource.Type !== 'AWS::IAM::Role') return [];
  return (
    (resource.Properties.Policies ?? []) as { PolicyName: string; PolicyDocument: PolicyDocument }[]
  ).map((p) => ({ policy: p.PolicyName, document: p.PolicyDocument }));
}

const TEMPLATES = [
  ['bootstrap.yaml', BOOTSTRAP_TEMPLATE, TEST_ACCOUNT.bootstrapStack, BOOTSTRAP_TEST_PARAMETERS],
  ['workflow.yaml', WORKFLOW_TEMPLATE, TEST_ACCOUNT.workflowStack, WORKFLOW_TEST_PARAMETERS],
] as const;

/** Every single-action removal from an Allow statement of every IAM policy in both templates. */
export function allMutations(): RoleMutation[] {
  const mutations: RoleMutation[] = [];
  for (const [template, path, stack, parameters] of TEMPLATES)
    for (const [resource, r] of Object.entries(resolveTemplate(path, stack, parameters).resources))
      for (const { policy, document } of documentsOf(r))
        for (const [statement, s] of document.Statement.entries())
          if (s.Effect === 'Allow')
            for (const action of [s.Action].flat())
              mutations.push({
                template,
                resource,
                ...(policy === undefined ? {} : { policy }),
                statement,
                action,
              });
  return mutations;
}

/**
 * The roles under test: as written, or, when SCONES_IAM_MUTATIONS names a JSON file of RoleMutation (written
 * by scripts/mutate-permissions.ts), once more per mutation.
 */
export function mutationsUnderTest(): (RoleMutation | undefined)[] {
  const file = process.env.SCONES_IAM_MUTATIONS;
  // The roles as written come first: a mutation counts as caught only while they pass.
  return [
    undefined,
    ...(file === undefined ? [] : (JSON.parse(readFileSync(file, 'utf8')) as RoleMutation[])),
  ];
}

function applyMutation(
  file: string,
  resources: Record<string, { Type: string; Properties: Record<string, unknown> }>,
  mutation: RoleMutation | undefined,
): void {
  if (mutation === undefined || mutation.template !== file) return;
  const resource = resources[mutation.resource];
  const found = resource && documentsOf(resource).find((d) => d.policy === mutation.policy);
  const statement = found?.document.Statement[mutation.statement];
  const actions = [statement?.Action ?? []].flat();
  if (statement === undefined || !actions.includes(mutation.action))
    throw new Error(`mutation ${describeMutation(mutation)} names no granted action`);
  const rest = actions.filter((a) => a !== mutation.action);
  // A statement left with no action grants nothing: drop it, as an editor removing its last action would.
  if (rest.length > 0) statement.Action = rest;
  else found?.document.Statement.splice(mutation.statement, 1);
}

/** Every AWS::IAM::Role of both templates with its resolved policies, keyed by logical id. */
export function resolvedRoles(
  workflowParameters: Record<string, string> = WORKFLOW_TEST_PARAMETERS,
  mutation?: RoleMutation,
): Record<string, ResolvedRole> {
  const roles: Record<string, ResolvedRole> = {};
  /** Managed policies of both templates by ARN (the bootstrap stack defines the workflow roles' boundary). */
  const managedPolicies = new Map<string, PolicyDocument>();
  const boundaryOf = (roleId: string, arn: string) => {
    const document = managedPolicies.get(arn);
    if (document === undefined)
      throw new Error(`${roleId}: permissions boundary ${arn} is defined by neither template`);
    return document;
  };
  for (const [file, path, stack, parameters] of [
    ['bootstrap.yaml', BOOTSTRAP_TEMPLATE, bootstrapStack, BOOTSTRAP_TEST_PARAMETERS],
    ['workflow.yaml', WORKFLOW_TEMPLATE, workflowStack, workflowParameters],
  ] as const) {
    const { resources } = resolveTemplate(path, stack, parameters);
    applyMutation(file, resources, mutation);
    for (const resource of Object.values(resources))
      if (resource.Type === 'AWS::IAM::ManagedPolicy')
        managedPolicies.set(
          `arn:${partition}:iam::${accountId}:policy/${String(resource.Properties.ManagedPolicyName)}`,
          resource.Properties.PolicyDocument as PolicyDocument,
        );
    for (const [id, resource] of Object.entries(resources)) {
      if (resource.Type !== 'AWS::IAM::Role') continue;
      const props = resource.Properties as {
        AssumeRolePolicyDocument: PolicyDocument;
        Policies?: { PolicyName: string; PolicyDocument: PolicyDocument }[];
        ManagedPolicyArns?: string[];
        PermissionsBoundary?: string;
      };
      const managed = (props.ManagedPolicyArns ?? []).map((policyArn) => {
        const found = Object.values(resources).find(
          (r) =>
            r.Type === 'AWS::IAM::ManagedPolicy' &&
            policyArn.endsWith(`/${String(r.Properties.ManagedPolicyName ?? '')}`),
        );
        if (found === undefined) throw new Error(`${id}: managed policy ${policyArn} is not in ${file}`);
        return { name: policyArn, document: found.Properties.PolicyDocument as PolicyDocument };
      });
      roles[id] = {
        template: file,
        logicalId: id,
        arn: `arn:${partition}:iam::${accountId}:role/${generatedRoleName(stack, id)}`,
        trust: props.AssumeRolePolicyDocument,
        policies: [
          ...(props.Policies ?? []).map((p) => ({ name: p.PolicyName, document: p.PolicyDocument })),
          ...managed,
        ],
        ...(props.PermissionsBoundary === undefined
          ? {}
          : {
              permissionsBoundaryArn: props.PermissionsBoundary,
              boundary: boundaryOf(id, props.PermissionsBoundary),
            }),
      };
    }
  }
  return roles;
}
