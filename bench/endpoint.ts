/**
 * The local model server under 1, 4 and 16 concurrent clients, each request one of the 200 real test
 * images through the real SageMaker runtime client: requests/s and p50/p99 latency.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { openLocalDeployment } from '../pipeline/backends/local/workflow.js';
import { runCli, testConfig } from '../test/helpers/workspace.js';
import { record, requireSharedImages, scratchDir } from './common.js';

const images = requireSharedImages('endpoint');
const dir = scratchDir('endpoint');
// A short training is enough: the benchmark measures serving, not accuracy.
const setup = await runCli(
  ['run', '--source', `images:${images}`, '--epochs', '2', '--min-accuracy', '0', '--count', '2'],
  { cwd: dir },
);
if (setup.code !== 0) throw new Error(setup.stderr);
const tests = readdirSync(join(images, 'test')).map((f) => readFileSync(join(images, 'test', f)));

const { services, stop } = await openLocalDeployment(testConfig({ workDir: join(dir, '.scones') }));
const client = new SageMakerRuntimeClient({
  region: 'us-east-1',
  endpoint: services.modelServer.url,
  credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
});
const results: Record<string, unknown> = {};
for (const concurrency of [1, 4, 16]) {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < tests.length) {
        const body = tests[next++]!;
        const t0 = performance.now();
        await client.send(
          new InvokeEndpointCommand({
            EndpointName: 'scones-workflow-endpoint',
            ContentType: 'image/png',
            Body: body,
          }),
        );
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  results[`concurrency${concurrency}`] = {
    requests: latencies.length,
    requestsPerSecond: Math.round(latencies.length / seconds),
    p50Ms: Math.round(latencies[Math.floor(latencies.length * 0.5)]! * 10) / 10,
    p99Ms: Math.round(latencies[Math.floor(latencies.length * 0.99)]! * 10) / 10,
  };
}
await stop();
record('endpoint', { command: 'node --import tsx bench/endpoint.ts', ...results });
