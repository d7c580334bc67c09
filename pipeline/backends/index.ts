import type { Config } from '../config.js';
import type { BackendName } from '../constants.js';
import type { Backend, BackendModule } from '../ports.js';
import { awsBackend } from './aws/index.js';
import { localBackend } from './local/index.js';

/** Every backend by name: a third backend is one folder exporting a BackendModule, plus one line here. */
export const BACKEND_MODULES: Record<BackendName, BackendModule> = {
  local: localBackend,
  aws: awsBackend,
};

/** The configured backend's registry entry. */
export function backendModule(config: Config): BackendModule {
  return BACKEND_MODULES[config.backend];
}

/** Builds the configured backend; the caller must close it. */
export async function openBackend(config: Config): Promise<Backend> {
  return backendModule(config).open(config);
}
