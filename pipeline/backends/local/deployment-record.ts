import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import { SconesError } from '../../errors.js';

/** What the local deploy stage records: the serving model (the gate's champion) and its settings. */
export const localDeploymentSchema = z.object({
  trainingId: z.string(),
  validationAccuracy: z.number(),
  modelUri: z.string(),
  endpointName: z.string(),
  deployedAt: z.string(),
  templateDigest: z.string(),
  capture: z.object({ destination: z.string(), samplingPercentage: z.number() }),
  threshold: z.number(),
});
export type LocalDeployment = z.infer<typeof localDeploymentSchema>;

export function readLocalDeployment(path: string): LocalDeployment | undefined {
  if (!existsSync(path)) return undefined;
  const parsed = localDeploymentSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
  if (!parsed.success)
    throw new SconesError(`${path} is not a valid deployment record: run scones deploy again`);
  return parsed.data;
}
