import { join, resolve } from 'node:path';
import type { Config } from '../../config.js';

/** Paths of the local backend's state under the work directory. */
export function localPaths(workDir: string) {
  const root = resolve(workDir);
  return {
    root,
    objects: join(root, 'objects'),
    runs: join(root, 'runs'),
    deployment: join(root, 'deployment.json'),
    lock: join(root, 'lock'),
  };
}

/** The local object store's folder, bucket and region. */
export function localStoreOptions(config: Config) {
  return { directory: localPaths(config.workDir).objects, bucket: config.bucket, region: config.region };
}
