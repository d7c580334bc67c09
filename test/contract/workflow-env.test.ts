import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { parse as parseYaml } from 'yaml';
import { configKeys, envNameToKey } from '../../pipeline/config.js';

interface Step {
  run?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
}
interface Workflow {
  env?: Record<string, string>;
  jobs: Record<string, { env?: Record<string, string>; steps: Step[] }>;
}

/** Source text of the code a workflow step runs (the CLI and everything it loads). */
const sources = ['pipeline', 'lambdas']
  .flatMap((dir) =>
    readdirSync(dir, { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts'))
      .map((f) => join(dir, f)),
  )
  .map((f) => readFileSync(f, 'utf8'))
  .join('\n');

// GitHub Actions passes `env` to the step's process (GitHub Docs, "Store information in variables"): a
// variable nobody reads only misleads whoever reads the workflow.
describe('pipeline.yml passes only environment variables something reads', () => {
  const workflow = parseYaml(readFileSync('.github/workflows/pipeline.yml', 'utf8')) as Workflow;
  const text = readFileSync('.github/workflows/pipeline.yml', 'utf8');
  const keys = configKeys();

  it('each is a SCONES_* configuration key, used by the workflow itself, or read by the code', () => {
    const passed = [
      ...Object.keys(workflow.env ?? {}),
      ...Object.values(workflow.jobs).flatMap((job) => [
        ...Object.keys(job.env ?? {}),
        ...job.steps.flatMap((step) => Object.keys(step.env ?? {})),
      ]),
    ];
    expect(passed.length).to.be.greaterThan(5);
    const unread = passed.filter((name) => {
      if (name.startsWith('SCONES_')) return !keys.includes(envNameToKey(name));
      const usedByWorkflow = text.includes(`$${name}`) || text.includes(`env.${name}`);
      return !usedByWorkflow && !sources.includes(`'${name}'`) && !sources.includes(`env.${name}`);
    });
    expect(unread).to.deep.equal([]);
  });
});
