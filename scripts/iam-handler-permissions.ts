/**
 * Regenerates test/iam/data/handler-permissions.json: the create/update/delete handler permissions that
 * CloudFormation's resource provider schemas list for each resource type workflow.yaml uses.
 *
 * Usage: node --import tsx scripts/iam-handler-permissions.ts "<source note>" <schema.json>...
 * Each schema is a registry resource schema (JSON with typeName and handlers): from
 * `aws cloudformation describe-type --type RESOURCE --type-name <Type> --query Schema --output text`, from the
 * published CloudFormation resource schemas archive, or from a type's open-source provider repository
 * (aws-cloudformation/aws-cloudformation-resource-providers-<service>). Types of the template that no given
 * schema covers are listed under `missing`, so the test can say which proofs it could not make.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadTemplate, WORKFLOW_TEMPLATE } from '../pipeline/deploy/template.js';

const OUTPUT = join(import.meta.dirname, '..', 'test', 'iam', 'data', 'handler-permissions.json');
const [source, ...files] = process.argv.slice(2);
if (source === undefined || files.length === 0) {
  process.stderr.write('usage: iam-handler-permissions.ts "<source note>" <schema.json>...\n');
  process.exit(2);
}
const used = new Set(Object.values(loadTemplate(WORKFLOW_TEMPLATE).Resources).map((r) => r.Type));
const types: Record<string, Record<'create' | 'update' | 'delete', string[]>> = {};
for (const file of files) {
  const schema = JSON.parse(readFileSync(file, 'utf8')) as {
    typeName: string;
    handlers?: Record<string, { permissions?: string[] }>;
  };
  if (!used.has(schema.typeName)) continue;
  types[schema.typeName] = {
    create: schema.handlers?.create?.permissions ?? [],
    update: schema.handlers?.update?.permissions ?? [],
    delete: schema.handlers?.delete?.permissions ?? [],
  };
}
const document = {
  source,
  generated: new Date().toISOString().slice(0, 10),
  types,
  missing: [...used].filter((t) => !(t in types)).sort(),
};
writeFileSync(OUTPUT, `${JSON.stringify(document, null, 2)}\n`);
process.stdout.write(`${Object.keys(types).length} types written, missing: ${document.missing.join(', ') || 'none'}\n`);
