import {
  CreateModelCommand,
  CreateTransformJobCommand,
  type CreateTransformJobCommandInput,
  DeleteModelCommand,
  DescribeModelCommand,
  DescribeTransformJobCommand,
  type DescribeTransformJobCommandOutput,
} from '@aws-sdk/client-sagemaker';
import { z } from 'zod';
import type { Reporter } from '../../console-reporter.js';
import { datasetImagesPrefix, datasetListKey, evaluationKeys } from '../../contracts/layout.js';
import { ConfigError, SconesError, StageFailedError } from '../../errors.js';
import type { EvaluateRequest, Evaluator, ScoredImage } from '../../ports.js';
import { mapConcurrent } from '../../util/concurrency.js';
import { parseJson } from '../../util/json.js';
import { parseLst } from '../../util/lst.js';
import { getText } from '../../util/object-text.js';
import { realSleep, type Sleep } from '../../util/time.js';
import { withFreshCredentials } from './credentials.js';
import { quotaFailure } from './instance-types.js';
import { imageClassificationUri } from './regions.js';
import { jobName, type SageMakerTrainerOptions } from './sagemaker-trainer.js';

type EvaluatedSplit = 'test' | 'validation';

/** The trainer's options (pollSeconds: between DescribeTransformJob calls), and how long to wait for a job. */
export interface BatchTransformEvaluatorOptions extends SageMakerTrainerOptions {
  /** How long to wait for a job before giving up (it keeps running); the evaluate job has 90 minutes. */
  maxWaitMinutes?: number;
}

/** Transform jobs tried per evaluation before the stage gives up (each re-run after a failure makes one). */
const MAX_TRANSFORM_ATTEMPTS = 5;

/** The base of a transform job's name: at most 59 characters, so `-r5` still fits SageMaker's 63. */
export const TRANSFORM_NAME_BASE = 59;

/**
 * Scores the model on the test and validation splits with SageMaker Batch Transform jobs: every object under a
 * split's folder is sent as `application/x-image` (one record per file), and the built-in
 * image-classification algorithm writes, for each input `<key>`, `<key>.out` holding the class
 * probabilities as JSON (docs.aws.amazon.com/sagemaker/latest/dg/batch-transform.html and
 * .../image-classification.html). A job with the evaluation's name that already completed is reused.
 */
export class BatchTransformEvaluator implements Evaluator {
  readonly kind = 'sagemaker-batch-transform';
  private readonly sleep: Sleep;
  private readonly pollMs: number;
  private readonly maxWaitMs: number;

  constructor(private readonly options: BatchTransformEvaluatorOptions) {
    this.sleep = options.sleep ?? realSleep;
    this.pollMs = (options.pollSeconds ?? 30) * 1000;
    this.maxWaitMs = (options.maxWaitMinutes ?? 80) * 60_000;
  }

  /** Two jobs, one per split, run side by side (docs/aws.md says why not one). */
  async evaluate(request: EvaluateRequest, reporter: Reporter): ReturnType<Evaluator['evaluate']> {
    // Both jobs run to their end; the test job's failure is the one reported when both fail.
    const [testJob, validationJob] = await Promise.allSettled([
      this.runJob(request, 'test', reporter),
      this.runJob(request, 'validation', reporter),
    ]);
    if (testJob.status === 'rejected') throw testJob.reason;
    if (validationJob.status === 'rejected') throw validationJob.reason;
    const [test, validation] = [testJob.value, validationJob.value];
    const sum = (a: number | undefined, b: number | undefined) =>
      a === undefined || b === undefined ? undefined : a + b;
    const seconds = sum(test.billableSeconds, validation.billableSeconds);
    return {
      predictions: test.predictions,
      validation: validation.predictions,
      jobName: test.jobName,
      ...(seconds === undefined ? {} : { billableSeconds: seconds }),
    };
  }

  private async runJob(request: EvaluateRequest, split: EvaluatedSplit, reporter: Reporter) {
    const { name, job } = await this.completedJob(request, split, reporter);
    const predictions = await this.readPredictions(request, split, reporter);
    const start = job.TransformStartTime?.getTime();
    const end = job.TransformEndTime?.getTime();
    // Billed from TransformStartTime to TransformEndTime on each instance (DescribeTransformJob API reference).
    const seconds =
      start !== undefined && end !== undefined
        ? Math.round((end - start) / 1000) * (job.TransformResources?.InstanceCount ?? 1)
        : undefined;
    return { predictions, jobName: name, billableSeconds: seconds };
  }

  /**
   * The evaluation's completed transform job: one that completed is reused, a running one waited for, and
   * after a failed or stopped one the next attempt's job is started (the model is not retrained).
   */
  private async completedJob(
    request: EvaluateRequest,
    split: EvaluatedSplit,
    reporter: Reporter,
  ): Promise<{ name: string; job: DescribeTransformJobCommandOutput }> {
    const { config, client } = this.options;
    const evaluationId = split === 'test' ? request.evaluationId : `${request.evaluationId}-validation`;
    for (let attempt = 1; attempt <= MAX_TRANSFORM_ATTEMPTS; attempt++) {
      // The same names for the same evaluation, so a re-run finds the job it started; a job name can never be
      // used again (CreateTransformJob: "unique within an AWS Region in an AWS account"), so a failed or
      // stopped job is retried under the next one.
      const name = jobName(evaluationId, attempt, TRANSFORM_NAME_BASE);
      let job = await this.describe(name);
      if (job?.TransformJobStatus === 'Failed' || job?.TransformJobStatus === 'Stopped') {
        reporter.warn(
          `SageMaker transform job ${name} ended ${job.TransformJobStatus} (${job.FailureReason ?? 'no reason given'}): trying a new job`,
        );
        continue;
      }
      if (job?.TransformJobStatus === 'Completed') {
        reporter.info(`SageMaker transform job ${name} already completed: reusing its output`);
        return { name, job };
      }
      if (job === undefined) {
        await this.ensureModel(name, request);
        await client
          .send(new CreateTransformJobCommand(this.createRequest(name, request, split)))
          .catch((error: unknown) => {
            throw quotaFailure(error, config.evaluate.transformInstanceType, 'transform', config.region);
          });
        reporter.info(
          `started SageMaker transform job ${name} over ${request.dataset.counts[split]} ${split} images`,
        );
      } else reporter.info(`SageMaker transform job ${name} is already running: waiting for it`);
      job = await this.wait(name, reporter);
      // The job is over: its model (named like it) has served its purpose, whatever the outcome.
      try {
        await client.send(new DeleteModelCommand({ ModelName: name }));
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
      if (job.TransformJobStatus !== 'Completed')
        throw new StageFailedError(
          `SageMaker transform job ${name} ${job.TransformJobStatus === 'Failed' ? `failed: ${job.FailureReason ?? 'no reason given'}` : 'was stopped before it completed'}; run evaluate again to retry with a new job (the model is not retrained)`,
        );
      return { name, job };
    }
    throw new StageFailedError(
      `evaluation ${request.evaluationId}: ${MAX_TRANSFORM_ATTEMPTS} transform jobs failed or were stopped: see their FailureReason in the SageMaker console`,
    );
  }

  /** The exact CreateTransformJob request. */
  createRequest(
    name: string,
    request: EvaluateRequest,
    split: EvaluatedSplit = 'test',
  ): CreateTransformJobCommandInput {
    const { store, config } = this.options;
    return {
      TransformJobName: name,
      ModelName: name,
      BatchStrategy: 'SingleRecord',
      TransformInput: {
        DataSource: {
          S3DataSource: {
            S3DataType: 'S3Prefix',
            S3Uri: store.uri(datasetImagesPrefix(request.dataset.prefix, split)),
          },
        },
        ContentType: 'application/x-image',
        SplitType: 'None',
      },
      TransformOutput: {
        S3OutputPath: store.uri(this.outputPrefix(request, split)),
        Accept: 'application/json',
      },
      TransformResources: { InstanceType: config.evaluate.transformInstanceType as never, InstanceCount: 1 },
      Tags: [
        { Key: 'scones:run-id', Value: request.runId },
        { Key: 'scones:training-id', Value: request.model.trainingId },
      ],
    };
  }

  private outputPrefix(request: EvaluateRequest, split: EvaluatedSplit): string {
    const keys = evaluationKeys(request.evaluationId);
    return split === 'test' ? keys.transform : keys.validationTransform;
  }

  /** A SageMaker model for the trained artifact, named like the job (created once). */
  private async ensureModel(name: string, request: EvaluateRequest): Promise<void> {
    const { client, config } = this.options;
    try {
      await client.send(new DescribeModelCommand({ ModelName: name }));
      return;
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    const image = imageClassificationUri(config.region);
    if (image === undefined)
      throw new ConfigError(
        `region ${config.region} does not host SageMaker's image-classification algorithm`,
      );
    const role = config.train.sagemaker.roleArn;
    if (role === undefined)
      throw new ConfigError(
        'train.sagemaker.roleArn is required on the aws backend (scones bootstrap prints it)',
      );
    await client.send(
      new CreateModelCommand({
        ModelName: name,
        ExecutionRoleArn: role,
        PrimaryContainer: { Image: image, ModelDataUrl: request.model.modelUri },
      }),
    );
  }

  private async describe(name: string): Promise<DescribeTransformJobCommandOutput | undefined> {
    try {
      return await this.options.client.send(new DescribeTransformJobCommand({ TransformJobName: name }));
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /** Polls until the job ends (Completed, Failed or Stopped), printing each status change. */
  private async wait(name: string, reporter: Reporter): Promise<DescribeTransformJobCommandOutput> {
    let last = '';
    for (let waited = 0; ; waited += this.pollMs) {
      const job = await withFreshCredentials(() => this.describe(name), {
        refresh: this.options.refreshCredentials,
        sleep: this.sleep,
        reporter,
        waitingFor: name,
      });
      if (job === undefined)
        throw new SconesError(`SageMaker transform job ${name} disappeared while waiting for it`);
      if (job.TransformJobStatus !== last) {
        reporter.info(`${name}: ${job.TransformJobStatus} (${Math.round(waited / 60_000)} min in)`);
        last = job.TransformJobStatus ?? '';
      }
      if (['Completed', 'Failed', 'Stopped'].includes(job.TransformJobStatus ?? '')) return job;
      if (waited >= this.maxWaitMs)
        throw new StageFailedError(
          `SageMaker transform job ${name} is still ${job.TransformJobStatus} after ${Math.round(waited / 60_000)} min: it keeps running (and billing) in SageMaker; run evaluate again to wait for it, or stop it with aws sagemaker stop-transform-job --transform-job-name ${name}`,
        );
      await this.sleep(this.pollMs);
    }
  }

  /** One `<image>.out` per image of the split, joined to the split list's labels. */
  private async readPredictions(
    request: EvaluateRequest,
    split: EvaluatedSplit,
    reporter: Reporter,
  ): Promise<ScoredImage[]> {
    const { store } = this.options;
    const lstKey = datasetListKey(request.dataset.prefix, split);
    const entries = parseLst(await getText(store, lstKey), store.uri(lstKey));
    const progress = reporter.progress(`read ${split} transform output`, entries.length, 'images');
    const predictions = await mapConcurrent(entries, 16, async (entry) => {
      const key = `${this.outputPrefix(request, split)}${entry.path}.out`;
      if ((await store.head(key)) === undefined)
        throw new StageFailedError(`the transform job wrote no output for ${entry.path} (${store.uri(key)})`);
      const probabilities = parseTransformOutput(await getText(store, key), store.uri(key));
      if (probabilities.length !== request.dataset.classes.length)
        throw new StageFailedError(
          `${store.uri(key)} has ${probabilities.length} probabilities for ${request.dataset.classes.length} classes`,
        );
      progress.tick();
      return { path: entry.path, label: entry.label, probabilities };
    });
    progress.done();
    return predictions;
  }
}

const transformProbabilities = z.array(z.number().finite());
const transformOutputSchema = z.union([
  transformProbabilities,
  z.looseObject({ prediction: transformProbabilities }).transform((output) => output.prediction),
]);

/**
 * The algorithm's JSON response: the class probabilities, as a bare array or under `prediction`
 * (the form batch transform writes for image classification).
 */
export function parseTransformOutput(text: string, where: string): number[] {
  const fix = 'run evaluate again to score the model with a new transform job';
  return parseJson(text, transformOutputSchema, where, 'an array of class probabilities', fix);
}

function isNotFound(error: unknown): boolean {
  const message = (error as Error).message ?? '';
  return (error as Error).name === 'ResourceNotFound' || /could not find|not found/i.test(message);
}
