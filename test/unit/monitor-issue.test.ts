import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { expect } from 'chai';
import { imageStatistics } from '../../pipeline/report/image-statistics.js';
import { CaptureAggregator } from '../../pipeline/report/report.js';
import {
  failingChecks,
  MONITOR_LABEL,
  MONITOR_MARKER,
  type MonitorReportJson,
  monitorReportJsonSchema,
  syncMonitorIssue,
} from '../../scripts/monitor-issue.js';
import { pngBytes, randomPixels } from '../helpers/fixtures.js';
import { tempDir } from '../helpers/workspace.js';

/**
 * GitHub's published REST description (the OpenAPI document of @octokit/openapi, dereferenced): every
 * request the script sends must be a documented operation, with documented query parameters and a body
 * its request schema accepts; the fake answers with the operation's documented example, checked against
 * its documented response schema.
 */
interface Operation {
  parameters?: { name: string; in: string }[];
  requestBody?: { content: { 'application/json': { schema: object } } };
  responses: Record<
    string,
    { content?: { 'application/json': { schema: object; examples?: Record<string, { value: unknown }> } } }
  >;
}
const documentPath = (() => {
  try {
    return createRequire(import.meta.url).resolve('@octokit/openapi/generated/api.github.com.deref.json');
  } catch {
    throw new Error(
      'GitHub REST description missing: add the devDependency @octokit/openapi (npm install -D @octokit/openapi)',
    );
  }
})();
// Quiet: the description's formats (int64, uri, ...) are not checked, and Ajv would print one line for each.
const ajv = new Ajv({ strict: false, allErrors: true, logger: false });
/** OpenAPI 3.0's `nullable: true` is JSON Schema's "or null" (OpenAPI 3.0.3, Schema Object). */
function jsonSchema(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(jsonSchema);
  if (typeof schema !== 'object' || schema === null) return schema;
  const { nullable, ...rest } = schema as Record<string, unknown>;
  const converted = Object.fromEntries(
    Object.entries(rest).map(([k, v]) => [k, k === 'example' || k === 'examples' ? v : jsonSchema(v)]),
  );
  return nullable === true ? { anyOf: [converted, { type: 'null' }] } : converted;
}
const compile = (schema: object) => ajv.compile(jsonSchema(schema) as object);

interface FakeIssue {
  number: number;
  title: string;
  body: string;
  state: 'open' | 'closed';
  labels: string[];
  comments: string[];
}

/** GitHub's issues API in memory, answering only requests the REST description documents. */
function fakeGitHub(paths: Record<string, Record<string, Operation>>) {
  const issues: FakeIssue[] = [];
  const sent: string[] = [];
  const matchOperation = (method: string, pathname: string) => {
    for (const [template, operations] of Object.entries(paths)) {
      const pattern = new RegExp(`^${template.replace(/\{[^}]+\}/g, '([^/]+)')}$`);
      const match = pattern.exec(pathname);
      const operation = operations[method.toLowerCase()];
      if (match !== null && operation !== undefined) return { template, operation, values: match.slice(1) };
    }
    throw new Error(`${method} ${pathname} is no operation of GitHub's REST description`);
  };
  const answer = (operation: Operation, fill: (example: Record<string, unknown>) => unknown) => {
    const [status, response] = Object.entries(operation.responses).find(([code]) => code.startsWith('2'))!;
    const content = response.content!['application/json'];
    const example = Object.values(content.examples ?? {})[0]?.value;
    const body = fill(structuredClone(example) as Record<string, unknown>);
    const validate = compile(content.schema);
    if (!validate(body))
      throw new Error(`fake answer breaks the documented schema: ${ajv.errorsText(validate.errors)}`);
    return new Response(JSON.stringify(body), { status: Number(status) });
  };
  // The documented example is a pull request's issue; an issue proper has no pull_request field.
  const asIssue = ({ pull_request: _, ...example }: Record<string, unknown>, issue: FakeIssue) => ({
    ...example,
    number: issue.number,
    title: issue.title,
    body: issue.body,
    state: issue.state,
    labels: issue.labels.map((name, id) => ({
      id,
      name,
      node_id: 'x',
      url: 'u',
      color: 'ff0000',
      default: false,
      description: null,
    })),
  });
  const fetch = async (url: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const { pathname, searchParams } = new URL(String(url));
    const method = init?.method ?? 'GET';
    const { template, operation, values } = matchOperation(method, pathname);
    sent.push(`${method} ${template}`);
    const documented = new Set(
      (operation.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name),
    );
    for (const name of searchParams.keys())
      expect(documented, `${method} ${template} ?${name}`).to.include(name);
    const body = init?.body === undefined ? undefined : JSON.parse(String(init.body));
    if (operation.requestBody !== undefined) {
      const validate = compile(operation.requestBody.content['application/json'].schema);
      if (!validate(body)) throw new Error(`${method} ${template}: ${ajv.errorsText(validate.errors)}`);
    }
    const number = Number(values[2]);
    const issue = issues.find((i) => i.number === number);
    switch (`${method} ${template}`) {
      case 'GET /repos/{owner}/{repo}/issues': {
        const label = searchParams.get('labels');
        const state = searchParams.get('state') ?? 'open';
        const found = issues.filter((i) => i.state === state && (label === null || i.labels.includes(label)));
        return answer(operation, (example) =>
          found.map((i) => asIssue((example as unknown as Record<string, unknown>[])[0]!, i)),
        );
      }
      case 'POST /repos/{owner}/{repo}/issues': {
        const created = {
          number: issues.length + 1,
          title: body.title,
          body: body.body ?? '',
          state: 'open' as const,
          labels: body.labels ?? [],
          comments: [],
        };
        issues.push(created);
        return answer(operation, (example) => asIssue(example, created));
      }
      case 'PATCH /repos/{owner}/{repo}/issues/{issue_number}':
        Object.assign(
          issue!,
          body.state === undefined ? {} : { state: body.state },
          body.title === undefined ? {} : { title: body.title },
          body.body === undefined ? {} : { body: body.body },
        );
        return answer(operation, (example) => asIssue(example, issue!));
      case 'POST /repos/{owner}/{repo}/issues/{issue_number}/comments':
        issue!.comments.push(body.body);
        return answer(operation, (example) => ({ ...example, body: body.body }));
      default:
        throw new Error(`the fake does not answer ${method} ${template}`);
    }
  };
  return { issues, sent, fetch: fetch as typeof globalThis.fetch };
}

const SIDE = 16;
const image = (seed: number, brighten = 0) =>
  randomPixels(SIDE, SIDE, seed).map((v, i) => (i % 4 === 3 ? v : Math.min(255, v + brighten)));

/**
 * A monitor report (report.json's figures, parsed as the script parses them) of a window of captured
 * images against a baseline of clean ones; `routed` of every 10 inferences are confident (0.97, over the
 * threshold 0.9), the rest not (0.6); `promised` is the deploy-time automation rate.
 */
function report(
  windowSeed: number,
  brighten: number,
  routed = 10,
  promised?: number,
  records = 200,
): MonitorReportJson {
  const confident = (i: number) => (i % 2 === 0 ? [0.97, 0.03] : [0.03, 0.97]);
  const probabilities = (i: number) =>
    i % 10 < routed ? confident(i) : i % 2 === 0 ? [0.6, 0.4] : [0.4, 0.6];
  const aggregator = new CaptureAggregator({
    classes: ['bicycle', 'motorcycle'],
    threshold: 0.9,
    minAccuracy: 0.8,
    ...(promised === undefined ? {} : { promisedAutomationRate: promised }),
    baseline: {
      probabilities: Array.from({ length: 200 }, (_, i) => confident(i)),
      images: Array.from({ length: 200 }, (_, i) =>
        imageStatistics({ width: SIDE, height: SIDE, data: image(1000 + i) }),
      ),
    },
  });
  const lines = Array.from({ length: records }, (_, i) =>
    JSON.stringify({
      captureData: {
        endpointInput: {
          observedContentType: 'image/png',
          mode: 'INPUT',
          encoding: 'BASE64',
          data: pngBytes(SIDE, SIDE, 0, { data: image(windowSeed + i, brighten) }).toString('base64'),
        },
        endpointOutput: {
          observedContentType: 'application/json',
          mode: 'OUTPUT',
          encoding: 'JSON',
          data: JSON.stringify(probabilities(i)),
        },
      },
      eventMetadata: {
        eventId: `e-${i}`,
        inferenceTime: `2026-12-03T10:${String(Math.floor(i / 60)).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}Z`,
      },
      eventVersion: '0',
    }),
  );
  aggregator.addFile(lines.join('\n'), 'capture.jsonl');
  return monitorReportJsonSchema.parse(
    JSON.parse(
      JSON.stringify({
        ...aggregator.summarize(),
        header: { endpoint: 'scones-workflow-endpoint', trainingId: 't-1', thresholdSource: 'deployment' },
      }),
    ),
  );
}

describe('monitor issue (scripts/monitor-issue.ts against GitHub REST description)', function () {
  this.timeout(60_000);
  type Paths = Record<string, Record<string, Operation>>;
  // Only the issue operations are kept: the whole 70 MB document would stay in the suite's memory.
  let paths: Paths = {};
  before(() => {
    const all = (JSON.parse(readFileSync(documentPath, 'utf8')) as { paths: Paths }).paths;
    paths = Object.fromEntries(
      Object.entries(all).filter(([path]) => path.startsWith('/repos/{owner}/{repo}/issues')),
    );
  });
  after(() => {
    paths = {};
  });
  const target = (github: ReturnType<typeof fakeGitHub>) => ({
    repository: 'acme/scones',
    token: 't',
    fetch: github.fetch,
    runUrl: 'https://github.com/acme/scones/actions/runs/9',
  });

  it('a clean window opens no issue, and warns of nothing (live traffic has no labels: accuracy is not judged)', async () => {
    const github = fakeGitHub(paths);
    const clean = report(5000, 0);
    expect(Object.values(clean.verdicts).filter((v) => v.verdict === 'warn')).to.deep.equal([]);
    expect(clean.verdicts.accuracy).to.deep.equal({
      verdict: 'too-few',
      detail: 'no labels for these inferences: accuracy is not measured',
    });
    expect(await syncMonitorIssue(clean, target(github))).to.deep.equal({ action: 'none' });
    expect(github.issues).to.deep.equal([]);
    expect(github.sent).to.deep.equal(['GET /repos/{owner}/{repo}/issues']);
  });

  it('a window of brightened images opens one issue naming the failing checks, a re-run updates it, a recovered window comments and closes it', async () => {
    const github = fakeGitHub(paths);
    const shifted = report(5000, 90);
    expect(shifted.verdicts.imageBrightnessDrift?.verdict).to.equal('warn');
    expect(await syncMonitorIssue(shifted, target(github))).to.deep.equal({ action: 'opened', number: 1 });
    const [issue] = github.issues;
    expect(issue?.labels).to.deep.equal([MONITOR_LABEL]);
    expect(issue?.body).to.include(MONITOR_MARKER).and.include('| imageBrightnessDrift |');
    expect(issue?.body).to.not.include('| accuracy |');
    expect(await syncMonitorIssue(shifted, target(github))).to.deep.equal({ action: 'updated', number: 1 });
    expect(github.issues).to.have.length(1);
    expect(await syncMonitorIssue(report(7000, 0), target(github))).to.deep.equal({
      action: 'closed',
      number: 1,
    });
    expect(issue?.state).to.equal('closed');
    expect(issue?.comments[0]).to.match(/checks pass again/);
    expect(github.sent).to.deep.equal([
      'GET /repos/{owner}/{repo}/issues',
      'POST /repos/{owner}/{repo}/issues',
      'GET /repos/{owner}/{repo}/issues',
      'PATCH /repos/{owner}/{repo}/issues/{issue_number}',
      'GET /repos/{owner}/{repo}/issues',
      'POST /repos/{owner}/{repo}/issues/{issue_number}/comments',
      'PATCH /repos/{owner}/{repo}/issues/{issue_number}',
    ]);
  });

  it('a window too small or empty to judge the failing checks leaves the issue open: no traffic is no recovery', async () => {
    const github = fakeGitHub(paths);
    expect(await syncMonitorIssue(report(5000, 90), target(github))).to.deep.include({ action: 'opened' });
    const empty = report(5000, 0, 10, undefined, 0);
    expect(empty.records).to.equal(0);
    expect(await syncMonitorIssue(empty, target(github))).to.deep.equal({ action: 'kept', number: 1 });
    // 5 clean inferences: the brightness drift the issue names reads too-few, not pass.
    const small = report(5000, 0, 10, undefined, 5);
    expect(small.verdicts.imageBrightnessDrift?.verdict).to.equal('too-few');
    expect(await syncMonitorIssue(small, target(github))).to.deep.equal({ action: 'kept', number: 1 });
    expect(github.issues[0]?.state).to.equal('open');
    expect(await syncMonitorIssue(report(7000, 0), target(github))).to.deep.equal({
      action: 'closed',
      number: 1,
    });
  });

  it('names an unreachable API, and refuses a report path that is not a file with exit 2', async () => {
    const github = target(fakeGitHub(paths));
    const unreachable = await syncMonitorIssue(report(5000, 0), {
      ...github,
      apiUrl: 'http://127.0.0.1:9',
      fetch: globalThis.fetch,
    }).catch((e: Error) => e);
    expect((unreachable as Error).message).to.match(
      /cannot reach http:\/\/127\.0\.0\.1:9\/repos\/acme\/scones\/issues/,
    );
    const missing = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'scripts/monitor-issue.ts', 'no-such.json'],
      {
        encoding: 'utf8',
        env: { ...process.env, GITHUB_REPOSITORY: 'acme/scones', GITHUB_TOKEN: 't' },
      },
    );
    expect(missing.status).to.equal(2);
    expect(missing.stderr).to.include('no-such.json does not exist');
  });

  it('a window routing fewer orders than the deploy-time promise opens an issue naming automationRate', async () => {
    // 6 of every 10 routed: 60% of 200 (95% interval 53.1-66.5%) against 90% promised.
    const dropped = report(5000, 0, 6, 0.9);
    expect(dropped.verdicts.automationRate?.verdict).to.equal('warn');
    const github = fakeGitHub(paths);
    expect(await syncMonitorIssue(dropped, target(github))).to.deep.equal({ action: 'opened', number: 1 });
    expect(github.issues[0]?.title).to.include('automationRate');
    expect(github.issues[0]?.body).to.include('| automationRate |').and.include('below the 90.0% promised');
    // The same window against a 50% promise holds; without a promise there is nothing to compare with.
    const names = (r: MonitorReportJson) => failingChecks(r).map((f) => f.name);
    expect(report(5000, 0, 6, 0.5).verdicts.automationRate?.verdict).to.equal('pass');
    expect(names(report(5000, 0, 6, 0.5))).to.not.include('automationRate');
    expect(report(5000, 0, 6).verdicts.automationRate?.verdict).to.equal('too-few');
    expect(names(report(5000, 0, 6))).to.not.include('automationRate');
  });

  it('refuses a file that is not a monitor report with exit code 2, naming the file and what to give', () => {
    const { dir, cleanup } = tempDir('monitor-issue-');
    try {
      const file = join(dir, 'report.json');
      writeFileSync(file, JSON.stringify({ records: 3, verdicts: { automationRate: { verdict: 'bad' } } }));
      const run = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/monitor-issue.ts', file], {
        encoding: 'utf8',
        env: { ...process.env, GITHUB_REPOSITORY: 'acme/scones', GITHUB_TOKEN: 't' },
      });
      expect(run.status).to.equal(2);
      expect(run.stderr).to.include(file).and.include('labelled').and.include('scones monitor-report');
    } finally {
      cleanup();
    }
  });
});
