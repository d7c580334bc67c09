/**
 * Adds lock entries for @biomejs/biome's platform packages that this registry mirror does not carry
 * (macOS, Windows, Android). Without them `npm ci` rejects the lock as out of sync; on Linux they are
 * skipped by their os/cpu fields and never fetched. Run after changing the biome version:
 *   node --import tsx scripts/complete-lockfile.ts
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const path = join(import.meta.dirname, '..', 'package-lock.json');
const lock = JSON.parse(readFileSync(path, 'utf8')) as { packages: Record<string, Record<string, unknown>> };
const biome = lock.packages['node_modules/@biomejs/biome'];
if (biome === undefined) throw new Error('no @biomejs/biome in package-lock.json');
const optional = biome.optionalDependencies as Record<string, string>;
let added = 0;
for (const [name, version] of Object.entries(optional)) {
  const key = `node_modules/${name}`;
  if (lock.packages[key] !== undefined) continue;
  const [, os, cpu, libc] = /cli-(\w+)-(\w+?)(?:-(musl))?$/.exec(name) ?? [];
  if (os === undefined || cpu === undefined) throw new Error(`cannot read the platform of ${name}`);
  lock.packages[key] = {
    version,
    cpu: [cpu],
    dev: true,
    ...(os === 'linux' ? { libc: [libc ?? 'glibc'] } : {}),
    license: 'MIT OR Apache-2.0',
    optional: true,
    os: [os === 'win32' ? 'win32' : os],
    engines: { node: '>=14.21.3' },
  };
  added++;
}
lock.packages = Object.fromEntries(
  Object.entries(lock.packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : 1)),
);
writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
process.stdout.write(`added ${added} lock entries\n`);
