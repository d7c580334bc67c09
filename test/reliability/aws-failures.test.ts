import { Readable } from 'node:stream';
import { S3Client } from '@aws-sdk/client-s3';
import { SageMakerClient } from '@aws-sdk/client-sagemaker';
import { DescribeExecutionCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { ConfiguredRetryStrategy } from '@smithy/core/retry';
import { HttpResponse } from '@smithy/protocol-http';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { expect } from 'chai';
import { SageMakerTrainer } from '../../pipeline/backends/aws/sagemaker-trainer.js';
import { StepFunctionsRunner } from '../../pipeline/backends/aws/step-functions-runner.js';
import { S3ObjectStore } from '../../pipeline/backends/s3-object-store.js';
import { StageFailedError } from '../../pipeline/errors.js';
import { newManifest } from '../../pipeline/manifest.js';
import type { Backend } from '../../pipeline/ports.js';
import { testExecutions } from '../../pipeline/stages/test-executions.js';
import { fakeDeployment } from '../helpers/fake-backend.js';
import { captureReporter, testConfig } from '../helpers/workspace.js';
import { recordFaults } from './figures.js';

const completedJob = {
  TrainingJobName: 'scones-t-abc',
  TrainingJobStatus: 'Completed',
  SecondaryStatus: 'Completed',
  FinalMetricDataList: [{ MetricName: 'validation:accuracy', Value: 0.86 }],
  ModelArtifacts: { S3ModelArtifacts: 's3://b/models/t-abc/model.tar.gz' },
  AlgorithmSpecification: { TrainingInputMode: 'File' },
  RoleArn: 'arn:aws:iam::123456789012:role/r',
  ResourceConfig: { InstanceType: 'ml.p3.2xlarge', InstanceCount: 1, VolumeSizeInGB: 30 },
  StoppingCondition: { MaxRuntimeInSeconds: 3600 },
  CreationTime: 1_700_000_000,
  TrainingJobArn: 'arn:aws:sagemaker:us-east-1:123456789012:training-job/scones-t-abc',
  BillableTimeInSeconds: 100,
};

/**
 * A real SageMaker client whose HTTP layer answers `throttles` ThrottlingExceptions, then the job.
 * `retryDelayMs` replaces the SDK's exponential backoff (up to 20 s a wait) with a fixed wait, for the
 * tests that only count attempts.
 */
function throttledClient(throttles: number, retryDelayMs?: number) {
  let calls = 0;
  const json = (status: number, body: unknown, errorType?: string) => ({
    response: new HttpResponse({
      statusCode: status,
      headers: {
        'content-type': 'application/x-amz-json-1.1',
        ...(errorType ? { 'x-amzn-errortype': errorType } : {}),
      },
      body: Readable.from([Buffer.from(JSON.stringify(body))]),
    }),
  });
  const client = new SageMakerClient({
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIATEST', secretAccessKey: 'test' },
    ...(retryDelayMs === undefined
      ? { maxAttempts: 8 }
      : { retryStrategy: new ConfiguredRetryStrategy(8, retryDelayMs) }),
    requestHandler: {
      handle: async () => {
        calls++;
        return calls <= throttles
          ? json(400, { __type: 'ThrottlingException', message: 'Rate exceeded' }, 'ThrottlingException')
          : json(200, completedJob);
      },
    },
  });
  return { client, calls: () => calls };
}

describe('reliability: AWS failures', function () {
  this.timeout(60_000);
  const config = testConfig({
    backend: 'aws',
    bucket: 'team-bucket',
    'train.sagemaker.roleArn': 'arn:aws:iam::123456789012:role/r',
  });
  const store = new S3ObjectStore(new S3Client({ region: 'us-east-1' }), 'b');

  it('throttling on Describe calls is retried by the SDK with backoff, and the stage completes', async () => {
    const { client, calls } = throttledClient(3);
    const trainer = new SageMakerTrainer({ client, store, config, sleep: async () => {} });
    const record = await trainer.find('t-abc');
    const failed = recordFaults(3, {
      'the stage completed with the job record': record?.validationAccuracy === 0.86,
      'each throttled call was retried once': calls() === 4,
    });
    expect(failed).to.deep.equal([]);
  });

  it('throttling past every retry ends with the service reason', async () => {
    // Seven waits of the SDK's own backoff took 21-50 s, past the test's timeout once (fresh-clone CI).
    const { client, calls } = throttledClient(100, 10);
    const trainer = new SageMakerTrainer({ client, store, config, sleep: async () => {} });
    try {
      await trainer.find('t-abc');
      expect.fail('throttling was swallowed');
    } catch (error) {
      expect((error as Error).name).to.equal('ThrottlingException');
      expect((error as Error).message).to.equal('Rate exceeded');
      expect(calls()).to.equal(8);
    }
  });

  describe('an execution that times out', () => {
    let sfn: AwsClientStub<SFNClient>;
    before(() => {
      sfn = mockClient(SFNClient);
    });
    after(() => sfn.restore());

    it('fails test-executions with the error in the message, over the error budget', async () => {
      sfn.on(StartExecutionCommand).resolves({ executionArn: 'arn:x', startDate: new Date() });
      sfn.on(DescribeExecutionCommand).resolves({
        executionArn: 'arn:x',
        stateMachineArn: 'arn:sm',
        status: 'TIMED_OUT',
        startDate: new Date(0),
        stopDate: new Date(300_000),
        error: 'States.Timeout',
        cause: 'The execution exceeded its TimeoutSeconds of 300',
      });
      const runner = new StepFunctionsRunner(new SFNClient({ region: 'us-east-1' }), 'arn:sm', {
        sleep: async () => {},
      });
      const lst = '0\t0\ta.png\n1\t1\tb.png\n';
      const backend = {
        name: 'aws',
        store: {
          bucket: 'b',
          uri: (k: string) => `s3://b/${k}`,
          get: async () => Buffer.from(lst),
          put: async () => {},
        },
        openWorkflow: async () => runner,
      } as unknown as Backend;
      let manifest = newManifest('timeout', 'aws', 'x');
      manifest = {
        ...manifest,
        stages: {
          'stage-data': {
            inputsDigest: 'd',
            startedAt: '',
            finishedAt: '',
            durationMs: 0,
            reused: false,
            outputs: {
              digest: 'd',
              source: 's',
              uri: 'u',
              prefix: 'datasets/d/',
              classes: [],
              counts: { train: {}, test: {} },
              totals: { train: 0, test: 2 },
              imageShape: [3, 32, 32],
            },
          },
          deploy: {
            inputsDigest: 'x',
            startedAt: '',
            finishedAt: '',
            durationMs: 0,
            reused: false,
            outputs: {
              deployed: true,
              preview: false,
              stackName: 's',
              trainingId: 't',
              deploymentDigest: 'x',
              deployment: fakeDeployment({
                stackName: 's',
                trainingId: 't',
                endpointName: 'e',
                stateMachineArn: 'arn:sm',
              }),
              changes: [],
            },
          },
        },
      };
      try {
        await testExecutions({
          config: testConfig({ 'testExecutions.count': 2 }),
          backend,
          reporter: captureReporter().reporter,
          runId: 'timeout',
          manifest,
        });
        expect.fail('timed-out executions passed');
      } catch (error) {
        const failed = recordFaults(1, {
          'the stage failed as a stage failure': error instanceof StageFailedError,
          'the message names the timeout and the budget':
            /2 errors;.* 2 over the error budget of 0 .*States\.Timeout: The execution exceeded its TimeoutSeconds of 300/.test(
              (error as Error).message,
            ),
        });
        expect(failed, (error as Error).message).to.deep.equal([]);
      }
    });
  });
});
