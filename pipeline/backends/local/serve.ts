import { openLocalDeployment } from '../backends/local/workflow.js';
import type { Config } from '../config.js';
import { SconesError } from '../errors.js';

export interface ServeInfo {
  objectStore: string;
  bucket: string;
  endpoint: string;
  endpointName: string;
  region: string;
  /** The key pair both servers accept, made at random for this start (as Jupyter's token is). */
  accessKeyId: string;
  secretAccessKey: string;
}

/**
 * Runs the local object store and model server in the foreground for outside clients (curl, boto3, the
 * AWS CLI with --endpoint-url) until `stopped` resolves.
 */
export async function serve(
  config: Config,
  announce: (info: ServeInfo) => void,
  stopped: Promise<void>,
): Promise<void> {
  if (config.backend !== 'local')
    throw new SconesError('scones serve runs the local backend only: drop --backend aws');
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
