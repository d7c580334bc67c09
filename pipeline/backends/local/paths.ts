import { join, resolve } from 'node:path';

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
