import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';

/**
 * The import rules of the code map (docs/code-map.md), checked over the real import graph of pipeline/ and lambdas/
 * (static, dynamic, type-only and re-exports alike). A short walk over our own sources rather than a library:
 * every specifier here is a string literal, and the rules need only "which file imports which".
 */
const root = join(import.meta.dirname, '..', '..');

/** Control-plane clients: only the aws backend may build them (data-plane S3 and the endpoint runtime are shared). */
const CONTROL_PLANE = [
  '@aws-sdk/client-cloudformation',
  '@aws-sdk/client-cloudwatch',
  '@aws-sdk/client-sagemaker',
  '@aws-sdk/client-sfn',
  '@aws-sdk/client-iam',
  '@aws-sdk/client-sts',
  '@aws-sdk/credential-providers',
];

export interface ImportEdge {
  /** Project-relative path of the importing file. */
  from: string;
  /** Project-relative path for a relative import, the package specifier otherwise. */
  to: string;
}

const IMPORT_PATTERN =
  /(?:^|[\s;])(?:import|export)\s+(?:type\s+)?(?:[\w*{}\s,$]+\s+from\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

function sourceFiles(dir: string): string[] {
  return readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' })
    .filter((file) => /\.(ts|mts)$/.test(file) && !file.endsWith('.d.ts'))
    .map((file) => join(dir, file));
}

/** Every import edge of the given source folders. */
export function importEdges(folders: readonly string[]): ImportEdge[] {
  const edges: ImportEdge[] = [];
  for (const file of folders.flatMap(sourceFiles)) {
    const text = readFileSync(join(root, file), 'utf8');
    for (const match of text.matchAll(IMPORT_PATTERN)) {
      const specifier = match[1] ?? match[2];
      if (specifier === undefined) continue;
      const to = specifier.startsWith('.')
        ? normalize(join(dirname(file), specifier)).replace(/\.js$/, '.ts')
        : specifier;
      edges.push({ from: file, to });
    }
  }
  return edges;
}

/** What every stage may import. */
const STAGE_IMPORTS = [
  'pipeline/stages/',
  'pipeline/contracts/',
  'pipeline/util/',
  'pipeline/ports.ts',
  'pipeline/config.ts',
  'pipeline/manifest.ts',
  'pipeline/errors.ts',
  'pipeline/constants.ts',
  'pipeline/console-reporter.ts',
  'node:crypto',
  'zod',
];

export interface Rule {
  name: string;
  /** The importing files the rule applies to. */
  applies: (from: string) => boolean;
  /** True when the edge breaks the rule. */
  forbidden: (edge: ImportEdge) => boolean;
}

const under = (folder: string) => (path: string) => path.startsWith(`${folder}/`);
const isPackage = (to: string) =>
  !to.startsWith('pipeline/') && !to.startsWith('lambdas/') && !to.includes('/../');

export const RULES: Rule[] = [
  {
    name: 'stages import ports, contracts and util only (with the run they work on: configuration, manifest, errors, constants, the reporter)',
    applies: under('pipeline/stages'),
    forbidden: ({ to }) => !STAGE_IMPORTS.some((allowed) => to === allowed || to.startsWith(allowed)),
  },
  {
    name: 'only pipeline/backends/aws builds control-plane clients',
    applies: (from) => !under('pipeline/backends/aws')(from),
    forbidden: ({ to }) => CONTROL_PLANE.some((name) => to === name || to.startsWith(`${name}/`)),
  },
  {
    name: 'lambdas import only pipeline/contracts, their own folder, the AWS SDK and node built-ins',
    applies: under('lambdas'),
    forbidden: ({ to }) =>
      isPackage(to)
        ? !(to.startsWith('@aws-sdk/') || to.startsWith('node:') || to === 'zod')
        : !(to.startsWith('lambdas/') || to.startsWith('pipeline/contracts/')),
  },
  {
    name: 'pipeline/contracts imports only zod, node:crypto (the inference id is a digest) and other contracts',
    applies: under('pipeline/contracts'),
    forbidden: ({ to }) =>
      isPackage(to) ? to !== 'zod' && to !== 'node:crypto' : !to.startsWith('pipeline/contracts/'),
  },
  {
    name: 'pipeline/local-s3 imports nothing else of the project',
    applies: under('pipeline/local-s3'),
    forbidden: ({ to }) => !isPackage(to) && !to.startsWith('pipeline/local-s3/'),
  },
  {
    name: 'nothing imports scripts/ or bench/',
    applies: () => true,
    forbidden: ({ to }) => to.startsWith('scripts/') || to.startsWith('bench/'),
  },
];

export function violations(edges: readonly ImportEdge[], rules: readonly Rule[] = RULES): string[] {
  return rules.flatMap((rule) =>
    edges
      .filter((edge) => rule.applies(edge.from) && rule.forbidden(edge))
      .map((edge) => `${rule.name}: ${edge.from} imports ${edge.to}`),
  );
}

/** Import cycles among project files, each as the list of files around it. */
export function cycles(edges: readonly ImportEdge[]): string[][] {
  const graph = new Map<string, string[]>();
  for (const { from, to } of edges) {
    if (isPackage(to)) continue;
    graph.set(from, [...(graph.get(from) ?? []), to]);
  }
  const found: string[][] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): void => {
    state.set(node, 'visiting');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      const seen = state.get(next);
      if (seen === 'visiting') found.push([...stack.slice(stack.indexOf(next)), next]);
      else if (seen === undefined) visit(next);
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of graph.keys()) if (!state.has(node)) visit(node);
  return found;
}
