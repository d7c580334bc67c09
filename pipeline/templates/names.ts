import { createHash } from 'node:crypto';
import { SconesError } from '../errors.js';
import type { Template } from './template.js';

/** Template parameters named `<LogicalId>NameDigest` carry the digest of that resource's definition. */
const DIGEST_PARAMETER = /^([A-Za-z0-9]+)NameDigest$/;

/** What a resource's definition refers to: parameters (Ref, ${Name}) and resources (Ref, GetAtt, ${Res.Attr}). */
function references(value: unknown, found: Set<string>): Set<string> {
  if (Array.isArray(value)) for (const v of value) references(v, found);
  else if (typeof value === 'string') return found;
  else if (value !== null && typeof value === 'object') {
    for (const [key, arg] of Object.entries(value as Record<string, unknown>)) {
      if (key === 'Ref') found.add(String(arg));
      else if (key === 'Fn::GetAtt') found.add(String((arg as unknown[])[0]));
      else if (key === 'Fn::Sub') {
        const text = Array.isArray(arg) ? String(arg[0]) : String(arg);
        for (const match of text.matchAll(/\$\{([^}!]+)\}/g)) found.add(String(match[1]).split('.')[0] ?? '');
        if (Array.isArray(arg)) references(arg[1], found);
      } else references(arg, found);
    }
  }
  return found;
}

/**
 * A digest for each `<LogicalId>NameDigest` parameter: the resource's properties as written (its own name
 * aside), the values of the parameters they use, and, recursively, the definitions of the resources they
 * use. A custom-named resource whose properties all require replacement (SageMaker Model and
 * EndpointConfig) thus gets a new name whenever anything it is built from changes, so CloudFormation can
 * create the replacement before deleting the old one ("cannot update a stack when a custom-named resource
 * requires replacing" otherwise).
 */
export function nameDigests(
  template: Template,
  parameterValues: Record<string, string>,
): Record<string, string> {
  const memo = new Map<string, string>();
  const digestOf = (logicalId: string, path: readonly string[]): string => {
    const cached = memo.get(logicalId);
    if (cached !== undefined) return cached;
    if (path.includes(logicalId))
      throw new SconesError(`template resources refer in a cycle: ${path.join(' > ')}`);
    const resource = template.Resources[logicalId];
    if (resource === undefined) throw new SconesError(`template has no resource ${logicalId}`);
    const ownDigestParameter = `${logicalId}NameDigest`;
    const properties = Object.fromEntries(
      Object.entries(resource.Properties ?? {}).filter(
        ([, value]) => !references(value, new Set()).has(ownDigestParameter),
      ),
    );
    const inputs: Record<string, string> = {};
    for (const name of [...references(properties, new Set())].sort()) {
      if (name.startsWith('AWS::')) continue;
      const digestOwner = DIGEST_PARAMETER.exec(name)?.[1];
      if (name in template.Resources) inputs[`resource:${name}`] = digestOf(name, [...path, logicalId]);
      else if (digestOwner !== undefined && digestOwner in template.Resources)
        inputs[`parameter:${name}`] = digestOf(digestOwner, [...path, logicalId]);
      else if (name in (template.Parameters ?? {})) {
        const value = parameterValues[name] ?? template.Parameters?.[name]?.Default;
        if (value === undefined) throw new SconesError(`workflow template parameter ${name} has no value`);
        inputs[`parameter:${name}`] = String(value);
      } else throw new SconesError(`${logicalId} refers to ${name}, which the template does not declare`);
    }
    const digest = createHash('sha256')
      .update(JSON.stringify({ type: resource.Type, properties, inputs }))
      .digest('hex')
      .slice(0, 16);
    memo.set(logicalId, digest);
    return digest;
  };
  const digests: Record<string, string> = {};
  for (const parameter of Object.keys(template.Parameters ?? {})) {
    const logicalId = DIGEST_PARAMETER.exec(parameter)?.[1];
    if (logicalId !== undefined) digests[parameter] = digestOf(logicalId, []);
  }
  return digests;
}
