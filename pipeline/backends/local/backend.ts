import { join } from 'node:path';
import type { Config } from '../../config.js';
import { localS3Client, startLocalObjectStore } from '../../local-s3/launcher.js';
import type { LocalCredentials } from '../../local-s3/signature.js';
import type { Backend } from '../../ports.js';
import { FileManifestStore } from '../manifest-stores.js';
import { outsideBucketStore, S3ObjectStore } from '../s3-object-store.js';
import { LocalDeployer } from './deployer.js';
import { localDeploymentOf, readLocalDeployment } from './deployment-record.js';
import { LocalEvaluator } from './evaluator.js';
import { localPaths } from './paths.js';
import { LocalTrainer } from './trainer.js';
import { openLocalWorkflow } from './workflow.js';

/** The local backend: S3-compatible store on 127.0.0.1, TensorFlow.js trainer, file manifests. */
export async function openLocalBackend(
  config: Config,
): Promise<Backend & { readonly s3Endpoint: string; readonly credentials: LocalCredentials }> {
  const paths = localPaths(config.workDir);
  const server = await startLocalObjectStore({
    directory: paths.objects,
    bucket: config.bucket,
    region: config.region,
  });
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
    openWorkflow: (deployment, reporter) =>
      openLocalWorkflow(
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
