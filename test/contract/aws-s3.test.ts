import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SageMakerClient } from '@aws-sdk/client-sagemaker';
import { SFNClient } from '@aws-sdk/client-sfn';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { expect } from 'chai';
import { openAwsBackend } from '../../pipeline/backends/aws/index.js';
import { newManifest } from '../../pipeline/manifest.js';
import { stageData } from '../../pipeline/stages/stage-data.js';
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
      sfn: new SFNClient({ region: 'us-east-1' }),
    };
    return { config, backend: openAwsBackend(config, clients) };
  }

  it('uploads every image and both lists, then dataset.json last, to the artifact bucket', async () => {
    // Prepare
    s3.on(HeadObjectCommand).rejects(
      Object.assign(new Error('NotFound'), { name: 'NotFound', $metadata: { httpStatusCode: 404 } }),
    );
    s3.on(ListObjectsV2Command).resolves({ Contents: [], IsTruncated: false });
    s3.on(PutObjectCommand).resolves({});
    const { config, backend: aws } = backend();
    const { reporter } = captureReporter();
    // Act
    const result = await stageData({
      config,
      backend: aws,
      reporter,
      runId: 'r1',
      manifest: newManifest('r1', 'aws', 'x'),
    });
    // Assess
    const puts = s3.commandCalls(PutObjectCommand).map((call) => call.args[0].input);
    expect(puts.every((p) => p.Bucket === 'team-artifacts')).to.equal(true);
    const prefix = `datasets/${result.outputs.digest}/`;
    expect(
      puts.filter((p) => p.Key?.startsWith(`${prefix}train/`) && p.ContentType === 'image/png'),
    ).to.have.length(6);
    expect(puts.filter((p) => p.Key?.startsWith(`${prefix}test/`))).to.have.length(4);
    expect(puts.map((p) => p.Key)).to.include.members([`${prefix}train.lst`, `${prefix}test.lst`]);
    expect(puts.at(-1)?.Key).to.equal(`${prefix}dataset.json`);
    expect(result.outputs.uri).to.equal(`s3://team-artifacts/${prefix}`);
  });

  it('uploads nothing when dataset.json already exists', async () => {
    const { config, backend: aws } = backend();
    const { reporter } = captureReporter();
    s3.on(HeadObjectCommand).rejects(
      Object.assign(new Error('NotFound'), { name: 'NotFound', $metadata: { httpStatusCode: 404 } }),
    );
    s3.on(ListObjectsV2Command).resolves({ Contents: [] });
    s3.on(PutObjectCommand).resolves({});
    const first = await stageData({
      config,
      backend: aws,
      reporter,
      runId: 'r1',
      manifest: newManifest('r1', 'aws', 'x'),
    });
    const record = s3.commandCalls(PutObjectCommand).at(-1)!.args[0].input.Body as string;
    s3.reset();
    s3.on(HeadObjectCommand).resolves({ ContentLength: record.length });
    s3.on(PutObjectCommand).rejects(new Error('must not upload'));
    const { GetObjectCommand } = await import('@aws-sdk/client-s3');
    s3.on(GetObjectCommand).resolves({
      Body: { transformToByteArray: async () => Buffer.from(record) } as never,
    });
    const second = await stageData({
      config,
      backend: aws,
      reporter,
      runId: 'r2',
      manifest: newManifest('r2', 'aws', 'x'),
    });
    expect(second.reused).to.equal(true);
    expect(second.outputs.digest).to.equal(first.outputs.digest);
    expect(s3.commandCalls(PutObjectCommand)).to.have.length(0);
  });
});
