import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { parse } from 'yaml';
import { createProgram } from '../../pipeline/cli.js';
import { STAGES } from '../../pipeline/constants.js';
import { Capture } from '../helpers/workspace.js';

interface Step {
  id?: string;
  run?: string;
  uses?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
}
interface Job {
  needs?: string | string[];
  'timeout-minutes'?: number;
  environment?: string;
  outputs?: Record<string, string>;
  steps: Step[];
  permissions?: Record<string, string>;
  if?: string;
}
interface Workflow {
  on: Record<string, unknown>;
  permissions: Record<string, string>;
  concurrency?: { group: string; 'cancel-in-progress': boolean };
  env?: Record<string, string>;
  jobs: Record<string, Job>;
}

const load = (name: string) =>
  parse(
    readFileSync(join(import.meta.dirname, '..', '..', '.github', 'workflows', name), 'utf8'),
  ) as Workflow;
const pipeline = load('pipeline.yml');
const pr = load('pr.yml');
const rollback = load('rollback.yml');
const monitor = load('monitor.yml');
const needsOf = (job: Job) => [job.needs ?? []].flat();

/** Every `npx scones ...` command line of a workflow, split into words. */
function sconesCommands(workflow: Workflow): { job: string; words: string[] }[] {
  return Object.entries(workflow.jobs).flatMap(([job, spec]) =>
    spec.steps.flatMap((step) =>
      (step.run ?? '')
        .split('\n')
        .filter((line) => line.includes('npx scones '))
        .map((line) => ({
          job,
          words: line
            .slice(line.indexOf('npx scones ') + 'npx scones '.length)
            .split(/\s+/)
            .filter(Boolean),
        })),
    ),
  );
}

describe('GitHub workflows', () => {
  const program = createProgram(
    { stdout: new Capture(), stderr: new Capture(), env: {}, cwd: '.' },
    () => {},
  );

  it('pipeline: pushes to main (not docs) and manual runs with the inputs people change by hand', () => {
    expect((pipeline.on.push as { branches: string[] }).branches).to.deep.equal(['main']);
    expect((pipeline.on.push as { 'paths-ignore': string[] })['paths-ignore']).to.include('**.md');
    const inputs = (pipeline.on.workflow_dispatch as { inputs: Record<string, { type: string }> }).inputs;
    expect(Object.keys(inputs)).to.have.members([
      'min-accuracy',
      'epochs',
      'training-instance-type',
      'endpoint-instance-type',
      'test-executions',
      'force-deploy',
      'reuse-last-model',
    ]);
    for (const name of Object.keys(inputs))
      expect(JSON.stringify(pipeline.env), name).to.include(`inputs.${name}`);
  });

  it('pipeline: one job per stage, needs in pipeline order, one run id, least privilege, no overlapping deploys', () => {
    expect(Object.keys(pipeline.jobs)).to.deep.equal([...STAGES]);
    STAGES.forEach((stage, i) => {
      const needs = needsOf(pipeline.jobs[stage]!);
      if (i > 0) expect(needs, stage).to.include(STAGES[i - 1]);
      for (const need of needs)
        expect(STAGES.indexOf(need as (typeof STAGES)[number]), `${stage} needs ${need}`).to.be.lessThan(i);
    });
    expect(pipeline.permissions).to.deep.equal({ 'id-token': 'write', contents: 'read' });
    expect(pipeline.concurrency?.['cancel-in-progress']).to.equal(false);
    expect(pipeline.jobs.deploy?.environment).to.equal('production');
    expect(pipeline.env?.RUN_ID).to.equal('gh-${{ github.run_id }}');
    for (const [name, job] of Object.entries(pipeline.jobs)) {
      expect(job['timeout-minutes'], name).to.be.a('number');
      const credentials = job.steps.find((s) => s.uses?.startsWith('aws-actions/configure-aws-credentials@'));
      expect(credentials?.with?.['role-to-assume'], name).to.equal('${{ vars.AWS_DEPLOY_ROLE_ARN }}');
      expect(JSON.stringify(job), name).to.not.match(/aws-access-key-id|aws-secret-access-key/);
    }
  });

  it('every job sets up the Node of .nvmrc, the floor package.json engines names', () => {
    const nvmrc = readFileSync(join(import.meta.dirname, '..', '..', '.nvmrc'), 'utf8').trim();
    const engines = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8'))
      .engines.node as string;
    expect(engines).to.equal(`>=${nvmrc}`);
    const setups = [pipeline, pr, rollback, monitor].flatMap((w) =>
      Object.entries(w.jobs).flatMap(([job, spec]) =>
        spec.steps
          .filter((s) => s.uses?.startsWith('actions/setup-node'))
          .map((s) => ({ job, with: s.with })),
      ),
    );
    expect(setups.length).to.be.greaterThan(10);
    for (const { job, with: options } of setups)
      expect(options, job)
        .to.deep.include({ 'node-version-file': '.nvmrc' })
        .and.not.have.property('node-version');
  });

  it('every scones command the workflows run exists, and every flag they pass is accepted', () => {
    const commands = [
      ...sconesCommands(pipeline),
      ...sconesCommands(pr),
      ...sconesCommands(rollback),
      ...sconesCommands(monitor),
    ];
    expect(commands.length).to.be.greaterThan(7);
    for (const { job, words } of commands) {
      const [name, ...rest] = words;
      const command = program.commands.find((c) => c.name() === name);
      expect(command, `${job}: scones ${name}`).to.not.equal(undefined);
      const accepted = new Set(command!.options.map((o) => o.long));
      for (const flag of rest.filter((w) => w.startsWith('--')))
        expect(accepted.has(flag), `${job}: scones ${name} ${flag}`).to.equal(true);
    }
    for (const stage of STAGES)
      expect(
        sconesCommands(pipeline).some(
          (c) => c.job === stage && c.words[0] === stage && c.words.includes('--run-id'),
        ),
        stage,
      ).to.equal(true);
  });

  it('job outputs read by later jobs are written by the jobs they need, from steps that exist', () => {
    for (const workflow of [pipeline, pr, rollback, monitor]) {
      for (const [name, job] of Object.entries(workflow.jobs)) {
        for (const [output, value] of Object.entries(job.outputs ?? {})) {
          const step = /steps\.([\w-]+)\.outputs\.([\w-]+)/.exec(value);
          expect(step, `${name}.${output}`).to.not.equal(null);
          expect(
            job.steps.some((s) => s.id === step![1]),
            `${name}.${output} reads step ${step![1]}`,
          ).to.equal(true);
        }
        for (const [, needed, output] of JSON.stringify(job).matchAll(
          /needs\.([\w-]+)\.outputs\.([\w-]+)/g,
        )) {
          expect(needsOf(job), `${name} reads needs.${needed}`).to.include(needed);
          expect(workflow.jobs[needed!]?.outputs, `${needed} declares ${output}`).to.have.property(output!);
        }
      }
    }
  });

  it('the artifact path is the folder monitor-report writes', () => {
    const upload = pipeline.jobs['monitor-report']!.steps.find((s) =>
      s.uses?.startsWith('actions/upload-artifact@'),
    );
    expect(upload?.with?.path).to.equal('.scones/runs/${{ env.RUN_ID }}/report');
    const local = pr.jobs['local-pipeline']!.steps.find((s) =>
      s.uses?.startsWith('actions/upload-artifact@'),
    );
    expect(local?.with?.path).to.equal('.scones/runs/pr-${{ github.event.pull_request.number }}/report');
  });

  it('pr: checks, the local pipeline, and a change-set preview only for branches of this repository', () => {
    expect(Object.keys(pr.on)).to.deep.equal(['pull_request']);
    expect(pr.permissions).to.deep.equal({ contents: 'read' });
    expect(pr.jobs.checks?.steps.some((s) => s.run === 'npm test')).to.equal(true);
    // Where the advisory database is reachable (GitHub's runners), high or critical findings fail the check.
    expect(pr.jobs.checks?.steps.map((s) => s.run)).to.include('npm audit --omit=dev --audit-level=high');
    const preview = pr.jobs['change-set-preview']!;
    expect(preview.if).to.include('github.event.pull_request.head.repo.full_name == github.repository');
    expect(preview.permissions).to.deep.equal({
      'id-token': 'write',
      contents: 'read',
      'pull-requests': 'write',
    });
    expect(JSON.stringify(preview)).to.include('vars.AWS_PREVIEW_ROLE_ARN');
    for (const [name, job] of Object.entries(pr.jobs)) expect(job['timeout-minutes'], name).to.be.a('number');
  });
});

describe('rollback workflow', () => {
  it('is started by hand only, in the production environment, with the deploy role, never beside a deploy', () => {
    expect(Object.keys(rollback.on)).to.deep.equal(['workflow_dispatch']);
    const inputs = (rollback.on.workflow_dispatch as { inputs: Record<string, { type: string }> }).inputs;
    expect(Object.keys(inputs)).to.deep.equal(['to']);
    expect(rollback.permissions).to.deep.equal({ 'id-token': 'write', contents: 'read' });
    expect(rollback.concurrency).to.deep.equal(pipeline.concurrency);
    const [job, ...others] = Object.values(rollback.jobs);
    expect(others).to.deep.equal([]);
    expect(job?.environment).to.equal('production');
    expect(job?.['timeout-minutes']).to.be.a('number');
    const credentials = job?.steps.find((s) => s.uses?.startsWith('aws-actions/configure-aws-credentials@'));
    expect(credentials?.with?.['role-to-assume']).to.equal('${{ vars.AWS_DEPLOY_ROLE_ARN }}');
  });

  it('runs scones rollback on aws with the input as a variable (never spliced into the script), with and without --to', () => {
    const step = Object.values(rollback.jobs)[0]!.steps.find((s) => s.run?.includes('npx scones rollback'));
    expect(step?.env?.TO).to.equal('${{ inputs.to }}');
    expect(step?.run).to.not.include('${{');
    const commands = sconesCommands(rollback).map((c) => c.words.join(' '));
    expect(commands).to.deep.equal(['rollback --backend aws --to "$TO"', 'rollback --backend aws']);
  });
});

describe('monitor workflow', () => {
  it('runs on a schedule and by hand; each job has only the permissions it needs (the issue job alone writes issues)', () => {
    expect(Object.keys(monitor.on)).to.deep.equal(['schedule', 'workflow_dispatch']);
    expect((monitor.on.schedule as { cron: string }[])[0]?.cron).to.match(/^\S+ \S+ \* \* \*$/);
    expect(monitor.permissions).to.deep.equal({});
    expect(monitor.jobs.report?.permissions).to.deep.equal({ 'id-token': 'write', contents: 'read' });
    expect(monitor.jobs.issue?.permissions).to.deep.equal({ contents: 'read', issues: 'write' });
    expect(monitor.concurrency?.['cancel-in-progress']).to.equal(false);
    for (const [name, job] of Object.entries(monitor.jobs))
      expect(job['timeout-minutes'], name).to.be.a('number');
  });

  it('reports on the live capture of a recent window and hands report.json of the uploaded folder to the issue script', () => {
    const [command] = sconesCommands(monitor);
    expect(command?.words.slice(0, 5)).to.deep.equal([
      'monitor-report',
      '--backend',
      'aws',
      '--since',
      '"$SINCE"',
    ]);
    expect(command?.words).to.include('--run-id');
    const steps = monitor.jobs.report!.steps;
    const upload = steps.find((s) => s.uses?.startsWith('actions/upload-artifact@'));
    // The folder monitor-report writes a report outside any run in (captureReportsDir/<report id>).
    expect(upload?.with?.path).to.equal('.scones/capture-reports/${{ env.REPORT_ID }}');
    const download = monitor.jobs.issue!.steps.find((s) => s.uses?.startsWith('actions/download-artifact@'));
    expect(download?.with?.name).to.equal(upload?.with?.name);
    const issue = monitor.jobs.issue!.steps.find((s) => s.run?.includes('scripts/monitor-issue.ts'));
    expect(issue?.run).to.equal(
      `node --import tsx scripts/monitor-issue.ts ${download?.with?.path}/report.json`,
    );
    expect(issue?.env?.GITHUB_TOKEN).to.equal('${{ secrets.GITHUB_TOKEN }}');
  });
});
