import { distance } from 'fastest-levenshtein';
import { StageFailedError } from '../../errors.js';
import instanceTypes from './instance-types.json' with { type: 'json' };

/** Where an instance type is used, and the SageMaker API enum that lists the types valid there. */
export const INSTANCE_TYPE_USES = {
  training: 'TrainingInstanceType (CreateTrainingJob)',
  transform: 'TransformInstanceType (CreateTransformJob, Batch Transform)',
  endpoint: 'ProductionVariantInstanceType (CreateEndpointConfig, the endpoint)',
} as const;
export type InstanceTypeUse = keyof typeof INSTANCE_TYPE_USES;

/**
 * The enums from botocore's SageMaker model (scripts/aws-models.ts writes instance-types.json), imported so
 * that the compiled CLI carries them in its bundle.
 */
const VALID: Record<InstanceTypeUse, string[]> & { source: string } = instanceTypes;

/** The valid types nearest to a rejected one: same family first, then by spelling. */
export function nearestInstanceTypes(value: string, use: InstanceTypeUse, count = 3): string[] {
  const family = value.split('.').slice(0, 2).join('.');
  const valid = VALID[use];
  const sameFamily = valid.filter((t) => t.startsWith(`${family}.`));
  const pool = sameFamily.length > 0 ? sameFamily : valid;
  return [...pool].sort((a, b) => distance(value, a) - distance(value, b)).slice(0, count);
}

/** A message naming the key and the nearest valid types when `value` is not valid for `use`; else undefined. */
export function instanceTypeProblem(key: string, value: string, use: InstanceTypeUse): string | undefined {
  if (VALID[use].includes(value)) return undefined;
  const nearest = nearestInstanceTypes(value, use);
  return `${key} "${value}" is not valid for ${INSTANCE_TYPE_USES[use]} (SageMaker API model, ${VALID.source.split(',')[0]}); nearest valid: ${nearest.join(', ')}`;
}

/**
 * Cheapest first, the types each use can fall back to: training on the GPU types the built-in
 * image-classification algorithm supports (SageMaker Developer Guide, "Image Classification - MXNet", EC2
 * instance recommendation), inference on general-purpose CPU types; prices in regions.ts.
 */
const FALLBACKS: Readonly<Record<InstanceTypeUse, readonly string[]>> = {
  training: ['ml.g4dn.xlarge', 'ml.g5.xlarge', 'ml.p3.2xlarge'],
  transform: ['ml.m5.large', 'ml.m5.xlarge', 'ml.c5.xlarge'],
  endpoint: ['ml.m5.large', 'ml.m5.xlarge', 'ml.c5.large'],
};

/** Service Quotas names SageMaker's per-type quotas "<type> for <usage>". */
const QUOTA_USAGE: Readonly<Record<InstanceTypeUse, string>> = {
  training: 'training job usage',
  transform: 'transform job usage',
  endpoint: 'endpoint usage',
};

/**
 * SageMaker answers ResourceLimitExceeded when the account's quota for the instance type is used up, or 0 as
 * for many GPU types in a new account (CreateTrainingJob and CreateTransformJob API reference, Errors): a
 * stage failure naming the type, the quota to request and a cheaper valid type. Other errors pass through.
 */
export function quotaFailure(
  error: unknown,
  instanceType: string,
  use: InstanceTypeUse,
  region: string,
): unknown {
  if ((error as { name?: string } | undefined)?.name !== 'ResourceLimitExceeded') return error;
  const cheaper = FALLBACKS[use].find((t) => t !== instanceType && VALID[use].includes(t));
  return new StageFailedError(
    `SageMaker refused ${instanceType} for ${QUOTA_USAGE[use].replace(' usage', '')}: ResourceLimitExceeded (${(error as Error).message}). ` +
      `Request the quota "${instanceType} for ${QUOTA_USAGE[use]}" in Service Quotas (Amazon SageMaker, ${region}; ` +
      `aws service-quotas list-service-quotas --service-code sagemaker --region ${region} shows the current value)` +
      `${cheaper === undefined ? '' : `, or use a cheaper valid type such as ${cheaper}`}`,
  );
}
