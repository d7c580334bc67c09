import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { type LocalCredentials, newLocalCredentials } from './signature.js';

const here = dirname(fileURLToPath(import.meta.url));

export interface LocalObjectStoreServer {
  readonly endpoint: string;
  readonly bucket: string;
  /** The only credentials the store accepts, made at random for this start. */
  readonly credentials: LocalCredentials;
  /** The server's process id, for measuring what it costs. */
  readonly pid: number | undefined;
  /**
   * Rejects, with an error saying how, as soon as the store process ends without `stop()`: every request
   * of {@link localS3Client} fails with it at once instead of retrying against a closed port.
   */
  readonly stopped: Promise<never>;
  stop(): Promise<void>;
}

/**
 * Starts the S3-compatible store on 127.0.0.1 in a child process (see server.ts for why),
 * with its data under `directory`.
 */
export async function startLocalObjectStore(options: {
  directory: string;
  bucket: string;
  /** The region requests must be signed for (the configuration's); any region when absent. */
  region?: string;
  /** Where the store's own messages go (what its start recovered, kept or removed); stderr by default. */
  log?: (text: string) => void;
}): Promise<LocalObjectStoreServer> {
  const directory = resolve(options.directory);
  mkdirSync(directory, { recursive: true });
  const credentials = newLocalCredentials();
  // From the compiled CLI (scripts/build-cli.mjs) the server's bundle sits beside this code; from the
  // sources, tsx by absolute URL (resolving the bare name would search the user's current directory).
  const compiled = join(here, 'local-s3-server.mjs');
  const child = spawn(
    process.execPath,
    existsSync(compiled) ? [compiled] : ['--import', import.meta.resolve('tsx'), join(here, 'server.ts')],
    {
      env: {
        ...process.env,
        SCONES_S3_DIRECTORY: directory,
        SCONES_S3_BUCKET: options.bucket,
        SCONES_S3_REGION: options.region ?? '',
        // In the environment, which only this user's processes can read (/proc/<pid>/environ is 0400).
        SCONES_S3_ACCESS_KEY_ID: credentials.accessKeyId,
        SCONES_S3_SECRET_ACCESS_KEY: credentials.secretAccessKey,
        NODE_OPTIONS: '',
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  const log = options.log ?? ((text: string) => process.stderr.write(text));
  const port = await readyPort(child, log);
  const endpoint = `http://127.0.0.1:${port}`;
  let stopping = false;
  const exited = new Promise<void>((done) => {
    if (child.exitCode !== null || child.signalCode !== null) done();
    else child.once('exit', () => done());
  });
  const stopped = new Promise<never>((_, reject) => {
    child.once('exit', (code, signal) => {
      if (stopping) return;
      const how = signal === null ? `exit ${code}` : `signal ${signal}`;
      reject(
        new LocalS3Error(
          `the local object store stopped (${how}): the stage cannot go on without it; run the command again`,
        ),
      );
    });
  });
  stopped.catch(() => {}); // observed by the clients' requests; no request in flight is no failure
  return {
    endpoint,
    bucket: options.bucket,
    credentials,
    pid: child.pid,
    stopped,
    async stop() {
      if (stopping) return;
      stopping = true;
      child.stdin?.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

function readyPort(child: ChildProcess, log: (text: string) => void): Promise<number> {
  return new Promise((resolvePort, reject) => {
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      log(chunk.toString());
    });
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new LocalS3Error(`the local object store did not start within 30 s: ${stderr.trim()}`));
    }, 30_000);
    lines.once('line', (line) => {
      clearTimeout(timer);
      try {
        const message = JSON.parse(line) as { port: number };
        resolvePort(message.port);
      } catch {
        reject(new LocalS3Error(`the local object store said something unexpected: ${line}`));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(
        new LocalS3Error(
          `the local object store exited with code ${code} before it was ready: ${stderr.trim()}`,
        ),
      );
    });
  });
}

/**
 * An S3 client for the local store: path-style addressing, the store's credentials, SDK retries on;
 * `overrides` for callers that need another endpoint (a proxy), retry or logging settings.
 */
export function localS3Client(
  server: Pick<LocalObjectStoreServer, 'endpoint' | 'credentials'> & { stopped?: Promise<never> },
  region: string,
  overrides: S3ClientConfig = {},
): S3Client {
  const client = new S3Client({
    endpoint: server.endpoint,
    region,
    forcePathStyle: true,
    credentials: server.credentials,
    maxAttempts: 5,
    // If the store process dies mid-request, fail (and retry) instead of waiting on a dead socket.
    requestHandler: { requestTimeout: 30_000, connectionTimeout: 5_000 },
    ...overrides,
  });
  const { stopped } = server;
  if (stopped !== undefined)
    // Outermost (before retries): once the store process is gone, no retry can succeed.
    client.middlewareStack.add((next) => (args) => Promise.race([next(args), stopped]), {
      step: 'initialize',
      priority: 'high',
      name: 'localObjectStoreStopped',
    });
  return client;
}

/** A failure of the store process itself (it did not start, or stopped under a running command). */
export class LocalS3Error extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LocalS3Error';
  }
}
