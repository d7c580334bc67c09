import {
  CreateModelCommand,
  CreateTransformJobCommand,
  DeleteModelCommand,
  DescribeModelCommand,
  DescribeTransformJobCommand,
  type DescribeTransformJobCommandOutput,
  SageMakerClient,
} from '@aws-sdk/client-sagemaker';
import { mockClient } from 'aws-sdk-client-mock';
import { expect } from 'chai';
import {
  BatchTransformEvaluator,
  parseTransformOutput,
  TRANSFORM_NAME_BASE,
} from '../../pipeline/backends/aws/batch-transform-evaluator.js';
import { JOB_NAME_PATTERN, jobName } from '../../pipeline/backends/aws/sagemaker-trainer.js';
import { StageFailedError } from '../../pipeline/errors.js';
import type { EvaluateRequest, ObjectInfo, ObjectStore } from '../../pipeline/ports.js';
import { loadModel } from '../aws-models/request-check.js';
import { rejection } from '../helpers/assertions.js';
import { captureReporter, testConfig } from '../helpers/workspace.js';

/** An in-memory artifact bucket: the evaluator only needs get/head/put on it. */
class MemoryStore implements ObjectStore {
  readonly bucket = 'team-artifacts';
  readonly objects = new Map<string, Uint8Array>();
  uri(key: string) {
    return `s3://${this.bucket}/${key}`;
  }
  async put(key: string, body: Uint8Array | string) {
    this.objects.set(key, typeof body === 'string' ? Buffer.from(body) : body);
  }
  async get(key: string) {
    const body = this.objects.get(key);
    if (body === undefined) throw Object.assign(new Error(`NoSuchKey ${key}`), { name: 'NoSuchKey' });
    return body;
  }
  async head(key: string): Promise<ObjectInfo | undefined> {
    const body = this.objects.get(key);
    return body === undefined ? undefined : { key, size: body.length };
  }
  async *list(prefix: string) {
    for (const [key, body] of this.objects) if (key.startsWith(prefix)) yield { key, size: body.length };
  }
  async delete(key: string) {
    this.objects.delete(key);
  }
}

const PREFIX = 'datasets/d0d0d0d0d0d0d0d0d0d0/';
const sagemaker = mockClient(SageMakerClient);

function setup(overrides: Record<string, unknown> = {}) {
  const config = testConfig({
    backend: 'aws',
    bucket: 'team-artifacts',
    'train.sagemaker.roleArn': 'arn:aws:iam::123456789012:role/scones-sagemaker',
    ...overrides,
  });
  const store = new MemoryStore();
  store.objects.set(`${PREFIX}test.lst`, Buffer.from('0\t0\tbike.png\n1\t1\tmoto.png\n2\t1\tmoto2.png\n'));
  store.objects.set(`${PREFIX}validation.lst`, Buffer.from('0\t0\tbike-v.png\n1\t1\tmoto-v.png\n'));
  const sleeps: number[] = [];
  const evaluator = new BatchTransformEvaluator({
    client: new SageMakerClient({ region: 'us-east-1' }),
    store,
    config,
    pollSeconds: 30,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
  });
  const request: EvaluateRequest = {
    runId: '20261123T100000Z-abcd',
    evaluationId: 'e-0123456789abcdef0123',
    model: {
      trainingId: 't-0123456789abcdef0123',
      trainer: 'sagemaker-image-classification/1',
      modelUri: 's3://team-artifacts/models/t-0123456789abcdef0123/output/model.tar.gz',
      validationAccuracy: 0.9,
      epochs: [],
      durationSeconds: 100,
      datasetDigest: 'd0d0d0d0d0d0d0d0d0d0',
      hyperparameters: {},
    },
    dataset: {
      digest: 'd0d0d0d0d0d0d0d0d0d0',
      prefix: PREFIX,
      classes: ['bicycle', 'motorcycle'],
      imageShape: [3, 32, 32],
      counts: { train: 900, validation: 2, test: 3 },
    },
  };
  const output = (path: string) => `evaluations/${request.evaluationId}/transform/${path}.out`;
  const validationOutput = (path: string) =>
    `evaluations/${request.evaluationId}/transform/validation/${path}.out`;
  // The validation split's job (its own name) completed with its output, unless a test says otherwise.
  const validationDone = async () => {
    sagemaker
      .on(DescribeTransformJobCommand, { TransformJobName: VALIDATION_JOB })
      .resolves(job('Completed', { TransformJobName: VALIDATION_JOB }));
    await store.put(validationOutput('bike-v.png'), '[0.8, 0.2]');
    await store.put(validationOutput('moto-v.png'), '{"prediction": [0.4, 0.6]}');
  };
  return { store, evaluator, request, sleeps, output, validationOutput, validationDone };
}

// DescribeTransformJob's documented error for an unknown job is ResourceNotFound
// (docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeTransformJob.html#API_DescribeTransformJob_Errors);
// DescribeModel has no such error and answers ValidationException "Could not find model".
const jobNotFound = () =>
  Object.assign(new Error('Could not find requested job'), { name: 'ResourceNotFound' });
const modelNotFound = () =>
  Object.assign(new Error('Could not find model "arn:aws:sagemaker:us-east-1:123456789012:model/x".'), {
    name: 'ValidationException',
  });
const TEST_JOB = 'scones-e-0123456789abcdef0123';
const VALIDATION_JOB = 'scones-e-0123456789abcdef0123-validation';
const job = (status: DescribeTransformJobCommandOutput['TransformJobStatus'], extra: object = {}) => ({
  TransformJobName: 'scones-e-0123456789abcdef0123',
  TransformJobStatus: status,
  TransformResources: { InstanceType: 'ml.m5.xlarge' as const, InstanceCount: 1 },
  ...extra,
});

describe('SageMaker Batch Transform evaluator (mocked SageMaker, answers as the API reference documents)', () => {
  beforeEach(() => sagemaker.reset());

  it('creates a model and a transform job over each of the test and validation images as application/x-image, waits, and joins each <image>.out to its label', async () => {
    // Prepare: the job runs, then completes; batch transform writes <input name>.out for each input
    // object (docs.aws.amazon.com/sagemaker/latest/dg/batch-transform.html), holding the algorithm's JSON
    // response: the class probabilities (docs.aws.amazon.com/sagemaker/latest/dg/image-classification.html).
    const { store, evaluator, request, sleeps, output, validationOutput } = setup();
    for (const [name, minutes] of [
      [TEST_JOB, 6],
      [VALIDATION_JOB, 5],
    ] as const)
      sagemaker
        .on(DescribeTransformJobCommand, { TransformJobName: name })
        .rejectsOnce(jobNotFound())
        .resolvesOnce(job('InProgress'))
        .resolves(
          job('Completed', {
            TransformJobName: name,
            TransformStartTime: new Date('2026-11-23T10:00:00Z'),
            TransformEndTime: new Date(`2026-11-23T10:0${minutes}:00Z`),
          }),
        );
    sagemaker.on(DescribeModelCommand).rejects(modelNotFound());
    sagemaker.on(CreateModelCommand).resolves({ ModelArn: 'arn:model' });
    sagemaker.on(CreateTransformJobCommand).resolves({ TransformJobArn: 'arn:job' });
    await store.put(output('bike.png'), '{"prediction": [0.9, 0.1]}');
    await store.put(output('moto.png'), '[0.2, 0.8]');
    await store.put(output('moto2.png'), '{"prediction": [0.7, 0.3]}');
    await store.put(validationOutput('bike-v.png'), '[0.8, 0.2]');
    await store.put(validationOutput('moto-v.png'), '{"prediction": [0.4, 0.6]}');
    // Act
    const result = await evaluator.evaluate(request, captureReporter().reporter);
    // Assess
    const calls = sagemaker.commandCalls(CreateTransformJobCommand).map((call) => call.args[0].input);
    const created = calls.find((input) => input.TransformJobName === TEST_JOB)!;
    expect(created).to.deep.include({
      TransformJobName: 'scones-e-0123456789abcdef0123',
      ModelName: 'scones-e-0123456789abcdef0123',
      BatchStrategy: 'SingleRecord',
    });
    expect(created.TransformInput).to.deep.equal({
      DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: `s3://team-artifacts/${PREFIX}test/` } },
      ContentType: 'application/x-image',
      SplitType: 'None',
    });
    expect(created.TransformOutput?.Accept).to.equal('application/json');
    const validationJob = calls.find((input) => input.TransformJobName === VALIDATION_JOB)!;
    expect(validationJob.TransformInput?.DataSource?.S3DataSource?.S3Uri).to.equal(
      `s3://team-artifacts/${PREFIX}validation/`,
    );
    expect(validationJob.TransformOutput?.S3OutputPath).to.equal(
      `s3://team-artifacts/evaluations/${request.evaluationId}/transform/validation/`,
    );
    expect(result.validation).to.deep.equal([
      { path: 'bike-v.png', label: 0, probabilities: [0.8, 0.2] },
      { path: 'moto-v.png', label: 1, probabilities: [0.4, 0.6] },
    ]);
    const model = sagemaker.commandCalls(CreateModelCommand)[0]!.args[0].input;
    expect(model.PrimaryContainer?.ModelDataUrl).to.equal(request.model.modelUri);
    expect(result.predictions).to.deep.equal([
      { path: 'bike.png', label: 0, probabilities: [0.9, 0.1] },
      { path: 'moto.png', label: 1, probabilities: [0.2, 0.8] },
      { path: 'moto2.png', label: 1, probabilities: [0.7, 0.3] },
    ]);
    // Both jobs are billed from TransformStartTime to TransformEndTime (DescribeTransformJob): 6 + 5 minutes.
    expect(result.billableSeconds).to.equal(660);
    expect(sleeps).to.deep.equal([30_000, 30_000]);
  });

  // CreateTransformJob: the name "must be unique within an AWS Region in an AWS account", so a failed or
  // stopped job's name can never be reused (API reference, TransformJobName).
  it('after a failed transform job, a re-run starts the next job (-r2) for the same model, without retraining, and deletes the job model once it ends', async () => {
    const { store, evaluator, request, output, validationDone } = setup();
    await validationDone();
    sagemaker
      .on(DescribeTransformJobCommand, { TransformJobName: 'scones-e-0123456789abcdef0123' })
      .resolves(job('Failed', { FailureReason: 'InternalServerError: capacity' }));
    sagemaker
      .on(DescribeTransformJobCommand, { TransformJobName: 'scones-e-0123456789abcdef0123-r2' })
      .rejectsOnce(jobNotFound())
      .resolves(job('Completed', { TransformJobName: 'scones-e-0123456789abcdef0123-r2' }));
    sagemaker.on(DescribeModelCommand).rejects(modelNotFound());
    sagemaker.on(CreateModelCommand).resolves({ ModelArn: 'arn:model' });
    sagemaker.on(CreateTransformJobCommand).resolves({ TransformJobArn: 'arn:job' });
    sagemaker.on(DeleteModelCommand).resolves({});
    for (const image of ['bike.png', 'moto.png', 'moto2.png']) await store.put(output(image), '[0.6, 0.4]');
    const { reporter, stream } = captureReporter();
    const result = await evaluator.evaluate(request, reporter);
    expect(result.jobName).to.equal('scones-e-0123456789abcdef0123-r2');
    expect(stream.text).to.include('ended Failed (InternalServerError: capacity): trying a new job');
    const created = sagemaker.commandCalls(CreateTransformJobCommand).map((c) => c.args[0].input);
    expect(created.map((c) => [c.TransformJobName, c.ModelName])).to.deep.equal([
      ['scones-e-0123456789abcdef0123-r2', 'scones-e-0123456789abcdef0123-r2'],
    ]);
    expect(
      sagemaker.commandCalls(CreateModelCommand)[0]!.args[0].input.PrimaryContainer?.ModelDataUrl,
    ).to.equal(request.model.modelUri);
    expect(sagemaker.commandCalls(DeleteModelCommand).map((c) => c.args[0].input.ModelName)).to.deep.equal([
      'scones-e-0123456789abcdef0123-r2',
    ]);
  });

  it('reuses a completed job with the evaluation name: nothing is created', async () => {
    const { store, evaluator, request, output, validationDone } = setup();
    sagemaker.on(DescribeTransformJobCommand).resolves(job('Completed'));
    await validationDone();
    for (const [path, p] of [
      ['bike.png', '[1, 0]'],
      ['moto.png', '[0, 1]'],
      ['moto2.png', '[0, 1]'],
    ] as const)
      await store.put(output(path), p);
    const { reporter, stream } = captureReporter();
    const result = await evaluator.evaluate(request, reporter);
    expect(sagemaker.commandCalls(CreateTransformJobCommand)).to.have.length(0);
    expect(sagemaker.commandCalls(CreateModelCommand)).to.have.length(0);
    expect(result.predictions.map((p) => p.label)).to.deep.equal([0, 1, 1]);
    expect(stream.text).to.include('already completed: reusing its output');
  });

  it("fails the stage with SageMaker's FailureReason when the job fails", async () => {
    const { evaluator, request, validationDone } = setup();
    await validationDone();
    sagemaker
      .on(DescribeTransformJobCommand, { TransformJobName: TEST_JOB })
      .rejectsOnce(jobNotFound())
      .resolves(job('Failed', { FailureReason: 'ClientError: unsupported content type' }));
    sagemaker.on(DescribeModelCommand).resolves({ ModelName: 'scones-e-0123456789abcdef0123' });
    sagemaker.on(CreateTransformJobCommand).resolves({ TransformJobArn: 'arn:job' });
    const error = await rejection(evaluator.evaluate(request, captureReporter().reporter));
    expect(error).to.be.instanceOf(StageFailedError);
    expect(error.message).to.match(
      /transform job scones-e-\w+ failed: ClientError: unsupported content type/,
    );
    expect(sagemaker.commandCalls(CreateModelCommand)).to.have.length(0);
  });

  // CreateTransformJob API reference, Errors: ResourceLimitExceeded when the type's quota is used up or 0.
  it('ResourceLimitExceeded on CreateTransformJob fails the stage naming the instance type, the quota to request and a cheaper valid type', async () => {
    const documented = (loadModel('sagemaker') as unknown as { errors: Record<string, string[]> }).errors;
    expect(documented.CreateTransformJob).to.include('ResourceLimitExceeded');
    const { evaluator, request } = setup({ 'evaluate.transformInstanceType': 'ml.c5.xlarge' });
    sagemaker.on(DescribeTransformJobCommand).rejects(jobNotFound());
    sagemaker.on(DescribeModelCommand).resolves({ ModelName: 'scones-e-0123456789abcdef0123' });
    sagemaker
      .on(CreateTransformJobCommand)
      .rejects(
        Object.assign(
          new Error(
            "The account-level service limit 'ml.c5.xlarge for transform job usage' is 0 Instances, with current utilization of 0 Instances and a request delta of 1 Instances. Please use AWS Service Quotas to request an increase for this quota.",
          ),
          { name: 'ResourceLimitExceeded' },
        ),
      );
    const error = await rejection(evaluator.evaluate(request, captureReporter().reporter));
    expect(error).to.be.instanceOf(StageFailedError);
    expect(error.message)
      .to.include('Request the quota "ml.c5.xlarge for transform job usage"')
      .and.include('cheaper valid type such as ml.m5.large');
  });

  it('fails naming the image when the job wrote no output for it', async () => {
    const { store, evaluator, request, output, validationDone } = setup();
    sagemaker.on(DescribeTransformJobCommand).resolves(job('Completed'));
    await validationDone();
    await store.put(output('bike.png'), '[1, 0]');
    await store.put(output('moto.png'), '[0, 1]');
    const error = await rejection(evaluator.evaluate(request, captureReporter().reporter));
    expect(error.message).to.match(/wrote no output for moto2\.png/);
  });

  it('reads both documented output forms and refuses anything else', () => {
    expect(parseTransformOutput('[0.25, 0.75]', 'x')).to.deep.equal([0.25, 0.75]);
    expect(parseTransformOutput('{"prediction":[0.25,0.75]}', 'x')).to.deep.equal([0.25, 0.75]);
    expect(() => parseTransformOutput('{"label": 1}', 'out')).to.throw(
      /out is not an array of class probabilities/,
    );
    expect(() => parseTransformOutput('nope', 'out')).to.throw(/out is not valid JSON/);
  });

  it('names jobs within SageMaker rules', () => {
    expect(jobName('e-0123456789abcdef0123', 1, TRANSFORM_NAME_BASE)).to.match(JOB_NAME_PATTERN);
  });
});
