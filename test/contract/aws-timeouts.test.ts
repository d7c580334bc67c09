import { createServer, type Server, type Socket } from 'node:net';
import { DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { expect } from 'chai';
import {
  AWS_CLIENT_LIMITS,
  createCloudFormationClient,
  worstCaseCallMs,
} from '../../pipeline/backends/aws/client-config.js';
import { createAwsClients } from '../../pipeline/backends/aws/index.js';
import { SconesError } from '../../pipeline/errors.js';
import { testConfig } from '../helpers/workspace.js';

const credentials = async () => ({ accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' });
// Retries at once: the test measures the attempts, not the SDK's backoff.
const fast = { connectionTimeoutMs: 500, requestTimeoutMs: 300, maxAttempts: 2, retryDelayMs: 0 };

describe('aws clients: timeouts and bounded retries against an endpoint that accepts and never answers', () => {
  let server: Server;
  let endpoint: string;
  const sockets: Socket[] = [];
  let connections = 0;
  let savedEndpoint: string | undefined;
  before(async () => {
    // Accepts the TCP connection, reads the request, never writes a byte back.
    server = createServer((socket) => {
      connections++;
      sockets.push(socket);
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    endpoint = `http://127.0.0.1:${address.port}`;
    // The SDK's documented variable for a custom endpoint ("Service-specific endpoints", AWS SDKs and Tools
    // Reference Guide); read when a client is created.
    savedEndpoint = process.env.AWS_ENDPOINT_URL;
    process.env.AWS_ENDPOINT_URL = endpoint;
  });
  beforeEach(() => {
    connections = 0;
  });
  after(async () => {
    if (savedEndpoint === undefined) delete process.env.AWS_ENDPOINT_URL;
    else process.env.AWS_ENDPOINT_URL = savedEndpoint;
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('the default limits bound one call under a minute, retries included', () => {
    expect(worstCaseCallMs()).to.be.below(60_000);
    expect(AWS_CLIENT_LIMITS.maxAttempts).to.be.within(2, 5);
  });

  it('timeout: CloudFormation DescribeStacks fails after the bounded attempts with an error naming the service', async () => {
    const cfn = createCloudFormationClient('us-east-1', credentials, fast);
    const started = Date.now();
    const failure = await cfn
      .send(new DescribeStacksCommand({ StackName: 'scones-workflow' }))
      .catch((e: unknown) => e);
    const elapsed = Date.now() - started;
    expect(failure).to.be.instanceOf(SconesError);
    expect((failure as Error).message).to.match(
      /^CloudFormation DescribeStacks did not answer in 2 attempts/,
    );
    expect(connections).to.equal(2);
    expect(elapsed).to.be.below(10_000);
    cfn.destroy();
  });

  it('timeout: S3 HeadObject through the backend clients names S3', async () => {
    const config = testConfig({ backend: 'aws', bucket: 'team-artifacts' });
    const clients = createAwsClients(
      config,
      { AWS_ENDPOINT_URL_S3: endpoint },
      { limits: fast, credentials },
    );
    const failure = await clients.s3
      .send(new HeadObjectCommand({ Bucket: 'team-artifacts', Key: 'runs/r/manifest.json' }))
      .catch((e: unknown) => e);
    expect((failure as Error).message).to.match(/^S3 HeadObject did not answer in 2 attempts/);
    expect(connections).to.equal(2);
    for (const client of [clients.s3, clients.sfn, clients.sagemaker, clients.cloudformation])
      client.destroy();
  });
});
