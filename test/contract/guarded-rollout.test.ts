import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { S3Client } from '@aws-sdk/client-s3';
import { SageMakerClient } from '@aws-sdk/client-sagemaker';
import { SFNClient } from '@aws-sdk/client-sfn';
import { expect } from 'chai';
import { CloudFormationDeployer } from '../../pipeline/backends/aws/cloudformation-deployer.js';
import { openAwsBackend } from '../../pipeline/backends/aws/index.js';
import { S3ObjectStore } from '../../pipeline/backends/s3-object-store.js';
import { modelHistoryKey } from '../../pipeline/contracts/layout.js';
import type { ModelWentLive } from '../../pipeline/contracts/model-history.js';
import { StageFailedError } from '../../pipeline/errors.js';
import { newManifest, type TrainRecord, withStage } from '../../pipeline/manifest.js';
import { listModels } from '../../pipeline/model-history.js';
import { deploy } from '../../pipeline/stages/deploy.js';
import { readWentLive } from '../../pipeline/util/model-history-records.js';
import { fakeDataset } from '../helpers/fake-backend.js';
import { fakeBundles } from '../helpers/fake-bundles.js';
import { captureReporter, testConfig } from '../helpers/workspace.js';
import { FakeAws } from '../iam/fake-aws.js';
import { TEST_ACCOUNT, WORKFLOW_TEST_PARAMETERS } from '../iam/roles.js';

const { bucket, region, workflowStack } = TEST_ACCOUNT;

const section = <T>(outputs: T) => ({
  inputsDigest: 'x',
  startedAt: '2026-12-03T00:00:00.000Z',
  finishedAt: '2026-12-03T00:00:01.000Z',
  durationMs: 1000,
  reused: false,
  outputs,
});

describe('guarded rollout on aws: the deploy stage when an alarm rolls the endpoint back (fake AWS)', () => {
  it('fails naming the alarm, records nothing, and the previous model stays live in the model history (stack UPDATE_ROLLBACK_COMPLETE restores its parameters)', async () => {
    // The stack serves t-abc (WORKFLOW_TEST_PARAMETERS), which the history records as live; the run's model
    // t-new trips the LowConfidence alarm during its bake.
    const fake = new FakeAws({
      stackStatus: 'UPDATE_COMPLETE',
      stackParameters: WORKFLOW_TEST_PARAMETERS,
      stackOutputs: {
        EndpointName: `${workflowStack}-endpoint`,
        StateMachineArn: `arn:aws:states:${region}:123456789012:stateMachine:${workflowStack}-workflow`,
      },
      executeEndsIn: 'UPDATE_ROLLBACK_COMPLETE',
      rolloutTrips: `${workflowStack}-low-confidence-share`,
    }).install();
    try {
      const live: ModelWentLive = {
        trainingId: 't-abc',
        trainer: 'sagemaker-image-classification/1',
        modelUri: WORKFLOW_TEST_PARAMETERS.ModelDataUrl as string,
        validationAccuracy: 0.9,
        datasetDigest: 'data0123',
        verdict: 'passed',
        threshold: 0.93,
        liveAt: '2026-12-02T10:00:00.000Z',
        how: 'deploy',
        runId: 'gh-1',
      };
      fake.objects.set(
        `${bucket}/${modelHistoryKey(live.liveAt, live.trainingId)}`,
        Buffer.from(JSON.stringify(live)),
      );
      const config = testConfig({
        backend: 'aws',
        bucket,
        region,
        'deploy.stackName': workflowStack,
        'deploy.threshold': 0.9,
        'train.sagemaker.roleArn': WORKFLOW_TEST_PARAMETERS.SageMakerRoleArn as string,
      });
      const clients = {
        s3: new S3Client({ region }),
        sagemaker: new SageMakerClient({ region }),
        cloudformation: new CloudFormationClient({ region }),
        cloudwatch: new CloudWatchClient({ region }),
        sfn: new SFNClient({ region }),
      };
      const backend = {
        ...openAwsBackend(config, clients),
        deployer: new CloudFormationDeployer({
          client: clients.cloudformation,
          sagemaker: clients.sagemaker,
          cloudwatch: clients.cloudwatch,
          store: new S3ObjectStore(clients.s3, bucket),
          config,
          sleep: async () => {},
          bundle: async () => fakeBundles(),
        }),
      };
      const model: TrainRecord = {
        trainingId: 't-new',
        trainer: 'sagemaker-image-classification/1',
        modelUri: `s3://${bucket}/models/t-new/job/output/model.tar.gz`,
        validationAccuracy: 0.95,
        epochs: [],
        durationSeconds: 1,
        datasetDigest: 'data0123',
        hyperparameters: {},
      };
      let manifest = newManifest('run-2', 'aws', '');
      manifest = withStage(manifest, 'stage-data', section(fakeDataset));
      manifest = withStage(manifest, 'train', section(model));
      manifest = withStage(
        manifest,
        'gate',
        section({
          passed: true,
          forced: false,
          accuracy: 0.95,
          minAccuracy: 0.8,
          maxRegression: 0.02,
          reasons: [],
          trainingId: 't-new',
        }),
      );
      const { reporter } = captureReporter();
      const error = await deploy(
        { config, backend, reporter, runId: 'run-2', manifest },
        () => undefined,
      ).then(
        () => expect.fail('a rolled-back rollout was reported as deployed'),
        (e: Error) => e,
      );
      expect(error).to.be.instanceOf(StageFailedError);
      expect(error.message).to.match(
        new RegExp(
          `^rolled back: the rollout of model t-new to endpoint ${workflowStack}-endpoint tripped alarm ${workflowStack}-low-confidence-share \\(LowConfidence in Scones/Workflow, `,
        ),
      );
      expect(error.message).to.include('model t-abc stays live and recorded as live');
      // Nothing new in the history; t-abc is what the stack deploys, so it is the live one.
      expect((await readWentLive(backend.store)).map((r) => r.trainingId)).to.deep.equal(['t-abc']);
      const models = await listModels(backend);
      expect(models.map((m) => [m.trainingId, m.live])).to.deep.equal([['t-abc', true]]);
      expect((await backend.deployment())?.trainingId).to.equal('t-abc');
    } finally {
      fake.restore();
    }
  });
});
