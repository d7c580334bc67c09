import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { resolve, sep } from 'node:path';

/**
 * Makes this process's writes into files under `dir` fail as they do on a full disk, until the returned
 * function is called: the file is created, then write(2) fails with ENOSPC, whose message names no path
 * (`ENOSPC: no space left on device, write`). A real full disk cannot be made here without privileges.
 * Code that imports node:fs as an ES module sees the change through `syncBuiltinESMExports`, Node's way to
 * update the builtin modules' named exports.
 */
export function fullDiskUnder(dir: string): () => void {
  const original = { writeFileSync: fs.writeFileSync, createWriteStream: fs.createWriteStream };
  const root = `${resolve(dir)}${sep}`;
  const under = (path: unknown) => typeof path === 'string' && resolve(path).startsWith(root);
  const enospc = () =>
    Object.assign(new Error('ENOSPC: no space left on device, write'), {
      code: 'ENOSPC',
      errno: -28,
      syscall: 'write',
    });
  fs.writeFileSync = ((path: fs.PathOrFileDescriptor, data: string, options?: fs.WriteFileOptions) => {
    if (!under(path)) return original.writeFileSync(path, data, options);
    original.writeFileSync(path, '');
    throw enospc();
  }) as typeof fs.writeFileSync;
  fs.createWriteStream = ((path: fs.PathLike, options?: Parameters<typeof fs.createWriteStream>[1]) => {
    const stream = original.createWriteStream(path, options);
    if (!under(path)) return stream;
    stream._write = (_chunk, _encoding, callback) => callback(enospc());
    stream._writev = (_chunks, callback) => callback(enospc());
    return stream;
  }) as typeof fs.createWriteStream;
  syncBuiltinESMExports();
  return () => {
    Object.assign(fs, original);
    syncBuiltinESMExports();
  };
}
