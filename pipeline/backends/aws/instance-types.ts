import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { distance } from 'fastest-levenshtein';

/** Where an instance type is used, and the SageMaker API enum that lists the types valid there. */
export const INSTANCE_TYPE_USES = {
  training: 'TrainingInstanceType (CreateTrainingJob)',
  transform: 'TransformInstanceType (CreateTransformJob, Batch Transform)',
  endpoint: 'ProductionVariantInstanceType (CreateEndpointConfig, the endpoint)',
} as const;
export type InstanceTypeUse = keyof typeof INSTANCE_TYPE_USES;

/** The enums from botocore's SageMaker model (scripts/aws-models.ts writes instance-types.json). */
const VALID = JSON.parse(readFileSync(join(import.meta.dirname, 'instance-types.json'), 'utf8')) as Record<
  InstanceTypeUse,
  string[]
> & { source: string };

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
