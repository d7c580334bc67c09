import {
  CloudFormationClient,
  CreateChangeSetCommand,
  DeleteChangeSetCommand,
  DescribeChangeSetCommand,
  DescribeStacksCommand,
  ExecuteChangeSetCommand,
  type StackStatus,
} from '@aws-sdk/client-cloudformation';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { HeadObjectCommand, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { SageMakerClient } from '@aws-sdk/client-sagemaker';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { expect } from 'chai';
import { CloudFormationDeployer } from '../../pipeline/backends/aws/cloudformation-deployer.js';
import { WORKFLOW_STACK_NAME_MAX } from '../../pipeline/backends/aws/config-checks.js';
import { maxWorkflowStackNameLength } from '../../pipeline/backends/aws/stacks.js';
import { S3ObjectStore } from '../../pipeline/backends/s3-object-store.js';
import { ConfigError, StageFailedError } from '../../pipeline/errors.js';
import type { DeployRequest } from '../../pipeline/ports.js';
import { fakeBundles } from '../helpers/fake-bundles.js';
import { describedWorkflowStack } from '../helpers/workflow-stack.js';
import { captureReporter, testConfig } from '../helpers/workspace.js';

const STACK = 'scones-workflow';

const request = (runId: string, preview = false): DeployRequest => ({
  runId,
  preview,
  model: {
    trainingId: 't-abc',
    modelUri: 's3://team-artifacts/models/t-abc/job/output/model.tar.gz',
    validationAccuracy: 0.87,
  },
  imageSide: 32,
  threshold: 0.93,
});

/** DescribeStacks for a stack in `status` (StackStatus values: CloudFormation API reference, "Stack"). */
const stackIn = (status: StackStatus) => ({
  Stacks: [describedWorkflowStack(status, {}, STACK)],
});

/**
 * HeadObject API reference (S3): "If you don't have the s3:ListBucket permission, Amazon S3 returns an HTTP
 * status code 403 Forbidden error" for a key that does not exist. A HEAD answer has no body, so the SDK
 * names the error after the status.
 */
const forbiddenHead = () =>
  new S3ServiceException({
    name: 'Forbidden',
    $fault: 'client',
    $metadata: { httpStatusCode: 403 },
    message: 'Forbidden',
  });

describe('aws first contact: the deployer against CloudFormation and S3 as documented', () => {
  let cfn: AwsClientStub<CloudFormationClient>;
  let s3: AwsClientStub<S3Client>;
  before(() => {
    cfn = mockClient(CloudFormationClient);
    s3 = mockClient(S3Client);
  });
  beforeEach(() => {
    cfn.reset();
    s3.reset();
    s3.on(PutObjectCommand).resolves({});
  });
  after(() => {
    cfn.restore();
    s3.restore();
  });

  function deployer(overrides: Record<string, unknown> = {}) {
    const config = testConfig({
      backend: 'aws',
      bucket: 'team-artifacts',
      'train.sagemaker.roleArn': 'arn:aws:iam::123456789012:role/sm',
      ...overrides,
    });
    return new CloudFormationDeployer({
      client: new CloudFormationClient({ region: 'us-east-1' }),
      sagemaker: new SageMakerClient({ region: 'us-east-1' }),
      cloudwatch: new CloudWatchClient({ region: 'us-east-1' }),
      store: new S3ObjectStore(new S3Client({ region: 'us-east-1' }), 'team-artifacts'),
      config,
      sleep: async () => {},
      bundle: async () => fakeBundles(),
    });
  }

  const readyChangeSet = {
    Status: 'CREATE_COMPLETE' as const,
    Changes: [
      {
        Type: 'Resource' as const,
        ResourceChange: {
          Action: 'Add' as const,
          LogicalResourceId: 'Endpoint',
          ResourceType: 'AWS::SageMaker::Endpoint',
        },
      },
    ],
  };

  it('HeadObject without ListBucket answers 403: a preview reads the code keys as missing, uploads nothing, executes nothing', async () => {
    s3.on(HeadObjectCommand).rejects(forbiddenHead());
    cfn.on(DescribeStacksCommand).resolves(stackIn('UPDATE_COMPLETE'));
    cfn.on(CreateChangeSetCommand).resolves({});
    cfn.on(DescribeChangeSetCommand).resolves(readyChangeSet);
    cfn.on(DeleteChangeSetCommand).resolves({});
    const { reporter, stream } = captureReporter();
    const record = await deployer().deploy(request('pr-12', true), reporter);
    expect(record.preview).to.equal(true);
    expect(s3.commandCalls(PutObjectCommand)).to.have.length(0);
    expect(cfn.commandCalls(ExecuteChangeSetCommand)).to.have.length(0);
    expect(stream.text).to.include('a deploy would upload 4 code objects');
  });

  it('REVIEW_IN_PROGRESS (a CREATE change set never executed): the next deploy sends CREATE, not UPDATE', async () => {
    // CloudFormation User Guide, "Stack status codes": REVIEW_IN_PROGRESS "Ongoing creation of one or more
    // stacks with an expected StackId but without any templates or resources"; an UPDATE change set is refused.
    s3.on(HeadObjectCommand).resolves({ ContentLength: 1 });
    cfn
      .on(DescribeStacksCommand)
      .resolvesOnce(stackIn('REVIEW_IN_PROGRESS'))
      .resolves(stackIn('CREATE_COMPLETE'));
    cfn.on(CreateChangeSetCommand).resolves({});
    cfn.on(DescribeChangeSetCommand).resolves(readyChangeSet);
    cfn.on(ExecuteChangeSetCommand).resolves({});
    await deployer().deploy(request('run-1'), captureReporter().reporter);
    expect(cfn.commandCalls(CreateChangeSetCommand)[0]!.args[0].input.ChangeSetType).to.equal('CREATE');
  });

  for (const [status, advice] of [
    ['UPDATE_ROLLBACK_FAILED', 'continue-update-rollback'],
    ['DELETE_FAILED', 'scones teardown'],
  ] as const)
    it(`${status}: no change set is possible; fails naming the state and the way out, changes nothing`, async () => {
      s3.on(HeadObjectCommand).resolves({ ContentLength: 1 });
      cfn.on(DescribeStacksCommand).resolves(stackIn(status));
      const failure = await deployer()
        .deploy(request('run-1'), captureReporter().reporter)
        .catch((e: unknown) => e);
      expect(failure).to.be.instanceOf(StageFailedError);
      expect((failure as Error).message)
        .to.include(status)
        .and.include(advice);
      expect(cfn.commandCalls(CreateChangeSetCommand)).to.have.length(0);
    });

  it('a deploy with unchanged inputs sends the same change set whatever the run id (stack tags propagate to every resource)', async () => {
    // CloudFormation User Guide, "Stack tags": tags applied to the stack are propagated to its resources, so a
    // per-run tag would update them all and no change set would ever be empty.
    s3.on(HeadObjectCommand).resolves({ ContentLength: 1 });
    cfn.on(DescribeStacksCommand).resolves(stackIn('UPDATE_COMPLETE'));
    cfn.on(CreateChangeSetCommand).resolves({});
    cfn.on(DescribeChangeSetCommand).resolves({
      Status: 'FAILED',
      StatusReason:
        "The submitted information didn't contain changes. Submit different information to create a change set.",
    });
    cfn.on(DeleteChangeSetCommand).resolves({});
    const first = await deployer().deploy(request('run-1'), captureReporter().reporter);
    const second = await deployer().deploy(request('run-2'), captureReporter().reporter);
    const [a, b] = cfn.commandCalls(CreateChangeSetCommand).map((c) => c.args[0].input);
    expect(a!.Tags).to.deep.equal(b!.Tags);
    expect(a!.Parameters).to.deep.equal(b!.Parameters);
    expect(a!.Description).to.include('run-1');
    expect([first.reused, second.reused]).to.deep.equal([true, true]);
  });

  it('requires replacement: another endpoint instance type alone gives the EndpointConfig a new name digest, the Model keeps its own', async () => {
    s3.on(HeadObjectCommand).resolves({ ContentLength: 1 });
    cfn.on(DescribeStacksCommand).resolves(stackIn('UPDATE_COMPLETE'));
    cfn.on(CreateChangeSetCommand).resolves({});
    cfn.on(DescribeChangeSetCommand).resolves(readyChangeSet);
    cfn.on(ExecuteChangeSetCommand).resolves({});
    await deployer({ 'deploy.endpointInstanceType': 'ml.m5.xlarge' }).deploy(
      request('run-1'),
      captureReporter().reporter,
    );
    await deployer({ 'deploy.endpointInstanceType': 'ml.c5.large' }).deploy(
      request('run-1'),
      captureReporter().reporter,
    );
    const [a, b] = cfn
      .commandCalls(CreateChangeSetCommand)
      .map((c) =>
        Object.fromEntries(c.args[0].input.Parameters!.map((p) => [p.ParameterKey, p.ParameterValue])),
      );
    expect(a!.EndpointConfigNameDigest)
      .to.match(/^[a-f0-9]{16}$/)
      .and.not.equal(b!.EndpointConfigNameDigest);
    expect(a!.ModelNameDigest).to.equal(b!.ModelNameDigest);
  });

  // CloudFormation names an unnamed role <stack>-<logical id>-<suffix> within IAM's 64 characters (Template
  // Reference, "Name type"), and SageMaker's ARNs are lower case: either would break the deploy role's
  // `<stack>-*` patterns, so the configuration refuses such names when it loads.
  it('a stack name too long for the generated role names, or with upper case, is refused when the configuration loads', () => {
    const { max, limitedBy } = maxWorkflowStackNameLength();
    expect(limitedBy).to.include('StateMachineRole');
    expect(max).to.equal(64 - '-StateMachineRole-'.length - 13);
    expect(WORKFLOW_STACK_NAME_MAX.max).to.equal(max);
    expect(() => testConfig({ 'deploy.stackName': `s${'x'.repeat(max)}` })).to.throw(
      ConfigError,
      `at most ${max} characters`,
    );
    expect(() => testConfig({ 'deploy.stackName': 'Scones-Workflow' })).to.throw(ConfigError, /lower-case/);
    expect(testConfig({ 'deploy.stackName': `s${'x'.repeat(max - 1)}` }).deploy.stackName).to.have.length(
      max,
    );
  });

  // SageMaker's API model lists the instance types each use accepts: TrainingInstanceType,
  // TransformInstanceType, ProductionVariantInstanceType (botocore sagemaker service-2.json).
  describe('instance types are checked against the SageMaker API model enums when the configuration loads', () => {
    it('an endpoint-only type for Batch Transform (ml.c5.large is no TransformInstanceType) is refused, naming the key and the nearest valid types', () => {
      expect(() => testConfig({ 'evaluate.transformInstanceType': 'ml.c5.large' })).to.throw(
        ConfigError,
        /evaluate\.transformInstanceType "ml\.c5\.large" is not valid for TransformInstanceType.*nearest valid: ml\.c5\.xlarge/,
      );
      expect(() => testConfig({ 'deploy.endpointInstanceType': 'ml.c5.large' })).to.not.throw();
    });

    it('a misspelt training type is refused with the nearest TrainingInstanceType values', () => {
      expect(() => testConfig({ 'train.sagemaker.instanceType': 'ml.g4dn.xlarg' })).to.throw(
        ConfigError,
        /train\.sagemaker\.instanceType "ml\.g4dn\.xlarg" is not valid for TrainingInstanceType.*nearest valid: ml\.g4dn\.xlarge/,
      );
    });

    it('the defaults are valid for their use, and Batch Transform has its own setting', () => {
      const config = testConfig({});
      expect(config.evaluate.transformInstanceType).to.be.a('string');
      expect(config.evaluate.transformInstanceType).to.not.equal(undefined);
    });
  });
});
