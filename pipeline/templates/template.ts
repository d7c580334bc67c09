import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CollectionTag, parse, type ScalarTag } from 'yaml';
import { SconesError } from '../errors.js';
import { stableStringify } from '../util/stable-json.js';

const here = dirname(fileURLToPath(import.meta.url));
export const CLOUDFORMATION_DIR = join(here, '..', '..', 'cloudformation');
export const WORKFLOW_TEMPLATE = join(CLOUDFORMATION_DIR, 'workflow.yaml');
export const BOOTSTRAP_TEMPLATE = join(CLOUDFORMATION_DIR, 'bootstrap.yaml');
export const STATE_MACHINE_DEFINITION = join(CLOUDFORMATION_DIR, 'state-machine.asl.json');

export interface TemplateResource {
  Type: string;
  Condition?: string;
  Properties?: Record<string, unknown>;
  [key: string]: unknown;
}
export interface Template {
  AWSTemplateFormatVersion?: string;
  Parameters?: Record<
    string,
    { Type: string; Default?: unknown; AllowedValues?: unknown[]; AllowedPattern?: string }
  >;
  Conditions?: Record<string, unknown>;
  Resources: Record<string, TemplateResource>;
  Outputs?: Record<string, { Value: unknown; Condition?: string }>;
}

/** CloudFormation's short-form intrinsic tags, as the long form objects they stand for. */
const SCALAR_FUNCTIONS = ['Base64', 'GetAZs', 'ImportValue', 'Sub', 'Condition'] as const;
const SEQUENCE_FUNCTIONS = [
  'And',
  'Equals',
  'FindInMap',
  'If',
  'Join',
  'Not',
  'Or',
  'Select',
  'Split',
  'Sub',
  'Cidr',
  'GetAtt',
] as const;

const cloudFormationTags: (ScalarTag | CollectionTag)[] = [
  { tag: '!Ref', resolve: (value: string) => ({ Ref: value }) },
  { tag: '!GetAtt', resolve: (value: string) => ({ 'Fn::GetAtt': value.split('.', 2) }) },
  ...SCALAR_FUNCTIONS.filter((f) => f !== 'Condition').map(
    (f): ScalarTag => ({ tag: `!${f}`, resolve: (value: string) => ({ [`Fn::${f}`]: value }) }),
  ),
  { tag: '!Condition', resolve: (value: string) => ({ Condition: value }) },
  ...SEQUENCE_FUNCTIONS.map(
    (f): CollectionTag => ({
      tag: `!${f}`,
      collection: 'seq',
      resolve: (value) => ({ [`Fn::${f}`]: (value as unknown as { toJSON(): unknown }).toJSON() }),
    }),
  ),
];

/** Parses a CloudFormation YAML template, short-form tags included. */
export function parseTemplate(text: string, where: string): Template {
  let parsed: unknown;
  try {
    parsed = parse(text, { customTags: cloudFormationTags });
  } catch (error) {
    throw new SconesError(`${where} is not a valid CloudFormation template: ${(error as Error).message}`);
  }
  const template = parsed as Template;
  if (typeof template !== 'object' || template === null || typeof template.Resources !== 'object')
    throw new SconesError(`${where} has no Resources section`);
  return template;
}

export function loadTemplate(path: string = WORKFLOW_TEMPLATE): Template {
  return parseTemplate(readFileSync(path, 'utf8'), path);
}

/** Digest of the files that define the deployment, for the deploy stage's identity. */
function templateDigest(): string {
  const hash = createHash('sha256');
  for (const path of [WORKFLOW_TEMPLATE, STATE_MACHINE_DEFINITION]) hash.update(readFileSync(path));
  return hash.digest('hex').slice(0, 16);
}

/**
 * The deployment digest, one meaning on every backend: everything that changes what is deployed (the
 * template and state machine, every parameter, the stack name). Equal digests deploy the same thing.
 */
export function deploymentDigest(stackName: string, parameters: Readonly<Record<string, string>>): string {
  return createHash('sha256')
    .update(stableStringify({ template: templateDigest(), parameters, stackName }))
    .digest('hex')
    .slice(0, 20);
}

/** What Ref, GetAtt and ${...} resolve to when the local backend reads the template. */
export interface ResolveContext {
  parameters: Record<string, string>;
  pseudo: { StackName: string; Region: string; AccountId: string; Partition: string };
  /** Ref of a resource (its physical id or ARN, as CloudFormation returns it). */
  refs: Record<string, string>;
  /** `Logical.Attribute` -> value. */
  attributes: Record<string, string>;
}

/**
 * Evaluates the intrinsic functions the workflow template uses (Ref, Fn::GetAtt, Fn::Sub, Fn::Join) to
 * plain values; anything else is an error naming it, so the template cannot silently drift from what
 * the local backend understands.
 */
export function resolveValue(value: unknown, context: ResolveContext, where: string): unknown {
  if (Array.isArray(value)) return value.map((v, i) => resolveValue(v, context, `${where}[${i}]`));
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 1) {
    const [key, arg] = entries[0] as [string, unknown];
    if (key === 'Ref') return resolveRef(String(arg), context, where);
    if (key === 'Fn::GetAtt') {
      const [logical, attribute] = arg as [string, string];
      return resolveAttribute(`${logical}.${attribute}`, context, where);
    }
    if (key === 'Fn::Sub') return resolveSub(arg, context, where);
    if (key === 'Fn::Join') {
      const [separator, parts] = arg as [string, unknown[]];
      return (resolveValue(parts, context, where) as unknown[]).join(separator);
    }
    if (key.startsWith('Fn::'))
      throw new SconesError(`${where}: ${key} is not supported by the local backend`);
  }
  return Object.fromEntries(entries.map(([k, v]) => [k, resolveValue(v, context, `${where}.${k}`)]));
}

function resolveRef(name: string, context: ResolveContext, where: string): string {
  if (name.startsWith('AWS::')) {
    const pseudo = context.pseudo[name.slice(5) as keyof ResolveContext['pseudo']];
    if (pseudo === undefined) throw new SconesError(`${where}: unknown pseudo parameter ${name}`);
    return pseudo;
  }
  const value = context.parameters[name] ?? context.refs[name];
  if (value === undefined)
    throw new SconesError(`${where}: Ref ${name} names no parameter or resource with a value`);
  return value;
}

function resolveAttribute(path: string, context: ResolveContext, where: string): string {
  const value = context.attributes[path];
  if (value === undefined)
    throw new SconesError(`${where}: Fn::GetAtt ${path} has no value in the local backend`);
  return value;
}

function resolveSub(arg: unknown, context: ResolveContext, where: string): string {
  const [text, variables] = Array.isArray(arg)
    ? (arg as [string, Record<string, unknown>])
    : [arg as string, {}];
  return text.replace(/\$\{([^}!]+)\}/g, (_, name: string) => {
    if (name in variables) return String(resolveValue(variables[name], context, where));
    if (name.includes('.') && !name.startsWith('AWS::')) return resolveAttribute(name, context, where);
    return resolveRef(name, context, where);
  });
}

/** Replaces `${Name}` placeholders of a state machine definition, as DefinitionSubstitutions does. */
export function substituteDefinition(definition: string, substitutions: Record<string, string>): string {
  return definition.replace(/\$\{([A-Za-z0-9_]+)\}/g, (_match, name: string) => {
    const value = substitutions[name];
    if (value === undefined)
      throw new SconesError(
        `state machine definition uses \${${name}}, which DefinitionSubstitutions does not define`,
      );
    return value;
  });
}
