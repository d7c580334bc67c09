import { existsSync, mkdirSync, statSync } from 'node:fs';
import { ConfigError } from '../../errors.js';
import type { BackendModule } from '../../ports.js';
import { writeFailure } from '../../util/files.js';
import { acquireLock } from '../../util/lock.js';
import { openLocalBackend } from './backend.js';
import { localPaths } from './paths.js';
import { serve } from './serve.js';
import { teardown, teardownPlan } from './teardown.js';

export { openLocalBackend } from './backend.js';
export { localPaths } from './paths.js';
export { openLocalDeployment } from './serve.js';

/** The local backend's registry entry: everything on this machine under the work directory. */
export const localBackend: BackendModule = {
  open: openLocalBackend,
  async bootstrap(_config, _options, reporter) {
    reporter.info('the local backend needs no bootstrap: `npm start` creates what it needs under .scones/');
    return {};
  },
  teardownPlan,
  async teardown(config, options, reporter) {
    const backend = await openLocalBackend(config);
    try {
      await teardown(config, options, backend.store, reporter);
    } finally {
      await backend.close();
    }
  },
  lockWorkDir(config, command, runId) {
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
    return acquireLock(localPaths(config.workDir).lock, { runId, command });
  },
  serve,
};
