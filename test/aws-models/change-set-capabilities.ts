import { parseTemplate } from '../../pipeline/templates/template.js';
import { loadModel } from './request-check.js';

/** CreateChangeSetInput.Capabilities' documentation as scripts/aws-models.ts read it from botocore. */
const documented = (
  loadModel('cloudformation') as unknown as {
    capabilities: { iamResourceTypes: string[]; autoExpandAppliesToChangeSets: boolean };
  }
).capabilities;

/**
 * What CloudFormation answers a CreateChangeSet whose template needs a capability the request lacks: an
 * InsufficientCapabilitiesException, 400 (CreateChangeSet API reference, Capabilities and Errors). Decided
 * from the template: the IAM resource types the reference lists need CAPABILITY_IAM or CAPABILITY_NAMED_IAM,
 * and CAPABILITY_NAMED_IAM when one carries a custom name (its `<Kind>Name` property, as RoleName and
 * ManagedPolicyName; AWS::IAM::Policy's required PolicyName names an inline policy). CAPABILITY_AUTO_EXPAND
 * "doesn't apply to creating change sets", so a change set never needs it.
 */
export function insufficientCapabilities(input: {
  TemplateBody?: string;
  Capabilities?: string[];
}): Error | undefined {
  const template = parseTemplate(input.TemplateBody ?? '', 'TemplateBody');
  const given = new Set(input.Capabilities ?? []);
  const iam = Object.values(template.Resources).filter((r) => documented.iamResourceTypes.includes(r.Type));
  const named = iam.some(
    (r) => r.Type !== 'AWS::IAM::Policy' && r.Properties?.[`${r.Type.split('::')[2]}Name`] !== undefined,
  );
  const needed = named
    ? given.has('CAPABILITY_NAMED_IAM')
      ? undefined
      : 'CAPABILITY_NAMED_IAM'
    : iam.length > 0 && !given.has('CAPABILITY_IAM') && !given.has('CAPABILITY_NAMED_IAM')
      ? 'CAPABILITY_IAM'
      : undefined;
  if (needed === undefined) return undefined;
  return Object.assign(new Error(`Requires capabilities : [${needed}]`), {
    name: 'InsufficientCapabilitiesException',
    $fault: 'client',
    $metadata: { httpStatusCode: 400 },
  });
}
