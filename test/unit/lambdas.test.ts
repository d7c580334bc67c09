import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { sdkStreamMixin } from '@smithy/util-stream';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { expect } from 'chai';
import { handler as classify } from '../../lambdas/classify-image/index.js';
import { handler as filter } from '../../lambdas/filter-inferences/index.js';
import { handler as serialize } from '../../lambdas/serialize-image-data/index.js';
import { unwrapEvent } from '../../lambdas/shared/events.js';
import { inferenceIdFor } from '../../pipeline/contracts/inference-id.js';
import { LOW_CONFIDENCE_METRIC } from '../../pipeline/contracts/lambda.js';
import { SERIALIZE_IMAGE_LIMIT } from '../../pipeline/contracts/limits.js';
import { rejection } from '../helpers/assertions.js';
import { jpegBytes, pngBytes } from '../helpers/fixtures.js';

const REFERENCE = join(import.meta.dirname, '..', '..', '..', 'shared', 'data', 'reference');
const context = { awsRequestId: 'test-request' };
const png = pngBytes(4, 4, 1);
const body = (bytes: Uint8Array) => ({
  Body: sdkStreamMixin(Readable.from([Buffer.from(bytes)])),
  ContentLength: bytes.length,
});

/** Captures stdout (the handlers' structured logs) while running fn. */
async function withLogs<T>(fn: () => Promise<T>): Promise<{ value: T | Error; logs: string }> {
  const original = process.stdout.write.bind(process.stdout);
  let logs = '';
  process.stdout.write = ((chunk: string) => {
    logs += chunk;
    return true;
  }) as typeof process.stdout.write;
  try {
    return { value: await fn().catch((e: Error) => e), logs };
  } finally {
    process.stdout.write = original;
  }
}

describe('Lambda handlers', () => {
  let s3: AwsClientStub<S3Client>;
  let runtime: AwsClientStub<SageMakerRuntimeClient>;
  before(() => {
    s3 = mockClient(S3Client);
    runtime = mockClient(SageMakerRuntimeClient);
  });
  beforeEach(() => {
    s3.reset();
    runtime.reset();
    process.env.ENDPOINT_NAME = 'scones-endpoint';
    delete process.env.THRESHOLD;
  });
  after(() => {
    s3.restore();
    runtime.restore();
    delete process.env.ENDPOINT_NAME;
    delete process.env.THRESHOLD;
  });

  describe('serialize-image-data', () => {
    it('returns the reference envelope with the image base64-encoded, ignoring other keys', async () => {
      s3.on(GetObjectCommand, { Bucket: 'b', Key: 'test/bike.png' }).resolves(body(png) as never);
      const { value, logs } = await withLogs(() =>
        serialize({ s3_bucket: 'b', s3_key: 'test/bike.png', extra: 1 }, context),
      );
      expect(value).to.deep.equal({
        statusCode: 200,
        body: { image_data: png.toString('base64'), s3_bucket: 'b', s3_key: 'test/bike.png', inferences: [] },
      });
      const line = JSON.parse(logs.trim());
      expect(line).to.include({ level: 'info', requestId: 'test-request', bytes: png.length });
      expect(logs).to.not.include(png.toString('base64').slice(0, 40));
    });

    it('accepts the body-wrapped input of reference state machines', async () => {
      s3.on(GetObjectCommand).resolves(body(png) as never);
      const result = await withLogs(() =>
        serialize({ body: { s3_bucket: 'b', s3_key: 'k.png', image_data: '', inferences: [] } }, context),
      );
      expect((result.value as { body: { s3_key: string } }).body.s3_key).to.equal('k.png');
    });

    const bad: [string, unknown, RegExp][] = [
      ['a missing key', { s3_bucket: 'b' }, /invalid event: s3_key: /],
      ['a wrong type', { s3_bucket: 'b', s3_key: 7 }, /s3_key: Invalid input: expected string/],
      ['a non-object', 'just a string', /the event must be an object, not string/],
    ];
    for (const [name, event, message] of bad) {
      it(`rejects ${name} with InvalidEvent naming the field`, async () => {
        const error = await rejection(serialize(event, context));
        expect(error.name).to.equal('InvalidEvent');
        expect(error.message).to.match(message);
      });
    }

    it('reports an object that does not exist, one too large, and one that is not an image', async () => {
      s3.on(GetObjectCommand, { Key: 'missing.png' }).rejects(
        Object.assign(new Error('The specified key does not exist.'), { name: 'NoSuchKey' }),
      );
      s3.on(GetObjectCommand, { Key: 'huge.png' }).resolves({
        ...body(png),
        ContentLength: SERIALIZE_IMAGE_LIMIT + 1,
      } as never);
      s3.on(GetObjectCommand, { Key: 'notes.txt' }).resolves(body(Buffer.from('hello')) as never);
      const missing = await rejection(
        withLogs(() => serialize({ s3_bucket: 'b', s3_key: 'missing.png' }, context)).then((r) => {
          throw r.value;
        }),
      );
      expect(missing.name).to.equal('ImageNotFound');
      expect(missing.message).to.match(/s3:\/\/b\/missing\.png does not exist/);
      const huge = await rejection(serialize({ s3_bucket: 'b', s3_key: 'huge.png' }, context));
      expect(huge.name).to.equal('PayloadTooLarge');
      const text = await rejection(serialize({ s3_bucket: 'b', s3_key: 'notes.txt' }, context));
      expect(text.message).to.match(/is not a PNG or JPEG image/);
    });
  });

  describe('classify-image', () => {
    const input = {
      image_data: png.toString('base64'),
      s3_bucket: 'b',
      s3_key: 'datasets/d/test/bike.png',
      inferences: [],
    };

    for (const [shape, event] of [
      ['bare', input],
      ['wrapped in body', { body: input }],
      ['body as a JSON string', { body: JSON.stringify(input) }],
      ['a lambda:invoke result ($.Payload)', { Payload: { statusCode: 200, body: input }, StatusCode: 200 }],
    ] as const) {
      it(`classifies an event ${shape}, sending PNG bytes with the inference id`, async () => {
        runtime
          .on(InvokeEndpointCommand)
          .resolves({ Body: new TextEncoder().encode('[0.25, 0.75]') as never });
        const { value } = await withLogs(() => classify(event, context));
        expect((value as { body: { inferences: number[] } }).body.inferences).to.deep.equal([0.25, 0.75]);
        const sent = runtime.commandCalls(InvokeEndpointCommand)[0]!.args[0].input;
        expect(sent).to.include({
          EndpointName: 'scones-endpoint',
          ContentType: 'image/png',
          InferenceId: 'datasets/d/test/bike.png',
        });
        expect(Buffer.from(sent.Body as Uint8Array).equals(png)).to.equal(true);
      });
    }

    it('sniffs JPEG', async () => {
      runtime.on(InvokeEndpointCommand).resolves({ Body: new TextEncoder().encode('[0.9, 0.1]') as never });
      await withLogs(() =>
        classify({ ...input, image_data: jpegBytes(8, 8, 1).toString('base64') }, context),
      );
      expect(runtime.commandCalls(InvokeEndpointCommand)[0]!.args[0].input.ContentType).to.equal(
        'image/jpeg',
      );
    });

    it('rejects non-image data, bad base64, a missing endpoint name and a bad endpoint answer', async () => {
      expect(
        (
          await rejection(
            classify({ ...input, image_data: Buffer.from('hello').toString('base64') }, context),
          )
        ).message,
      ).to.match(/image_data: is not a PNG or JPEG/);
      expect((await rejection(classify({ ...input, image_data: '***' }, context))).message).to.match(
        /image_data: must be base64/,
      );
      expect((await rejection(classify({ s3_key: 'x' }, context))).message).to.match(/image_data: /);
      runtime.on(InvokeEndpointCommand).resolves({ Body: new TextEncoder().encode('{"oops":1}') as never });
      const answer = await rejection(classify(input, context));
      expect(answer.name).to.equal('EndpointError');
      delete process.env.ENDPOINT_NAME;
      expect((await rejection(classify(input, context))).message).to.equal(
        'environment variable ENDPOINT_NAME is required',
      );
    });
  });

  describe('filter-inferences', () => {
    it('passes the event through at or above the threshold', async () => {
      const { value } = await withLogs(() =>
        filter({ body: { inferences: [0.05, 0.95], s3_key: 'k' } }, context),
      );
      expect(value).to.deep.equal({ statusCode: 200, body: { inferences: [0.05, 0.95], s3_key: 'k' } });
      process.env.THRESHOLD = '0.95';
      const exact = await withLogs(() => filter({ inferences: [0.05, 0.95] }, context));
      expect((exact.value as { statusCode: number }).statusCode).to.equal(200);
    });

    it('throws ThresholdConfidenceNotMet below it, with the confidence and the threshold', async () => {
      const { value } = await withLogs(() => filter({ inferences: [0.4, 0.6] }, context));
      expect((value as Error).name).to.equal('ThresholdConfidenceNotMet');
      expect((value as Error).message).to.equal(
        'THRESHOLD_CONFIDENCE_NOT_MET: top confidence 0.6 is below the threshold 0.93',
      );
    });

    it('logs each decision as a LowConfidence datum in CloudWatch embedded metric format (1 filtered, 0 passed)', async () => {
      process.env.AWS_LAMBDA_FUNCTION_NAME = 'scones-workflow-filter-inferences';
      try {
        const passed = await withLogs(() => filter({ inferences: [0.02, 0.98] }, context));
        const low = await withLogs(() => filter({ inferences: [0.4, 0.6] }, context));
        const datum = (logs: string) => {
          const line = JSON.parse(logs.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
          // The EMF specification's rules: Timestamp in ms; each directive's Namespace, its dimension sets
          // naming string members of the same line, and its metrics naming numeric members.
          const aws = line._aws as {
            Timestamp: number;
            CloudWatchMetrics: {
              Namespace: string;
              Dimensions: string[][];
              Metrics: { Name: string; Unit: string }[];
            }[];
          };
          expect(aws.Timestamp).to.be.a('number').and.be.closeTo(Date.now(), 60_000);
          for (const directive of aws.CloudWatchMetrics) {
            expect(directive.Namespace).to.equal(LOW_CONFIDENCE_METRIC.namespace);
            for (const set of directive.Dimensions)
              for (const name of set) expect(line[name]).to.be.a('string');
            for (const metric of directive.Metrics) expect(line[metric.Name]).to.be.a('number');
          }
          return line;
        };
        expect(datum(passed.logs)).to.include({
          LowConfidence: 0,
          FunctionName: 'scones-workflow-filter-inferences',
        });
        expect(datum(low.logs)).to.include({ LowConfidence: 1 });
      } finally {
        delete process.env.AWS_LAMBDA_FUNCTION_NAME;
      }
    });

    it('rejects empty or non-numeric inferences and a bad THRESHOLD', async () => {
      expect((await rejection(filter({ inferences: [] }, context))).message).to.match(
        /inferences: must hold at least one/,
      );
      expect((await rejection(filter({ inferences: ['0.9'] }, context))).name).to.equal('InvalidEvent');
      process.env.THRESHOLD = 'high';
      expect((await rejection(filter({ inferences: [0.9] }, context))).message).to.match(
        /THRESHOLD must be a number/,
      );
    });
  });

  it('runs on the reference workflow events where present', async function () {
    const folder = join(
      REFERENCE,
      'AmadouBari+Project--Build-a-ML-Workflow-For-Scones-Unlimited-On-Amazon-SageMaker',
    );
    if (!existsSync(folder)) this.skip(); // shared/data/reference is absent here
    const event = (name: string) => JSON.parse(readFileSync(join(folder, name), 'utf8')) as unknown;
    s3.on(GetObjectCommand).resolves(body(png) as never);
    const serialized = await withLogs(() => serialize(event('test_lambda1.json'), context));
    expect((serialized.value as { body: { s3_key: string } }).body.s3_key).to.equal(
      'test/bicycle_s_001789.png',
    );
    runtime.on(InvokeEndpointCommand).resolves({ Body: new TextEncoder().encode('[0.99, 0.01]') as never });
    const classified = await withLogs(() => classify(event('test_lambda2.json'), context));
    expect((classified.value as { body: { inferences: number[] } }).body.inferences).to.deep.equal([
      0.99, 0.01,
    ]);
    const passed = await withLogs(() => filter(event('test_lambda3.json'), context));
    expect((passed.value as { statusCode: number }).statusCode).to.equal(200);
    const low = await withLogs(() => filter(event('test_low_confidence.json'), context));
    expect((low.value as Error).name).to.equal('ThresholdConfidenceNotMet');
    // This exported event's image was truncated by the console ("... [TRUNCATED]"): a clear error, not a crash.
    const truncated = await withLogs(() => classify(event('lambda_2_test_input.json'), context));
    expect((truncated.value as Error).message).to.match(/image_data: must be base64/);
  });

  it('derives inference ids within SageMaker limits', () => {
    expect(inferenceIdFor('datasets/d/test/a.png')).to.equal('datasets/d/test/a.png');
    const long = inferenceIdFor(`datasets/${'x'.repeat(80)}.png`);
    expect(long).to.match(/^sha256:[0-9a-f]{57}$/);
    expect(long.length).to.equal(64);
    expect(unwrapEvent({ body: { a: 1 } })).to.deep.equal({ a: 1 });
  });
});
