import { execFileSync } from 'node:child_process';
import type { Reporter } from './console-reporter.js';
import { type ModelHistoryEntry, type ModelWentLive, modelHistory } from './contracts/model-history.js';
import { SconesError } from './errors.js';
import { newRunId } from './manifest.js';
import type { Backend } from './ports.js';
import { readWentLive, recordWentLive } from './util/model-history-records.js';
import { parseS3Uri } from './util/s3-uri.js';

/** The history as `scones models` shows it: one entry per model, newest first, the deployed one marked live. */
export async function listModels(backend: Backend): Promise<ModelHistoryEntry[]> {
  const [records, deployment] = await Promise.all([readWentLive(backend.store), backend.deployment()]);
  return modelHistory(records, deployment?.trainingId);
}

/** The commit this checkout is at: GITHUB_SHA in Actions, else `git rev-parse HEAD`; undefined when neither. */
export function currentCommit(env: NodeJS.ProcessEnv, cwd: string): string | undefined {
  if (env.GITHUB_SHA !== undefined && env.GITHUB_SHA !== '') return env.GITHUB_SHA;
  try {
    return (
      execFileSync('git', ['rev-parse', 'HEAD'], {
        cwd,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim() || undefined
    );
  } catch {
    return undefined;
  }
}

/** One table row per model, newest first, `*` on the live one. */
export function modelsTable(entries: readonly ModelHistoryEntry[]): string {
  if (entries.length === 0)
    return 'no model in the history yet: a deploy that puts a gated model live records it\n';
  const percent = (x: number) => `${(x * 100).toFixed(1)}%`;
  const rows = entries.map((e) => [
    e.live ? '*' : ' ',
    e.trainingId,
    e.liveAt,
    e.replacedAt ?? (e.live ? 'live' : '-'),
    e.evaluation === undefined
      ? `validation ${percent(e.validationAccuracy)}`
      : `${percent(e.evaluation.quality.accuracy)} [${percent(e.evaluation.quality.accuracyInterval.low)}-${percent(e.evaluation.quality.accuracyInterval.high)}]`,
    String(e.threshold),
    e.verdict,
    e.how,
    e.commit?.slice(0, 12) ?? '-',
  ]);
  const header = [
    '',
    'training id',
    'went live',
    'replaced',
    'test accuracy [95%]',
    'threshold',
    'gate',
    'how',
    'commit',
  ];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  return `${[header, ...rows]
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i] as number))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')}\n`;
}

/**
 * Deploys the previous (or the named) model of the history through the backend's deployer, with the model,
 * evaluation and threshold recorded when it went live: no retraining, no re-evaluation. Refuses a model
 * the history does not hold (never gated), one whose artifacts are gone, and a no-op.
 */
export async function rollback(
  backend: Backend,
  reporter: Reporter,
  options: { to?: string; now?: () => Date },
) {
  const records = await readWentLive(backend.store);
  const live = await backend.deployment();
  const newestFirst = [...records].reverse();
  const target =
    options.to === undefined
      ? newestFirst.find((r) => r.trainingId !== live?.trainingId)
      : newestFirst.find((r) => r.trainingId === options.to);
  if (target === undefined)
    throw new SconesError(
      options.to === undefined
        ? `no earlier model in the model history to roll back to (${records.length} record(s); scones models lists them)`
        : `model ${options.to} was never gated and deployed: it is not in the model history (scones models lists the models you can roll back to)`,
    );
  if (live !== undefined && live.trainingId === target.trainingId && live.threshold === target.threshold)
    throw new SconesError(
      `model ${target.trainingId} is already live (threshold ${live.threshold}): nothing to roll back`,
    );
  await requireArtifacts(backend, target);
  reporter.info(
    `rolling back to model ${target.trainingId} (went live ${target.liveAt}, threshold ${target.threshold})${live === undefined ? '' : `, replacing ${live.trainingId}`}`,
  );
  const runId = newRunId(options.now?.());
  const record = await backend.deployer.deploy(
    {
      runId,
      model: {
        trainingId: target.trainingId,
        modelUri: target.modelUri,
        validationAccuracy: target.validationAccuracy,
      },
      evaluation: target.evaluation,
      imageSide: target.imageSide,
      threshold: target.threshold,
      preview: false,
    },
    reporter,
  );
  if (!record.deployed)
    throw new SconesError(
      `deploying model ${target.trainingId} changed nothing: it is already what is deployed`,
    );
  const { replaced: _earlier, ...recorded } = target;
  const wentLive: ModelWentLive = {
    ...recorded,
    liveAt: (options.now?.() ?? new Date()).toISOString(),
    how: 'rollback',
    runId,
    ...(live === undefined ? {} : { replaced: live.trainingId }),
  };
  await recordWentLive(backend.store, wentLive);
  const accuracy = target.evaluation?.quality.accuracy;
  const markdown = [
    '### rollback',
    '',
    `- went live: model \`${target.trainingId}\` (${accuracy === undefined ? `validation accuracy ${target.validationAccuracy}` : `test accuracy ${accuracy.toFixed(4)}`}, threshold ${target.threshold}, first live ${target.liveAt}) behind endpoint \`${record.deployment?.endpointName ?? '?'}\``,
    `- left: ${live === undefined ? 'nothing was deployed' : `model \`${live.trainingId}\` (threshold ${live.threshold})`}`,
    '',
  ].join('\n');
  // `left`: the model that was live before, if any.
  return { wentLive, left: live?.trainingId, markdown };
}

/** The model's artifacts must still be stored: an object (aws, model.tar.gz) or a folder of them (local). */
async function requireArtifacts(backend: Backend, model: ModelWentLive): Promise<void> {
  const { bucket, key } = parseS3Uri(model.modelUri, `model ${model.trainingId}'s artifacts`);
  const store = backend.bucketStore(bucket);
  let present = false;
  if (key.endsWith('/')) {
    for await (const _ of store.list(key)) {
      present = true;
      break;
    }
  } else present = (await store.head(key)) !== undefined;
  if (!present)
    throw new SconesError(
      `model ${model.trainingId}'s artifacts are gone (${model.modelUri} is not in the store): it cannot be redeployed; train it again with scones run`,
    );
}
