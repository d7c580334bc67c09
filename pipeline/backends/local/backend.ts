import { join } from 'node:path';
import type { Config } from '../../config.js';
import {
  type LocalObjectStoreServer,
  localS3Client,
  startLocalObjectStore,
} from '../../local-s3/launcher.js';
import type { LocalCredentials } from '../../local-s3/signature.js';
import type { Backend } from '../../ports.js';
import { FileManifestStore } from '../manifest-stores.js';
import { outsideBucketStore, S3ObjectStore } from '../s3-object-store.js';
import { LocalDeployer } from './deployer.js';
import { localDeploymentOf, readLocalDeployment } from './deployment-record.js';
import { LocalEvaluator } from './evaluator.js';
import { localPaths, localStoreOptions } from './paths.js';
import { LocalTrainer } from './trainer.js';

/** The local backend: S3-compatible store on 127.0.0.1, TensorFlow.js trainer, file manifests. */
export async function openLocalBackend(
  config: Config,
  started: Promise<LocalObjectStoreServer> = startLocalObjectStore(localStoreOptions(config)),
): Promise<Backend & { readonly s3Endpoint: string; readonly credentials: LocalCredentials }> {
  const paths = localPaths(config.workDir);
  const server = await started;
  const store = new S3ObjectStore(localS3Client(server, config.region), config.bucket);
  return {
    name: 'local',
    store,
    s3Endpoint: server.endpoint,
    credentials: server.credentials,
    manifests: new FileManifestStore(paths.runs),
    trainer: new LocalTrainer(store),
    evaluator: new LocalEvaluator(store),
    deployer: new LocalDeployer(config, store, paths),
    // The state machine interpreter loads only when a workflow runs.
    openWorkflow: async (deployment, reporter) =>
      (await import('./workflow.js')).openLocalWorkflow(
        {
          deployment,
          deploymentPath: paths.deployment,
          stackName: config.deploy.stackName,
          store,
          s3Endpoint: server.endpoint,
          credentials: server.credentials,
          region: config.region,
          lambdaLogFile: join(paths.root, 'lambda-logs.jsonl'),
        },
        reporter,
      ),
    async deployment() {
      const record = readLocalDeployment(paths.deployment);
      return record === undefined ? undefined : localDeploymentOf(record, config.deploy.stackName);
    },
    bucketStore: (bucket) => (bucket === store.bucket ? store : outsideBucketStore(config.region, bucket)),
    close: () => server.stop(),
    failed: server.stopped,
  };
}
