import type { Config } from '../config.js';
import type { BackendName } from '../constants.js';
import type { BackendModule } from '../ports.js';

/**
 * Every backend by name, loaded on first use: a command pays for the SDK or TensorFlow.js of the backend
 * it runs only. A third backend is one folder exporting a BackendModule, plus one line here.
 */
export const BACKEND_MODULES: Record<BackendName, () => Promise<BackendModule>> = {
  local: async () => (await import('./local/index.js')).localBackend,
  aws: async () => (await import('./aws/index.js')).awsBackend,
};

/** The configured backend's registry entry. */
export function backendModule(config: Config): Promise<BackendModule> {
  return BACKEND_MODULES[config.backend]();
}
