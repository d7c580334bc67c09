import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { KEYS } from '../constants.js';
import { MANIFEST_FILE, manifestKey } from '../contracts/layout.js';
import { SconesError } from '../errors.js';
import { type Manifest, parseManifest } from '../manifest.js';
import type { ManifestStore, ObjectStore } from '../ports.js';
import { FILE_LIMITS, fixedLimit, readCheckedFile, writeFailure, writeFileAtomic } from '../util/files.js';
import { getText, putJson } from '../util/object-text.js';

/** Manifests under `<workDir>/runs/<run-id>/manifest.json` (the local backend). */
export class FileManifestStore implements ManifestStore {
  constructor(private readonly runsDir: string) {}

  location(runId: string): string {
    return join(this.runsDir, runId, MANIFEST_FILE);
  }

  async load(runId: string): Promise<Manifest | undefined> {
    const path = this.location(runId);
    if (!existsSync(path)) return undefined;
    const text = readCheckedFile(path, `run manifest ${path}`, {
      maxBytes: FILE_LIMITS.record,
      overLimit: fixedLimit('run manifests', 'this is not a manifest scones wrote; remove the run folder'),
      expected: 'a manifest file: remove it (the run folder holds what scones wrote)',
      error: (message) => new SconesError(message),
    });
    return parseManifest(text.toString('utf8'), path);
  }

  async save(manifest: Manifest): Promise<void> {
    const dir = join(this.runsDir, manifest.runId);
    try {
      mkdirSync(dir, { recursive: true });
    } catch (error) {
      throw writeFailure(dir, error);
    }
    writeFileAtomic(this.location(manifest.runId), `${JSON.stringify(manifest, null, 2)}\n`);
  }

  async latestRunId(): Promise<string | undefined> {
    if (!existsSync(this.runsDir)) return undefined;
    let newest: { runId: string; mtime: number } | undefined;
    for (const entry of readdirSync(this.runsDir, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const path = this.location(entry.name);
      if (!existsSync(path)) continue;
      const mtime = statSync(path).mtimeMs;
      if (newest === undefined || mtime > newest.mtime) newest = { runId: entry.name, mtime };
    }
    return newest?.runId;
  }
}

/** Manifests at `runs/<run-id>/manifest.json` in the artifact bucket (the aws backend, shared by CI jobs). */
export class ObjectStoreManifestStore implements ManifestStore {
  constructor(private readonly store: ObjectStore) {}

  location(runId: string): string {
    return this.store.uri(manifestKey(runId));
  }

  async load(runId: string): Promise<Manifest | undefined> {
    const key = manifestKey(runId);
    if ((await this.store.head(key)) === undefined) return undefined;
    return parseManifest(await getText(this.store, key), this.location(runId));
  }

  async save(manifest: Manifest): Promise<void> {
    // A PutObject replaces the whole object: readers never see a partial manifest.
    await putJson(this.store, manifestKey(manifest.runId), manifest);
  }

  async latestRunId(): Promise<string | undefined> {
    let newest: { runId: string; at: number } | undefined;
    for await (const object of this.store.list(`${KEYS.runs}/`)) {
      if (!object.key.endsWith(`/${MANIFEST_FILE}`)) continue;
      const runId = object.key.slice(KEYS.runs.length + 1, -(MANIFEST_FILE.length + 1));
      const at = object.lastModified?.getTime() ?? 0;
      if (newest === undefined || at > newest.at) newest = { runId, at };
    }
    return newest?.runId;
  }
}
