import {
  CreateTrainingJobCommand,
  type CreateTrainingJobCommandInput,
  DescribeTrainingJobCommand,
  type DescribeTrainingJobCommandOutput,
  type SageMakerClient,
} from '@aws-sdk/client-sagemaker';
import type { Config } from '../../config.js';
import type { Reporter } from '../../console-reporter.js';
import { datasetKeys, modelPrefix } from '../../contracts/layout.js';
import { ConfigError, SconesError, StageFailedError } from '../../errors.js';
import type { DatasetRecord, TrainRecord } from '../../manifest.js';
import type { ObjectStore, Trainer, TrainRequest, ValidationPredictions } from '../../ports.js';
import { realSleep, type Sleep } from '../../util/time.js';
import { withFreshCredentials } from './credentials.js';
import { quotaFailure } from './instance-types.js';
import { imageClassificationUri } from './regions.js';

/** SageMaker's rule for training job names. */
export const JOB_NAME_PATTERN = /^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$/;
const MAX_ATTEMPTS = 20;

/**
 * The built-in algorithm's own optimizer settings, from "Image Classification Hyperparameters" (SageMaker
 * Developer Guide, IC-Hyperparameter): optimizer `sgd` is its default and `learning_rate` 0.1 the
 * documented default for it; `early_stopping` takes `True` or `False` (default False). The local trainer's
 * Adam learning rate (train.learningRate) would starve SGD, so it is not sent; override any of these with
 * train.sagemaker.hyperparameters.
 */
export const SAGEMAKER_OPTIMIZER = { optimizer: 'sgd', learning_rate: '0.1', momentum: '0.9' } as const;

/** The algorithm's hyperparameters: the reference workflow's, computed from the dataset and configuration. */
export function sagemakerHyperparametersFor(config: Config, dataset: DatasetRecord): Record<string, string> {
  const { epochs, batchSize, patience, augment, sagemaker } = config.train;
  const passthrough = Object.fromEntries(
    Object.entries(sagemaker.hyperparameters).map(([k, v]) => [k, String(v)]),
  );
  return {
    image_shape: dataset.imageShape.join(','),
    num_classes: String(dataset.classes.length),
    num_training_samples: String(dataset.totals.train),
    epochs: String(epochs),
    ...SAGEMAKER_OPTIMIZER,
    mini_batch_size: String(batchSize),
    early_stopping: 'True',
    early_stopping_patience: String(patience),
    // The documented default (10) would outlast a short run's epochs and so never stop it early.
    early_stopping_min_epochs: String(Math.min(10, Math.max(1, epochs - 1))),
    // The local trainer trains on mirror images too; the nearest the algorithm documents is `crop`,
    // "randomly crop the image and flip the image horizontally" (IC-Hyperparameter); without
    // augmentation_type the algorithm does not augment.
    ...(augment ? { augmentation_type: 'crop' } : {}),
    // Documented values 0 (train from scratch, the default) and 1.
    use_pretrained_model: sagemaker.usePretrainedModel ? '1' : '0',
    ...passthrough,
  };
}

/**
 * `scones-<id>` and, after failed attempts, `scones-<id>-r2`, `-r3`...: always within 63 characters (a base of
 * at most 55 leaves room for `-r20`, the last training attempt).
 */
export function jobName(id: string, attempt: number, baseLength = 55): string {
  const base = `scones-${id.replace(/[^a-zA-Z0-9-]/g, '-')}`.slice(0, baseLength).replace(/-+$/, '');
  const name = attempt <= 1 ? base : `${base}-r${attempt}`;
  if (!JOB_NAME_PATTERN.test(name))
    throw new SconesError(`cannot derive a valid SageMaker job name from ${id}`);
  return name;
}

export interface SageMakerTrainerOptions {
  client: SageMakerClient;
  store: ObjectStore;
  config: Config;
  sleep?: Sleep;
  /** Seconds between DescribeTrainingJob calls. */
  pollSeconds?: number;
  /** Called when AWS reports expired credentials mid-wait; must make the client's next call use fresh ones. */
  refreshCredentials?: () => Promise<void>;
}

/** SageMaker's built-in image-classification algorithm, as the reference workflow trains it. */
export class SageMakerTrainer implements Trainer {
  readonly kind = 'sagemaker-image-classification';
  readonly version = '1';
  private readonly sleep: Sleep;
  private readonly pollMs: number;

  constructor(private readonly options: SageMakerTrainerOptions) {
    this.sleep = options.sleep ?? realSleep;
    this.pollMs = (options.pollSeconds ?? 30) * 1000;
  }

  hyperparameters(config: Config, dataset: DatasetRecord): Record<string, string> {
    return sagemakerHyperparametersFor(config, dataset);
  }

  async driftBaseline(): Promise<ValidationPredictions> {
    throw new SconesError(
      "SageMaker's built-in image-classification algorithm saves no validation predictions to compare with",
    );
  }

  async find(trainingId: string): Promise<TrainRecord | undefined> {
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const job = await this.describe(jobName(trainingId, attempt));
      if (job === undefined) return undefined;
      if (job.TrainingJobStatus === 'Completed') return this.record(trainingId, job);
    }
    return undefined;
  }

  async train(request: TrainRequest, reporter: Reporter): Promise<TrainRecord> {
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const name = jobName(request.trainingId, attempt);
      const job = await this.describe(name);
      if (job === undefined) {
        const { config } = this.options;
        await this.options.client
          .send(new CreateTrainingJobCommand(this.createRequest(name, request)))
          .catch((error: unknown) => {
            throw quotaFailure(error, config.train.sagemaker.instanceType, 'training', config.region);
          });
        reporter.info(`started SageMaker training job ${name}`);
        return this.record(request.trainingId, await this.wait(name, reporter));
      }
      switch (job.TrainingJobStatus) {
        case 'Completed':
          reporter.info(`SageMaker training job ${name} already completed: reusing it`);
          return this.record(request.trainingId, job);
        case 'InProgress':
        case 'Stopping':
          reporter.info(`SageMaker training job ${name} is already running: waiting for it`);
          return this.record(request.trainingId, await this.wait(name, reporter));
        default:
          reporter.warn(
            `SageMaker training job ${name} ended ${job.TrainingJobStatus}` +
              `${job.FailureReason ? ` (${job.FailureReason})` : ''}: starting a new attempt`,
          );
      }
    }
    throw new StageFailedError(
      `training ${request.trainingId} failed ${MAX_ATTEMPTS} times: see the SageMaker console`,
    );
  }

  /** The exact CreateTrainingJob request. */
  createRequest(jobName: string, request: TrainRequest): CreateTrainingJobCommandInput {
    const { config, store } = this.options;
    const sm = config.train.sagemaker;
    const image = imageClassificationUri(config.region);
    if (image === undefined)
      throw new ConfigError(
        `region ${config.region} does not host SageMaker's image-classification algorithm: choose another region`,
      );
    if (sm.roleArn === undefined)
      throw new ConfigError(
        'train.sagemaker.roleArn is required on the aws backend: set SCONES_TRAIN__SAGEMAKER__ROLE_ARN ' +
          '(scones bootstrap prints it)',
      );
    const keys = datasetKeys(request.dataset.prefix);
    const channel = (name: string, key: string) => ({
      ChannelName: name,
      ContentType: 'application/x-image',
      CompressionType: 'None' as const,
      DataSource: {
        S3DataSource: {
          S3DataType: 'S3Prefix' as const,
          S3Uri: store.uri(key),
          S3DataDistributionType: 'FullyReplicated' as const,
        },
      },
    });
    return {
      TrainingJobName: jobName,
      AlgorithmSpecification: { TrainingImage: image, TrainingInputMode: 'File' },
      RoleArn: sm.roleArn,
      HyperParameters: Object.fromEntries(
        Object.entries(request.hyperparameters).map(([k, v]) => [k, String(v)]),
      ),
      InputDataConfig: [
        channel('train', keys.trainImages),
        channel('validation', keys.validationImages),
        channel('train_lst', keys.trainLst),
        channel('validation_lst', keys.validationLst),
      ],
      OutputDataConfig: { S3OutputPath: store.uri(modelPrefix(request.trainingId)) },
      ResourceConfig: {
        InstanceType: sm.instanceType as never,
        InstanceCount: sm.instanceCount,
        VolumeSizeInGB: sm.volumeSizeGb,
      },
      StoppingCondition: {
        MaxRuntimeInSeconds: sm.maxRuntimeSeconds,
        ...(sm.spot ? { MaxWaitTimeInSeconds: Math.max(sm.maxWaitSeconds, sm.maxRuntimeSeconds) } : {}),
      },
      ...(sm.spot
        ? {
            EnableManagedSpotTraining: true,
            CheckpointConfig: { S3Uri: store.uri(`checkpoints/${request.trainingId}/`) },
          }
        : {}),
      Tags: [
        { Key: 'scones:run-id', Value: request.runId },
        { Key: 'scones:training-id', Value: request.trainingId },
      ],
    };
  }

  private async describe(name: string): Promise<DescribeTrainingJobCommandOutput | undefined> {
    try {
      return await this.options.client.send(new DescribeTrainingJobCommand({ TrainingJobName: name }));
    } catch (error) {
      const message = (error as Error).message ?? '';
      if ((error as Error).name === 'ResourceNotFound' || /not found/i.test(message)) return undefined;
      throw error;
    }
  }

  /** Polls until the job ends, printing status and secondary-status transitions. */
  private async wait(name: string, reporter: Reporter): Promise<DescribeTrainingJobCommandOutput> {
    let last = '';
    for (;;) {
      const job = await withFreshCredentials(() => this.describe(name), {
        refresh: this.options.refreshCredentials,
        sleep: this.sleep,
        reporter,
        waitingFor: name,
      });
      if (job === undefined)
        throw new SconesError(`SageMaker training job ${name} disappeared while waiting for it`);
      const state = `${job.TrainingJobStatus}/${job.SecondaryStatus}`;
      if (state !== last) {
        const message = job.SecondaryStatusTransitions?.at(-1)?.StatusMessage;
        reporter.info(`${name}: ${state}${message ? ` - ${message}` : ''}`);
        last = state;
      }
      if (job.TrainingJobStatus === 'Completed') return job;
      if (job.TrainingJobStatus === 'Failed')
        throw new StageFailedError(
          `SageMaker training job ${name} failed: ${job.FailureReason ?? 'no reason given'}`,
        );
      if (job.TrainingJobStatus === 'Stopped')
        throw new StageFailedError(`SageMaker training job ${name} was stopped before it completed`);
      await this.sleep(this.pollMs);
    }
  }

  private record(trainingId: string, job: DescribeTrainingJobCommandOutput): TrainRecord {
    const accuracy = job.FinalMetricDataList?.find((m) => m.MetricName === 'validation:accuracy')?.Value;
    if (accuracy === undefined)
      throw new SconesError(
        `SageMaker training job ${job.TrainingJobName} reported no validation:accuracy metric`,
      );
    const modelUri = job.ModelArtifacts?.S3ModelArtifacts;
    if (modelUri === undefined)
      throw new SconesError(`SageMaker training job ${job.TrainingJobName} has no model artifact`);
    const billable = job.BillableTimeInSeconds;
    const start = job.TrainingStartTime?.getTime();
    const end = job.TrainingEndTime?.getTime();
    return {
      trainingId,
      trainer: `${this.kind}/${this.version}`,
      modelUri,
      validationAccuracy: accuracy,
      epochs: [],
      // TrainingTimeInSeconds: what managed spot's savings are measured against (with BillableTimeInSeconds).
      durationSeconds:
        job.TrainingTimeInSeconds ?? (start !== undefined && end !== undefined ? (end - start) / 1000 : 0),
      // The train stage fills in the dataset digest: DescribeTrainingJob does not return tags.
      datasetDigest: '',
      hyperparameters: job.HyperParameters ?? {},
      jobName: job.TrainingJobName ?? '',
      ...(billable === undefined ? {} : { billableSeconds: billable }),
    };
  }
}
