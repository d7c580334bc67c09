import { Readable } from 'node:stream';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SageMakerClient } from '@aws-sdk/client-sagemaker';
import { SFNClient } from '@aws-sdk/client-sfn';
import { sdkStreamMixin } from '@smithy/util-stream';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { expect } from 'chai';
import { openAwsBackend } from '../../pipeline/backends/aws/index.js';
import { readDataset } from '../../pipeline/data/sources.js';
import { newManifest } from '../../pipeline/manifest.js';
import { stageData } from '../../pipeline/stages/stage-data.js';
import { fakeBucket } from '../helpers/fake-bucket.js';
import { captureReporter, testConfig } from '../helpers/workspace.js';

describe('aws backend: stage-data requests (aws-sdk-client-mock)', () => {
  // Created in before(), not at load: a mock made while mocha collects tests would mock every S3Client.
  let s3: AwsClientStub<S3Client>;
  before(() => {
    s3 = mockClient(S3Client);
  });
  beforeEach(() => s3.reset());
  after(() => s3.restore());

  function backend() {
    const config = testConfig({
      backend: 'aws',
      bucket: 'team-artifacts',
      'data.source': 'synthetic',
      'data.synthetic.trainPerClass': 3,
      'data.synthetic.testPerClass': 2,
      'data.synthetic.imageSize': 8,
    });
    const clients = {
      s3: new S3Client({ region: 'us-east-1' }),
      sagemaker: new SageMakerClient({ region: 'us-east-1' }),
      cloudformation: new CloudFormationClient({ region: 'us-east-1' }),
      cloudwatch: new CloudWatchClient({ region: 'us-east-1' }),
      sfn: new SFNClient({ region: 'us-east-1' }),
    };
    return { config, backend: openAwsBackend(config, clients) };
  }

  it('uploads every image and the three lists, reads each list back, then writes dataset.json last', async () => {
    // Prepare: a bucket that keeps what is put and answers GetObject with it (GetObject API reference).
    const bucket = fakeBucket(s3, { canList: true });
    const { config, backend: aws } = backend();
    const { reporter } = captureReporter();
    // Act
    const result = await stageData(
      {
        config,
        backend: aws,
        reporter,
        runId: 'r1',
        manifest: newManifest('r1', 'aws', 'x'),
      },
      readDataset,
    );
    // Assess
    const puts = s3.commandCalls(PutObjectCommand).map((call) => call.args[0].input);
    expect(puts.every((p) => p.Bucket === 'team-artifacts')).to.equal(true);
    const prefix = `datasets/${result.outputs.digest}/`;
    const lists = ['train.lst', 'validation.lst', 'test.lst'].map((name) => `${prefix}${name}`);
    expect(
      puts.filter((p) => p.Key?.startsWith(`${prefix}train/`) && p.ContentType === 'image/png'),
    ).to.have.length(result.outputs.totals.train);
    expect(puts.filter((p) => p.Key?.startsWith(`${prefix}test/`))).to.have.length(4);
    expect(puts.map((p) => p.Key)).to.include.members(lists);
    expect(puts.at(-1)?.Key).to.equal(`${prefix}dataset.json`);
    const reads = s3.commandCalls(GetObjectCommand).map((call) => call.args[0].input.Key);
    expect(reads, 'each list is read back before dataset.json').to.include.members(lists);
    for (const list of lists) expect(bucket.objects.get(list)?.body.toString('utf8')).to.match(/\t/);
    expect(result.outputs.uri).to.equal(`s3://team-artifacts/${prefix}`);
  });

  it('uploads nothing when dataset.json already exists', async () => {
    // Prepare: a first run stages the dataset into the bucket.
    fakeBucket(s3, { canList: true });
    const { config, backend: aws } = backend();
    const { reporter } = captureReporter();
    const first = await stageData(
      {
        config,
        backend: aws,
        reporter,
        runId: 'r1',
        manifest: newManifest('r1', 'aws', 'x'),
      },
      readDataset,
    );
    const putsBefore = s3.commandCalls(PutObjectCommand).length;
    // Act
    const second = await stageData(
      {
        config,
        backend: aws,
        reporter,
        runId: 'r2',
        manifest: newManifest('r2', 'aws', 'x'),
      },
      readDataset,
    );
    // Assess
    expect(second.reused).to.equal(true);
    expect(second.outputs.digest).to.equal(first.outputs.digest);
    expect(s3.commandCalls(PutObjectCommand)).to.have.length(putsBefore);
  });

  it('refuses to mark the dataset staged when a list does not read back as written', async () => {
    // Prepare: a bucket whose GetObject of a list returns other bytes than were put.
    const bucket = fakeBucket(s3, { canList: true });
    s3.on(GetObjectCommand).callsFake(async (input: { Key: string }) => {
      const object = bucket.objects.get(input.Key);
      const body = object === undefined ? Buffer.alloc(0) : object.body.subarray(0, -3);
      return { Body: sdkStreamMixin(Readable.from([body])), ContentLength: body.length };
    });
    const { config, backend: aws } = backend();
    // Act
    const failure = await stageData(
      {
        config,
        backend: aws,
        reporter: captureReporter().reporter,
        runId: 'r1',
        manifest: newManifest('r1', 'aws', 'x'),
      },
      readDataset,
    ).catch((error: unknown) => error);
    // Assess
    expect((failure as Error).message).to.match(/train\.lst did not read back as written: stage again/);
    expect([...bucket.objects.keys()].some((k) => k.endsWith('dataset.json'))).to.equal(false);
  });
});
