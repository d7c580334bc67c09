import { existsSync } from 'node:fs';
import { z } from 'zod';
import { type Deployment, deploymentFromStack } from '../../contracts/deployment.js';
import { SconesError } from '../../errors.js';
import { resolvedTemplateSchema } from '../../templates/resolved-template.js';
import { FILE_LIMITS, fixedLimit, readCheckedFile } from '../../util/files.js';
import { parseJson } from '../../util/json.js';

/**
 * The local deployment as recorded: the stack's parameters and the template resolved with them, as
 * CloudFormation would keep them (what is deployed is read from these by `deploymentFromStack`), plus
 * what only this backend needs (the served image size, the bundled handlers).
 */
export const localDeploymentSchema = z.object({
  deploymentDigest: z.string(),
  side: z.number().int(),
  deployedAt: z.string(),
  runId: z.string(),
  parameters: z.record(z.string(), z.string()),
  stack: resolvedTemplateSchema,
  /** The bundled handlers the local runner loads, by function name. */
  handlers: z.record(z.string(), z.string()),
});
export type LocalDeployment = z.infer<typeof localDeploymentSchema>;

/** The deployment contract of a local record. */
export function localDeploymentOf(record: LocalDeployment, stackName: string): Deployment {
  return deploymentFromStack(
    { stackName, parameters: record.parameters, outputs: record.stack.outputs },
    record.side,
  );
}

export function readLocalDeployment(path: string): LocalDeployment | undefined {
  if (!existsSync(path)) return undefined;
  const text = readCheckedFile(path, `deployment record ${path}`, {
    maxBytes: FILE_LIMITS.record,
    overLimit: fixedLimit('deployment records', 'run scones teardown to remove it'),
    expected: 'a deployment record: remove it, then run scones deploy again',
    error: (message) => new SconesError(message),
  }).toString('utf8');
  const fix = 'run scones deploy again, or scones teardown to remove it';
  return parseJson(text, localDeploymentSchema, path, 'a valid deployment record', fix);
}
