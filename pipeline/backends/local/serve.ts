import type { Config } from '../../config.js';
import type { ServeInfo } from '../../ports.js';
import { openLocalBackend } from './backend.js';
import { localPaths } from './paths.js';
import { startLocalServices } from './workflow.js';

/**
 * Runs the local object store and model server in the foreground for outside clients (curl, boto3, the
 * AWS CLI with --endpoint-url) until `stopped` resolves.
 */
export async function serve(
  config: Config,
  announce: (info: ServeInfo) => void,
  stopped: Promise<void>,
): Promise<void> {
  const { backend, services, stop } = await openLocalDeployment(config);
  try {
    announce({
      objectStore: backend.s3Endpoint,
      bucket: config.bucket,
      endpoint: services.modelServer.url,
      endpointName: services.modelServer.endpointName,
      region: config.region,
      accessKeyId: backend.credentials.accessKeyId,
      secretAccessKey: backend.credentials.secretAccessKey,
    });
    await stopped;
  } finally {
    await stop();
  }
}

/** The local backend with its recorded deployment running: what `scones serve`, tests and benchmarks use. */
export async function openLocalDeployment(config: Config) {
  const backend = await openLocalBackend(config);
  try {
    const services = await startLocalServices({
      deploymentPath: localPaths(config.workDir).deployment,
      stackName: config.deploy.stackName,
      store: backend.store,
      s3Endpoint: backend.s3Endpoint,
      credentials: backend.credentials,
      region: config.region,
    });
    return {
      backend,
      services,
      async stop() {
        await services.stop();
        await backend.close();
      },
    };
  } catch (error) {
    await backend.close();
    throw error;
  }
}
