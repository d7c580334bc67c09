import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../../config.js';
import type { Reporter } from '../../console-reporter.js';
import { runPrefix } from '../../contracts/layout.js';
import type { ObjectStore, TeardownOptions } from '../../ports.js';
import { localPaths } from './paths.js';

/** What the local teardown would remove, for the confirmation prompt. */
export function teardownPlan(config: Config, options: TeardownOptions): string[] {
  const paths = localPaths(config.workDir);
  const runs = options.keepRuns === undefined ? [] : oldRuns(paths.runs, options.keepRuns);
  return [
    ...(options.deployment && existsSync(paths.deployment)
      ? [`the local deployment (${paths.deployment}): the endpoint every local run shares`]
      : []),
    ...runs.map((run) => `run ${run} (${join(paths.runs, run)} and its objects in the store)`),
  ];
}

/** The runs beyond the newest `keep`, by last change; reports on outside capture live elsewhere. */
function oldRuns(runsDir: string, keep: number): string[] {
  if (!existsSync(runsDir)) return [];
  return readdirSync(runsDir)
    .map((name) => ({ name, at: statSync(join(runsDir, name)).mtimeMs }))
    .sort((a, b) => b.at - a.at)
    .slice(keep)
    .map((run) => run.name);
}

/** Removes what runs left deployed or stored, as planned by teardownPlan. */
export async function teardown(
  config: Config,
  options: TeardownOptions,
  store: ObjectStore | undefined,
  reporter: Reporter,
): Promise<void> {
  const paths = localPaths(config.workDir);
  if (options.deployment) {
    if (existsSync(paths.deployment)) {
      rmSync(paths.deployment);
      reporter.info('local deployment removed: the endpoint is gone until the next deploy');
    } else reporter.info('nothing deployed locally');
  }
  if (options.keepRuns !== undefined) {
    for (const run of oldRuns(paths.runs, options.keepRuns)) {
      rmSync(join(paths.runs, run), { recursive: true, force: true });
      if (store !== undefined)
        for await (const object of store.list(runPrefix(run))) await store.delete(object.key);
      reporter.info(`run ${run} removed`);
    }
  }
}
