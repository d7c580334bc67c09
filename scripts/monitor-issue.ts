/**
 * Keeps ONE GitHub issue in step with the scheduled monitor (monitor.yml): opens it when a check of the
 * report fails, updates its body while checks keep failing, comments and closes it once the checks it
 * names pass again (a window too small or empty to judge them is no recovery); does
 * nothing while all is well. The open issue is found by its label and the marker in its body, so a re-run
 * never opens a second one. GitHub REST API over fetch (Issues: list repository issues, create, update,
 * create a comment).
 *   node --import tsx scripts/monitor-issue.ts REPORT_JSON
 * Environment: GITHUB_REPOSITORY (owner/name), GITHUB_TOKEN, optional GITHUB_API_URL and a run link from
 * GITHUB_SERVER_URL + GITHUB_RUN_ID. Exit 2 on bad input, 1 when GitHub refuses or cannot be reached.
 */
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { checkSchema } from '../pipeline/report/aggregate.js';
import { fixedLimit, readCheckedFile } from '../pipeline/util/files.js';

export const MONITOR_LABEL = 'scones-monitor';
/** In every body the script writes: with the label, it tells our issue from any other. */
export const MONITOR_MARKER = '<!-- scones-monitor-issue -->';

/** The part of a monitor report's report.json this script reads (pipeline/report/report.ts writes it). */
export const monitorReportJsonSchema = z.object({
  records: z.number(),
  labelled: z.number(),
  verdicts: z.record(z.string(), checkSchema),
  header: z.object({ endpoint: z.string(), trainingId: z.string() }).partial().nullish(),
  timeRange: z.object({ from: z.string(), to: z.string() }).nullish(),
});
export type MonitorReportJson = z.infer<typeof monitorReportJsonSchema>;

/**
 * The checks that alert: drift (every *Drift verdict), the live automation rate against the deploy-time
 * promise, and accuracy only where labels exist (live traffic has none; its accuracy verdict is then a
 * note, not a failure).
 */
export function failingChecks(report: MonitorReportJson) {
  return Object.entries(report.verdicts)
    .filter(
      ([name, v]) =>
        v.verdict === 'warn' &&
        (name.endsWith('Drift') || name === 'automationRate' || (name === 'accuracy' && report.labelled > 0)),
    )
    .map(([name, v]) => ({ name, detail: v.detail }));
}

export function issueBody(
  report: MonitorReportJson,
  failing: ReturnType<typeof failingChecks>,
  runUrl?: string,
): string {
  const window =
    report.timeRange == null ? 'no records' : `${report.timeRange.from} to ${report.timeRange.to}`;
  return [
    MONITOR_MARKER,
    `The scheduled monitor found ${failing.length} failing check(s) on endpoint \`${report.header?.endpoint ?? '?'}\` (model \`${report.header?.trainingId ?? '?'}\`), ${report.records} inferences, ${window}.`,
    '',
    '| check | detail |',
    '| --- | --- |',
    ...failing.map((f) => `| ${f.name} | ${f.detail.replace(/\|/g, '\\|')} |`),
    '',
    runUrl === undefined ? '' : `Report: ${runUrl} (artifact \`monitor-report\`)`,
    '',
    'This issue is updated while the checks keep failing and closed when they pass again.',
    '',
  ].join('\n');
}

export interface GitHubTarget {
  /** `owner/name`. */
  repository: string;
  token: string;
  apiUrl?: string;
  fetch?: typeof fetch;
  runUrl?: string;
}

export type IssueAction =
  | { action: 'none' }
  | { action: 'opened' | 'updated' | 'closed' | 'kept'; number: number };

/** The fields read of GitHub's answers (REST: list repository issues, create an issue). */
const createdIssueSchema = z.object({ number: z.number().int() });
const issueListSchema = z.array(
  createdIssueSchema.extend({
    title: z.string(),
    body: z.string().nullish(),
    pull_request: z.unknown().optional(),
  }),
);

/** Opens, updates or closes the monitor issue to match the report. */
export async function syncMonitorIssue(
  report: MonitorReportJson,
  target: GitHubTarget,
): Promise<IssueAction> {
  const [owner, repo] = target.repository.split('/');
  if (owner === undefined || repo === undefined || owner === '' || repo === '')
    throw new UsageError(`GITHUB_REPOSITORY ${target.repository} is not owner/name`);
  const call = async (method: string, path: string, body?: unknown) => {
    const url = `${target.apiUrl ?? 'https://api.github.com'}${path}`;
    const response = await (target.fetch ?? fetch)(url, {
      method,
      headers: {
        accept: 'application/vnd.github+json',
        authorization: `Bearer ${target.token}`,
        'x-github-api-version': '2022-11-28',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    }).catch((error: unknown) => {
      const cause = (error as { cause?: { code?: string } }).cause?.code ?? String(error);
      throw new Error(`cannot reach ${url} (${cause}): check GITHUB_API_URL and the network`);
    });
    if (!response.ok)
      throw new Error(`GitHub answered ${response.status} to ${method} ${path}: ${await response.text()}`);
    return response.json() as Promise<unknown>;
  };
  const base = `/repos/${encodeURIComponent(owner)}/${encodeURIComponent(repo)}/issues`;
  const listed = issueListSchema.parse(
    await call('GET', `${base}?state=open&labels=${encodeURIComponent(MONITOR_LABEL)}&per_page=100`),
  );
  const open = listed.find((i) => i.pull_request === undefined && (i.body ?? '').includes(MONITOR_MARKER));
  const failing = failingChecks(report);
  if (failing.length > 0) {
    const body = issueBody(report, failing, target.runUrl);
    const title = `Monitor: ${failing.map((f) => f.name).join(', ')} failing on ${report.header?.endpoint ?? 'the endpoint'}`;
    if (open === undefined) {
      const created = createdIssueSchema.parse(
        await call('POST', base, { title, body, labels: [MONITOR_LABEL] }),
      );
      return { action: 'opened', number: created.number };
    }
    await call('PATCH', `${base}/${open.number}`, { title, body });
    return { action: 'updated', number: open.number };
  }
  if (open === undefined) return { action: 'none' };
  // Recovery is the checks the issue names passing again; a window too small or empty to judge them
  // (too-few, or no inferences at all) leaves the issue open.
  const named = /^Monitor: (.+) failing on /.exec(open.title)?.[1]?.split(', ') ?? [];
  const recovered =
    report.records > 0 &&
    named.length > 0 &&
    named.every((name) => report.verdicts[name]?.verdict === 'pass');
  if (!recovered) return { action: 'kept', number: open.number };
  await call('POST', `${base}/${open.number}/comments`, {
    body: `The monitor's checks pass again (${report.records} inferences${target.runUrl === undefined ? '' : `, ${target.runUrl}`}): closing.`,
  });
  await call('PATCH', `${base}/${open.number}`, { state: 'closed', state_reason: 'completed' });
  return { action: 'closed', number: open.number };
}

class UsageError extends Error {}

async function main(): Promise<void> {
  const path = process.argv[2];
  try {
    if (path === undefined) throw new UsageError('usage: monitor-issue.ts REPORT_JSON');
    const text = readCheckedFile(path, path, {
      maxBytes: 64 * 1024 * 1024,
      overLimit: fixedLimit('a report', 'give the report.json that scones monitor-report wrote'),
      expected: 'a file: give the report.json that scones monitor-report wrote',
      error: (message) => new UsageError(message),
    }).toString('utf8');
    const parsed = monitorReportJsonSchema.safeParse(JSON.parse(text));
    if (!parsed.success)
      throw new UsageError(
        `${path} is not a monitor report's report.json (${z.prettifyError(parsed.error)}): give the report.json that scones monitor-report wrote`,
      );
    const report = parsed.data;
    const { GITHUB_REPOSITORY, GITHUB_TOKEN, GITHUB_API_URL, GITHUB_SERVER_URL, GITHUB_RUN_ID } = process.env;
    if (GITHUB_REPOSITORY === undefined || GITHUB_TOKEN === undefined)
      throw new UsageError('set GITHUB_REPOSITORY (owner/name) and GITHUB_TOKEN');
    const result = await syncMonitorIssue(report, {
      repository: GITHUB_REPOSITORY,
      token: GITHUB_TOKEN,
      ...(GITHUB_API_URL === undefined ? {} : { apiUrl: GITHUB_API_URL }),
      ...(GITHUB_SERVER_URL === undefined || GITHUB_RUN_ID === undefined
        ? {}
        : { runUrl: `${GITHUB_SERVER_URL}/${GITHUB_REPOSITORY}/actions/runs/${GITHUB_RUN_ID}` }),
    });
    process.stdout.write(
      `${
        result.action === 'none'
          ? 'all checks pass: no issue'
          : result.action === 'kept'
            ? `issue #${result.number} kept open: the checks it names are not judged to pass in this window`
            : `issue #${result.number} ${result.action}`
      }\n`,
    );
  } catch (error) {
    process.stderr.write(`monitor-issue: ${(error as Error).message}\n`);
    process.exitCode = error instanceof UsageError || error instanceof SyntaxError ? 2 : 1;
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
