import { S3Client } from '@aws-sdk/client-s3';
import {
  CreateTrainingJobCommand,
  DescribeTrainingJobCommand,
  type DescribeTrainingJobCommandOutput,
  SageMakerClient,
} from '@aws-sdk/client-sagemaker';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { expect } from 'chai';
import { imageClassificationUri } from '../../pipeline/backends/aws/regions.js';
import {
  JOB_NAME_PATTERN,
  jobName,
  SageMakerTrainer,
  sagemakerHyperparametersFor,
} from '../../pipeline/backends/aws/sagemaker-trainer.js';
import { S3ObjectStore } from '../../pipeline/backends/s3-object-store.js';
import { ConfigError, StageFailedError } from '../../pipeline/errors.js';
import type { DatasetRecord } from '../../pipeline/manifest.js';
import type { TrainRequest } from '../../pipeline/ports.js';
import { runCost, trainingUsage } from '../../pipeline/util/run-cost.js';
import { loadModel } from '../aws-models/request-check.js';
import { captureReporter, testConfig } from '../helpers/workspace.js';

const ROLE = 'arn:aws:iam::123456789012:role/scones-sagemaker';
const DATASET: DatasetRecord = {
  digest: 'd0d0d0d0d0d0d0d0d0d0',
  source: 'cifar100',
  uri: 's3://team-artifacts/datasets/d0d0d0d0d0d0d0d0d0d0/',
  prefix: 'datasets/d0d0d0d0d0d0d0d0d0d0/',
  classes: [
    { label: 0, name: 'bicycle', cifarId: 8 },
    { label: 1, name: 'motorcycle', cifarId: 48 },
  ],
  counts: {
    train: { bicycle: 450, motorcycle: 450 },
    validation: { bicycle: 50, motorcycle: 50 },
    test: { bicycle: 100, motorcycle: 100 },
  },
  totals: { train: 900, validation: 100, test: 200 },
  imageShape: [3, 32, 32],
};

function setup(overrides: Record<string, unknown> = {}) {
  const config = testConfig({
    backend: 'aws',
    bucket: 'team-artifacts',
    'train.sagemaker.roleArn': ROLE,
    ...overrides,
  });
  const store = new S3ObjectStore(new S3Client({ region: 'us-east-1' }), 'team-artifacts');
  const sleeps: number[] = [];
  let refreshed = 0;
  const trainer = new SageMakerTrainer({
    client: new SageMakerClient({ region: config.region }),
    store,
    config,
    pollSeconds: 30,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    refreshCredentials: async () => {
      refreshed++;
    },
  });
  const request: TrainRequest = {
    trainingId: 't-0123456789abcdef0123',
    runId: '20261123T100000Z-abcd',
    dataset: {
      digest: DATASET.digest,
      prefix: DATASET.prefix,
      classes: ['bicycle', 'motorcycle'],
      imageShape: [3, 32, 32],
      counts: DATASET.totals,
    },
    hyperparameters: sagemakerHyperparametersFor(config, DATASET),
  };
  return { config, trainer, request, sleeps, refreshed: () => refreshed };
}

const notFound = () =>
  Object.assign(new Error('Requested resource not found.'), { name: 'ValidationException' });
type JobDescription = Partial<DescribeTrainingJobCommandOutput>;
const completed = (name: string, extra: JobDescription = {}): JobDescription => ({
  TrainingJobName: name,
  TrainingJobStatus: 'Completed',
  SecondaryStatus: 'Completed',
  FinalMetricDataList: [
    { MetricName: 'train:accuracy', Value: 0.95 },
    { MetricName: 'validation:accuracy', Value: 0.865 },
  ],
  ModelArtifacts: {
    S3ModelArtifacts: `s3://team-artifacts/models/t-0123456789abcdef0123/${name}/output/model.tar.gz`,
  },
  BillableTimeInSeconds: 600,
  ResourceConfig: { InstanceType: 'ml.p3.2xlarge', InstanceCount: 1, VolumeSizeInGB: 30 },
  TrainingStartTime: new Date('2026-11-23T10:00:00Z'),
  TrainingEndTime: new Date('2026-11-23T10:11:00Z'),
  ...extra,
});

describe('aws trainer: SageMaker image-classification (aws-sdk-client-mock)', () => {
  let sagemaker: AwsClientStub<SageMakerClient>;
  before(() => {
    sagemaker = mockClient(SageMakerClient);
  });
  beforeEach(() => sagemaker.reset());
  after(() => sagemaker.restore());

  it('sends the exact CreateTrainingJob request of the reference configuration', async () => {
    // Prepare
    const { trainer, request } = setup();
    const name = jobName(request.trainingId, 1);
    sagemaker.on(DescribeTrainingJobCommand).rejectsOnce(notFound()).resolves(completed(name));
    sagemaker.on(CreateTrainingJobCommand).resolves({ TrainingJobArn: 'arn:x' });
    // Act
    await trainer.train(request, captureReporter().reporter);
    // Assess
    const sent = sagemaker.commandCalls(CreateTrainingJobCommand)[0]!.args[0].input;
    const channel = (ChannelName: string, key: string) => ({
      ChannelName,
      ContentType: 'application/x-image',
      CompressionType: 'None',
      DataSource: {
        S3DataSource: {
          S3DataType: 'S3Prefix',
          S3Uri: `s3://team-artifacts/${DATASET.prefix}${key}`,
          S3DataDistributionType: 'FullyReplicated',
        },
      },
    });
    expect(sent).to.deep.equal({
      TrainingJobName: 'scones-t-0123456789abcdef0123',
      AlgorithmSpecification: {
        TrainingImage: '811284229777.dkr.ecr.us-east-1.amazonaws.com/image-classification:1',
        TrainingInputMode: 'File',
      },
      RoleArn: ROLE,
      HyperParameters: {
        image_shape: '3,32,32',
        num_classes: '2',
        num_training_samples: '900',
        epochs: '30',
        // "Image Classification Hyperparameters" (SageMaker Developer Guide): the algorithm's default
        // optimizer is sgd, whose documented default learning_rate is 0.1; early_stopping is True or False.
        optimizer: 'sgd',
        learning_rate: '0.1',
        momentum: '0.9',
        mini_batch_size: '32',
        early_stopping: 'True',
        early_stopping_patience: '6',
        early_stopping_min_epochs: '10',
        // augmentation_type `crop` is the algorithm's random crop and horizontal flip (the local trainer
        // trains on mirror images); use_pretrained_model 1 starts from the algorithm's ImageNet network,
        // as the local trainer starts from a pretrained one.
        augmentation_type: 'crop',
        use_pretrained_model: '1',
      },
      InputDataConfig: [
        channel('train', 'train/'),
        channel('validation', 'validation/'),
        channel('train_lst', 'train.lst'),
        channel('validation_lst', 'validation.lst'),
      ],
      OutputDataConfig: { S3OutputPath: 's3://team-artifacts/models/t-0123456789abcdef0123/' },
      ResourceConfig: { InstanceType: 'ml.g4dn.xlarge', InstanceCount: 1, VolumeSizeInGB: 30 },
      StoppingCondition: { MaxRuntimeInSeconds: 3600 },
      Tags: [
        { Key: 'scones:run-id', Value: '20261123T100000Z-abcd' },
        { Key: 'scones:training-id', Value: 't-0123456789abcdef0123' },
      ],
    });
  });

  it('sends use_pretrained_model 0 without train.sagemaker.usePretrainedModel, and no augmentation_type without train.augment', async () => {
    const { trainer, request } = setup({
      'train.sagemaker.usePretrainedModel': false,
      'train.augment': false,
    });
    sagemaker.on(DescribeTrainingJobCommand).rejectsOnce(notFound()).resolves(completed('job'));
    sagemaker.on(CreateTrainingJobCommand).resolves({ TrainingJobArn: 'arn:x' });
    await trainer.train(request, captureReporter().reporter);
    const sent = sagemaker.commandCalls(CreateTrainingJobCommand)[0]!.args[0].input;
    expect(sent.HyperParameters?.use_pretrained_model).to.equal('0');
    expect(sent.HyperParameters).to.not.have.property('augmentation_type');
  });

  it('adds managed spot training, max wait and a checkpoint URI when spot is on, and passes extra hyperparameters', () => {
    const { trainer, request } = setup({
      'train.sagemaker.spot': true,
      'train.sagemaker.hyperparameters': { num_layers: 18 },
    });
    const withExtra = {
      ...request,
      hyperparameters: { ...request.hyperparameters, num_layers: '18' },
    };
    const sent = trainer.createRequest('job', withExtra);
    expect(sent.EnableManagedSpotTraining).to.equal(true);
    expect(sent.StoppingCondition).to.deep.equal({ MaxRuntimeInSeconds: 3600, MaxWaitTimeInSeconds: 7200 });
    expect(sent.CheckpointConfig).to.deep.equal({
      S3Uri: 's3://team-artifacts/checkpoints/t-0123456789abcdef0123/',
    });
    expect(sent.HyperParameters?.num_layers).to.equal('18');
  });

  it('refuses a region without the algorithm and a missing role, by name', () => {
    expect(() => setup({ region: 'mars-north-1' }).trainer.createRequest('j', setup().request)).to.throw(
      ConfigError,
      /mars-north-1 does not host/,
    );
    const noRole = testConfig({ backend: 'aws' });
    const trainer = new SageMakerTrainer({
      client: new SageMakerClient({}),
      store: new S3ObjectStore(new S3Client({}), 'b'),
      config: noRole,
    });
    expect(() => trainer.createRequest('j', setup().request)).to.throw(
      ConfigError,
      /train\.sagemaker\.roleArn is required/,
    );
  });

  it('derives job names within SageMaker rules, suffixing retries', () => {
    const long = `t-${'a'.repeat(80)}`;
    for (const id of ['t-0123456789abcdef0123', long, 't-with_under.scores']) {
      for (const attempt of [1, 2, 17]) {
        const name = jobName(id, attempt);
        expect(name, name).to.match(JOB_NAME_PATTERN);
        expect(name.length).to.be.at.most(63);
      }
    }
    expect(jobName('t-abc', 1)).to.equal('scones-t-abc');
    expect(jobName('t-abc', 3)).to.equal('scones-t-abc-r3');
  });

  it('reuses a Completed job without creating one', async () => {
    const { trainer, request } = setup();
    sagemaker.on(DescribeTrainingJobCommand).resolves(completed('scones-t-0123456789abcdef0123'));
    const record = await trainer.train(request, captureReporter().reporter);
    expect(sagemaker.commandCalls(CreateTrainingJobCommand)).to.have.length(0);
    expect(record.validationAccuracy).to.equal(0.865);
    expect(await trainer.find(request.trainingId)).to.deep.include({ validationAccuracy: 0.865 });
  });

  it('waits for an InProgress job, printing status transitions, with the injected sleep', async () => {
    const { trainer, request, sleeps } = setup();
    const name = 'scones-t-0123456789abcdef0123';
    sagemaker
      .on(DescribeTrainingJobCommand)
      .resolvesOnce({
        TrainingJobName: name,
        TrainingJobStatus: 'InProgress' as const,
        SecondaryStatus: 'Starting' as const,
      })
      .resolvesOnce({
        TrainingJobName: name,
        TrainingJobStatus: 'InProgress' as const,
        SecondaryStatus: 'Starting' as const,
      })
      .resolvesOnce({
        TrainingJobName: name,
        TrainingJobStatus: 'InProgress' as const,
        SecondaryStatus: 'Training' as const,
        SecondaryStatusTransitions: [
          { Status: 'Training', StartTime: new Date(), StatusMessage: 'Training image download completed.' },
        ],
      })
      .resolves(completed(name));
    const { reporter, stream } = captureReporter();
    const record = await trainer.train(request, reporter);
    expect(record.jobName).to.equal(name);
    expect(sagemaker.commandCalls(CreateTrainingJobCommand)).to.have.length(0);
    expect(stream.text).to.include(`${name}: InProgress/Starting`);
    expect(stream.text).to.include(`${name}: InProgress/Training - Training image download completed.`);
    expect(stream.text).to.include(`${name}: Completed/Completed`);
    expect(sleeps).to.deep.equal([30_000, 30_000]);
  });

  it('surfaces FailureReason verbatim when the job fails', async () => {
    const { trainer, request } = setup();
    const reason = 'ClientError: Data download failed:NoSuchKey (404): The specified key does not exist.';
    sagemaker
      .on(DescribeTrainingJobCommand)
      .rejectsOnce(notFound())
      .resolves({
        TrainingJobName: 'scones-t-0123456789abcdef0123',
        TrainingJobStatus: 'Failed' as const,
        SecondaryStatus: 'Failed' as const,
        FailureReason: reason,
      });
    sagemaker.on(CreateTrainingJobCommand).resolves({});
    try {
      await trainer.train(request, captureReporter().reporter);
      expect.fail('a failed job was accepted');
    } catch (error) {
      expect(error).to.be.instanceOf(StageFailedError);
      expect((error as Error).message).to.equal(
        `SageMaker training job scones-t-0123456789abcdef0123 failed: ${reason}`,
      );
    }
  });

  // CreateTrainingJob API reference, Errors: ResourceLimitExceeded, what a new account's 0 quota for a GPU
  // type answers (message as Service Quotas words it).
  it('ResourceLimitExceeded on CreateTrainingJob fails the stage naming the instance type, the quota to request and a cheaper valid type', async () => {
    const documented = (loadModel('sagemaker') as unknown as { errors: Record<string, string[]> }).errors;
    expect(documented.CreateTrainingJob).to.include('ResourceLimitExceeded');
    const { trainer, request } = setup({ 'train.sagemaker.instanceType': 'ml.p3.2xlarge' });
    sagemaker.on(DescribeTrainingJobCommand).rejects(notFound());
    sagemaker
      .on(CreateTrainingJobCommand)
      .rejects(
        Object.assign(
          new Error(
            "The account-level service limit 'ml.p3.2xlarge for training job usage' is 0 Instances, with current utilization of 0 Instances and a request delta of 1 Instances. Please use AWS Service Quotas to request an increase for this quota.",
          ),
          { name: 'ResourceLimitExceeded' },
        ),
      );
    const failure = (await trainer
      .train(request, captureReporter().reporter)
      .catch((e: unknown) => e)) as Error;
    expect(failure).to.be.instanceOf(StageFailedError);
    expect(failure.message)
      .to.include('SageMaker refused ml.p3.2xlarge for training job')
      .and.include('Request the quota "ml.p3.2xlarge for training job usage" in Service Quotas')
      .and.include('cheaper valid type such as ml.g4dn.xlarge');
  });

  it('does not reuse a Failed job name: the next attempt gets a new suffix', async () => {
    const { trainer, request } = setup();
    sagemaker.on(DescribeTrainingJobCommand, { TrainingJobName: 'scones-t-0123456789abcdef0123' }).resolves({
      TrainingJobName: 'scones-t-0123456789abcdef0123',
      TrainingJobStatus: 'Failed' as const,
      FailureReason: 'AlgorithmError: out of memory',
    });
    sagemaker
      .on(DescribeTrainingJobCommand, { TrainingJobName: 'scones-t-0123456789abcdef0123-r2' })
      .rejectsOnce(notFound())
      .resolves(completed('scones-t-0123456789abcdef0123-r2'));
    sagemaker.on(CreateTrainingJobCommand).resolves({});
    const { reporter, stream } = captureReporter();
    const record = await trainer.train(request, reporter);
    expect(sagemaker.commandCalls(CreateTrainingJobCommand)[0]!.args[0].input.TrainingJobName).to.equal(
      'scones-t-0123456789abcdef0123-r2',
    );
    expect(record.jobName).to.equal('scones-t-0123456789abcdef0123-r2');
    expect(stream.text).to.include('ended Failed (AlgorithmError: out of memory): starting a new attempt');
  });

  it('refreshes expired credentials during a long wait instead of failing', async () => {
    const { trainer, request, refreshed } = setup();
    const name = 'scones-t-0123456789abcdef0123';
    sagemaker
      .on(DescribeTrainingJobCommand)
      .resolvesOnce({
        TrainingJobName: name,
        TrainingJobStatus: 'InProgress' as const,
        SecondaryStatus: 'Training' as const,
      })
      .rejectsOnce(
        Object.assign(new Error('The security token included in the request is expired'), {
          name: 'ExpiredTokenException',
        }),
      )
      .resolves(completed(name));
    const record = await trainer.train(request, captureReporter().reporter);
    expect(record.validationAccuracy).to.equal(0.865);
    expect(refreshed()).to.equal(1);
  });

  it('ExpiredTokenException that persists after refreshing: bounded refreshes with growing backoff, then a clear failure', async () => {
    // STS/SageMaker answer ExpiredTokenException ("The security token included in the request is expired")
    // for every call made with expired credentials; a source that keeps returning them must not spin.
    const { trainer, request, refreshed, sleeps } = setup();
    const name = 'scones-t-0123456789abcdef0123';
    sagemaker
      .on(DescribeTrainingJobCommand)
      .resolvesOnce({
        TrainingJobName: name,
        TrainingJobStatus: 'InProgress' as const,
        SecondaryStatus: 'Training' as const,
      })
      .rejects(
        Object.assign(new Error('The security token included in the request is expired'), {
          name: 'ExpiredTokenException',
        }),
      );
    const failure = await trainer.train(request, captureReporter().reporter).catch((e: unknown) => e);
    expect(failure).to.be.instanceOf(StageFailedError);
    expect((failure as Error).message).to.include('still expired after 5 refreshes');
    expect(refreshed()).to.equal(5);
    expect(sleeps.filter((ms) => ms !== 30_000)).to.deep.equal([1000, 2000, 4000, 8000, 16000]);
  });

  it('extracts validation:accuracy, BillableTimeInSeconds and the training time (end - start when TrainingTimeInSeconds is absent)', async () => {
    const { trainer, request } = setup();
    sagemaker.on(DescribeTrainingJobCommand).resolves(completed('scones-t-0123456789abcdef0123'));
    const record = await trainer.train(request, captureReporter().reporter);
    expect(record).to.deep.include({ validationAccuracy: 0.865, billableSeconds: 600, durationSeconds: 660 });
  });

  it('a managed spot job: BillableTimeInSeconds and TrainingTimeInSeconds give the billed instance-hours and the savings', async () => {
    // DescribeTrainingJob API reference, BillableTimeInSeconds: savings = (1 - BillableTimeInSeconds /
    // TrainingTimeInSeconds) * 100, "if BillableTimeInSeconds is 100 and TrainingTimeInSeconds is 500, the
    // savings is 80%"; the total billed is BillableTimeInSeconds * InstanceCount.
    const { trainer, request, config } = setup({ 'train.sagemaker.spot': true });
    sagemaker.on(DescribeTrainingJobCommand).resolves(
      completed('scones-t-0123456789abcdef0123', {
        EnableManagedSpotTraining: true,
        BillableTimeInSeconds: 100,
        TrainingTimeInSeconds: 500,
        ResourceConfig: { InstanceType: 'ml.g4dn.xlarge', InstanceCount: 1, VolumeSizeInGB: 30 },
      }),
    );
    const record = await trainer.train(request, captureReporter().reporter);
    const cost = runCost({
      measuredOn: 'aws',
      region: config.region,
      training: trainingUsage(record, config, false),
    });
    expect(cost.items[0]?.usd).to.be.closeTo((100 / 3600) * 0.736, 1e-12);
    expect(cost.items[0]?.text).to.match(
      /^1 x ml\.g4dn\.xlarge, 0\.028 instance-hours at \$0\.736\/h = \$0\.02; managed spot saved 80% \(billed 100 of 500 s\)$/,
    );
  });

  it('fails clearly when the job reported no validation:accuracy metric', async () => {
    const { trainer, request } = setup();
    sagemaker
      .on(DescribeTrainingJobCommand)
      .resolves(completed('scones-t-0123456789abcdef0123', { FinalMetricDataList: [] }));
    try {
      await trainer.train(request, captureReporter().reporter);
      expect.fail('a job without the metric was accepted');
    } catch (error) {
      expect((error as Error).message).to.match(/reported no validation:accuracy metric/);
    }
  });

  it('resolves the algorithm image in every listed region, China and GovCloud included', () => {
    expect(imageClassificationUri('eu-west-1')).to.equal(
      '685385470294.dkr.ecr.eu-west-1.amazonaws.com/image-classification:1',
    );
    expect(imageClassificationUri('cn-north-1')).to.equal(
      '390948362332.dkr.ecr.cn-north-1.amazonaws.com.cn/image-classification:1',
    );
    expect(imageClassificationUri('us-gov-west-1')).to.match(/^226302683700\./);
    expect(imageClassificationUri('atlantis-1')).to.equal(undefined);
  });
});
