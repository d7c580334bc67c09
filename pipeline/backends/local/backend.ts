import { join } from 'node:path';
import type { Config } from '../../config.js';
import { localS3Client, startLocalObjectStore } from '../../local-s3/launcher.js';
import type { LocalCredentials } from '../../local-s3/signature.js';
import type { Backend, Champion } from '../../ports.js';
import { CHAMPION_OUTPUTS, championFromOutputs } from '../../templates/champion.js';
import { FileManifestStore } from '../manifest-stores.js';
import { outsideBucketStore, S3ObjectStore } from '../s3-object-store.js';
import { LocalDeployer } from './deployer.js';
import { readLocalDeployment } from './deployment-record.js';
import { LocalEvaluator } from './evaluator.js';
import { localPaths } from './paths.js';
import { LocalTrainer } from './trainer.js';
import { openLocalWorkflow } from './workflow.js';

/** The local backend: S3-compatible store on 127.0.0.1, TensorFlow.js trainer, file manifests. */
export async function openLocalBackend(
  config: Config,
): Promise<Backend & { readonly s3Endpoint: string; readonly credentials: LocalCredentials }> {
  const paths = localPaths(config.workDir);
  const server = await startLocalObjectStore({ directory: paths.objects, bucket: config.bucket });
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
    openWorkflow: (_deployment, reporter) =>
      openLocalWorkflow(
        {
          deploymentPath: paths.deployment,
          store,
          s3Endpoint: server.endpoint,
          credentials: server.credentials,
          region: config.region,
          lambdaLogFile: join(paths.root, 'lambda-logs.jsonl'),
        },
        reporter,
      ),
    async deployedModel() {
      const deployment = readLocalDeployment(paths.deployment);
      if (deployment === undefined) return undefined;
      return {
        trainingId: deployment.trainingId,
        modelUri: deployment.modelUri,
        validationAccuracy: deployment.validationAccuracy,
        threshold: Number(deployment.parameters.ConfidenceThreshold ?? config.deploy.threshold),
        imageSide: deployment.side,
      };
    },
    async champion(): Promise<Champion | undefined> {
      const deployment = readLocalDeployment(paths.deployment);
      if (deployment === undefined) return undefined;
      const outputs: Record<string, string> = {
        ...deployment.stack.outputs,
        [CHAMPION_OUTPUTS.trainingId]: deployment.trainingId,
      };
      return championFromOutputs((key) => outputs[key]);
    },
    bucketStore: (bucket) => (bucket === store.bucket ? store : outsideBucketStore(config.region, bucket)),
    close: () => server.stop(),
    failed: server.stopped,
  };
}
