import type { Config } from '../config.js';
import type { Backend } from '../ports.js';
import { openAwsBackend } from './aws/index.js';
import { openLocalBackend } from './local/index.js';

/** Builds the configured backend; the caller must close it. */
export async function openBackend(config: Config): Promise<Backend> {
  return config.backend === 'aws' ? openAwsBackend(config) : openLocalBackend(config);
}
