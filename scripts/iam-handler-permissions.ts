/**
 * Regenerates test/iam/data/handler-permissions.json: the permissions that the handlers CloudFormation's stack
 * operations invoke (create, read, update, delete, list) and the tagging of each resource type that
 * workflow.yaml or bootstrap.yaml uses list in CloudFormation's published resource provider schemas (the
 * registry schemas: `aws cloudformation describe-type --type RESOURCE --type-name <Type>`); the stack's tags
 * reach every resource, so `tagging.permissions` count as much as the handlers'.
 *
 * Usage: node --import tsx scripts/iam-handler-permissions.ts <source>=<schema.json>...
 * where <source> names where the file came from (repository@commit and date, or describe-type and date).
 * Copies of the registry schemas this machine can read offline: hashicorp/terraform-provider-awscc keeps them
 * under internal/service/cloudformation/schemas/AWS_<Service>_<Type>.json; the open-source providers'
 * repositories (aws-cloudformation/aws-cloudformation-resource-providers-<service>) keep their own. When two
 * sources give one type, the permissions are united (a newer schema lists more, an older one never less that
 * its handlers still call). Types with no schema, or a schema without handlers, are listed under `missing`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BOOTSTRAP_TEMPLATE, loadTemplate, WORKFLOW_TEMPLATE } from '../pipeline/templates/template.js';

const OUTPUT = join(import.meta.dirname, '..', 'test', 'iam', 'data', 'handler-permissions.json');
const HANDLERS = ['create', 'read', 'update', 'delete', 'list'] as const;
type Permissions = (typeof HANDLERS)[number] | 'tagging';
const inputs = process.argv.slice(2).map((arg) => {
  const at = arg.lastIndexOf('=');
  return { source: arg.slice(0, at), file: arg.slice(at + 1) };
});
if (inputs.length === 0 || inputs.some((i) => i.source === '' || i.file === '')) {
  process.stderr.write('usage: iam-handler-permissions.ts <source>=<schema.json>...\n');
  process.exit(2);
}
/** Each type, with the templates that use it. */
const used = new Map<string, string[]>();
for (const [file, path] of [
  ['bootstrap.yaml', BOOTSTRAP_TEMPLATE],
  ['workflow.yaml', WORKFLOW_TEMPLATE],
] as const)
  for (const { Type } of Object.values(loadTemplate(path).Resources))
    used.set(Type, [...new Set([...(used.get(Type) ?? []), file])]);
const types: Record<string, { sources: string[]; templates: string[] } & Record<Permissions, string[]>> = {};
for (const { source, file } of inputs) {
  const schema = JSON.parse(readFileSync(file, 'utf8')) as {
    typeName: string;
    handlers?: Record<string, { permissions?: string[] }>;
    tagging?: { permissions?: string[] };
  };
  if (!used.has(schema.typeName) || schema.handlers === undefined) continue;
  const entry = types[schema.typeName] ?? {
    sources: [],
    templates: used.get(schema.typeName) ?? [],
    create: [],
    read: [],
    update: [],
    delete: [],
    list: [],
    tagging: [],
  };
  types[schema.typeName] = entry;
  entry.sources.push(source);
  const listed = (p: Permissions) =>
    (p === 'tagging' ? schema.tagging : schema.handlers?.[p])?.permissions ?? [];
  for (const p of [...HANDLERS, 'tagging'] as const)
    entry[p] = [...new Set([...entry[p], ...listed(p)])].sort();
}
const document = {
  about:
    'Handler permissions from CloudFormation resource provider schemas; regenerate with scripts/iam-handler-permissions.ts',
  generated: new Date().toISOString().slice(0, 10),
  types: Object.fromEntries(Object.entries(types).sort(([a], [b]) => a.localeCompare(b))),
  missing: [...used.keys()].filter((t) => !(t in types)).sort(),
};
writeFileSync(OUTPUT, `${JSON.stringify(document, null, 2)}\n`);
process.stdout.write(
  `${Object.keys(types).length} types written to ${OUTPUT}; no handlers on file for: ${document.missing.join(', ') || 'none'}\n`,
);
