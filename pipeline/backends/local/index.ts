import { existsSync, mkdirSync, statSync } from 'node:fs';
import type { Config } from '../../config.js';
import { ConfigError } from '../../errors.js';
import { startLocalObjectStore } from '../../local-s3/launcher.js';
import type { BackendModule } from '../../ports.js';
import { writeFailure } from '../../util/files.js';
import { acquireLock } from '../../util/lock.js';
import { localPaths, localStoreOptions } from './paths.js';
import { teardown, teardownPlan } from './teardown.js';

export { localPaths } from './paths.js';

/**
 * The local backend's registry entry: everything on this machine under the work directory. Its modules
 * (TensorFlow.js, the state machine interpreter) load when used: the store's process starts while they do.
 */
export const localBackend: BackendModule = {
  async open(config) {
    workDirFolder(config);
    const started = startLocalObjectStore(localStoreOptions(config));
    const { openLocalBackend } = await import('./backend.js').catch(async (error: unknown) => {
      await (await started).stop();
      throw error;
    });
    return openLocalBackend(config, started);
  },
  async bootstrap(_config, _options, reporter) {
    reporter.info('the local backend needs no bootstrap: `npm start` creates what it needs under .scones/');
    return {};
  },
  teardownPlan,
  async teardown(config, options, reporter) {
    const backend = await localBackend.open(config);
    try {
      await teardown(config, options, backend.store, reporter);
    } finally {
      await backend.close();
    }
  },
  lockWorkDir(config, command, runId) {
    workDirFolder(config);
    return acquireLock(localPaths(config.workDir).lock, { runId, command });
  },
  serve: async (...args) => (await import('./serve.js')).serve(...args),
};

/**
 * The work directory as a folder, made when absent. Every command that opens it passes here (the lock and
 * `open` both call it), so a workDir that is a file, or lies under one, is refused naming the key (exit 2)
 * before anything is read or written there.
 */
function workDirFolder(config: Config): void {
  if (existsSync(config.workDir) && !statSync(config.workDir).isDirectory())
    throw new ConfigError(
      `workDir ${config.workDir} is a file, not a folder: set workDir to a folder (or remove the file)`,
    );
  try {
    mkdirSync(config.workDir, { recursive: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOTDIR')
      throw new ConfigError(
        `workDir ${config.workDir}: a folder on its path is a file (ENOTDIR): set workDir to a folder`,
      );
    throw writeFailure(config.workDir, error);
  }
}
