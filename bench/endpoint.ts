/**
 * The local model server under 1, 4 and 16 concurrent clients, measured from a separate client process
 * (so the client's work does not share the server's event loop), through the real SageMaker runtime
 * client, each request one of the 200 real test images: after a warm-up, for a fixed duration per
 * level, requests/s and p50/p99 latency.
 * `node --import tsx bench/endpoint.ts [--smoke]` (--smoke: 40 synthetic images, one epoch, 1 s per level);
 * the client half runs as `bench/endpoint.ts --client URL IMAGES [--smoke]`.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';

const SMOKE = process.argv.includes('--smoke');
const WARMUP_SECONDS = SMOKE ? 0.5 : 3;
const DURATION_SECONDS = SMOKE ? 1 : 10;
const LEVELS = SMOKE ? [1, 4] : [1, 4, 16];

if (process.argv[2] === '--client') await client(process.argv[3] as string, process.argv[4] as string);
else await server();

async function server(): Promise<void> {
  const { openLocalDeployment } = await import('../pipeline/backends/local/serve.js');
  const { runCli, testConfig } = await import('../test/helpers/workspace.js');
  const { record, requireSharedImages, runArgs, scratchDir } = await import('./common.js');
  const images = requireSharedImages('endpoint');
  const dir = scratchDir('endpoint');
  // A short training is enough: the benchmark measures serving, not accuracy.
  const setup = await runCli(runArgs(images, SMOKE ? 1 : 2), { cwd: dir });
  if (setup.code !== 0) throw new Error(setup.stderr);
  const { backend, services, stop } = await openLocalDeployment(
    testConfig({ workDir: join(dir, '.scones') }),
  );
  try {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        '--import',
        'tsx',
        fileURLToPath(import.meta.url),
        '--client',
        services.modelServer.url,
        join(images, 'test'),
        ...(SMOKE ? ['--smoke'] : []),
      ],
      {
        maxBuffer: 16 * 1024 * 1024,
        // The endpoint accepts only requests signed with this start's credentials, as an outside client
        // would take them from `scones serve --json`.
        env: {
          ...process.env,
          AWS_ACCESS_KEY_ID: backend.credentials.accessKeyId,
          AWS_SECRET_ACCESS_KEY: backend.credentials.secretAccessKey,
        },
      },
    );
    record('endpoint', {
      command: 'node --import tsx bench/endpoint.ts',
      measured: `from a separate client process, ${WARMUP_SECONDS} s warm-up then ${DURATION_SECONDS} s per concurrency level`,
      ...(JSON.parse(stdout) as Record<string, unknown>),
    });
  } finally {
    await stop();
  }
}

async function client(url: string, imagesDir: string): Promise<void> {
  const tests = readdirSync(imagesDir).map((f) => readFileSync(join(imagesDir, f)));
  const sdk = new SageMakerRuntimeClient({
    region: 'us-east-1',
    endpoint: url,
  });
  let next = 0;
  const invoke = async () => {
    const body = tests[next++ % tests.length] as Buffer;
    const t0 = performance.now();
    await sdk.send(
      new InvokeEndpointCommand({
        EndpointName: 'scones-workflow-endpoint',
        ContentType: 'image/png',
        Body: body,
      }),
    );
    return performance.now() - t0;
  };
  const runFor = async (seconds: number, concurrency: number) => {
    const latencies: number[] = [];
    const end = performance.now() + seconds * 1000;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < end) latencies.push(await invoke());
      }),
    );
    return latencies;
  };
  await runFor(WARMUP_SECONDS, 4);
  const results: Record<string, unknown> = {};
  for (const concurrency of LEVELS) {
    const started = performance.now();
    const latencies = (await runFor(DURATION_SECONDS, concurrency)).sort((a, b) => a - b);
    const seconds = (performance.now() - started) / 1000;
    const at = (q: number) =>
      Math.round((latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * q))] ?? 0) * 10) /
      10;
    results[`concurrency${concurrency}`] = {
      requests: latencies.length,
      requestsPerSecond: Math.round(latencies.length / seconds),
      p50Ms: at(0.5),
      p99Ms: at(0.99),
    };
  }
  sdk.destroy();
  process.stdout.write(JSON.stringify(results));
}
