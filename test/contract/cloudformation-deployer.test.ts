import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type ChangeAction,
  CloudFormationClient,
  CreateChangeSetCommand,
  DeleteChangeSetCommand,
  DeleteStackCommand,
  DescribeChangeSetCommand,
  type DescribeChangeSetCommandOutput,
  DescribeStackEventsCommand,
  DescribeStacksCommand,
  type DescribeStacksCommandOutput,
  ExecuteChangeSetCommand,
  type Output,
  type Replacement,
  type StackStatus,
} from '@aws-sdk/client-cloudformation';
import { HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { expect } from 'chai';
import { CloudFormationDeployer } from '../../pipeline/backends/aws/cloudformation-deployer.js';
import { S3ObjectStore } from '../../pipeline/backends/s3-object-store.js';
import { StageFailedError } from '../../pipeline/errors.js';
import type { DeployRequest } from '../../pipeline/ports.js';
import type { LambdaBundle } from '../../pipeline/templates/lambda-bundles.js';
import { describedWorkflowStack } from '../helpers/workflow-stack.js';
import { captureReporter, testConfig } from '../helpers/workspace.js';

const STACK = 'scones-workflow';
const OUTPUTS = [
  { OutputKey: 'EndpointName', OutputValue: 'scones-workflow-endpoint' },
  {
    OutputKey: 'StateMachineArn',
    OutputValue: 'arn:aws:states:us-east-1:123456789012:stateMachine:scones-workflow-workflow',
  },
];

/** A DescribeStacks answer: the stack in `status`, with `outputs` when given. */
function stackIn(status: StackStatus, outputs?: Output[]): DescribeStacksCommandOutput {
  return {
    $metadata: {},
    Stacks: [
      outputs
        ? { ...describedWorkflowStack(status, {}, STACK), Outputs: outputs }
        : { StackName: STACK, StackStatus: status, CreationTime: new Date() },
    ],
  };
}

/** A DescribeChangeSet answer for a change set ready to execute, with one resource change. */
function readyChangeSet(
  action: ChangeAction,
  logicalId: string,
  type: string,
  replacement?: Replacement,
): DescribeChangeSetCommandOutput {
  return {
    $metadata: {},
    Status: 'CREATE_COMPLETE',
    Changes: [
      {
        Type: 'Resource',
        ResourceChange: {
          Action: action,
          LogicalResourceId: logicalId,
          ResourceType: type,
          ...(replacement ? { Replacement: replacement } : {}),
        },
      },
    ],
  };
}

function fakeBundles(): LambdaBundle[] {
  const dir = mkdtempSync(join(tmpdir(), 'bundles-'));
  return (['serialize-image-data', 'classify-image', 'filter-inferences'] as const).map((name) => {
    const zipPath = join(dir, `${name}.zip`);
    writeFileSync(zipPath, `zip of ${name}`);
    return { name, zipName: `${name}-0123456789abcdef.zip`, zipPath, jsPath: '', sha256: 'x', zipBytes: 10 };
  });
}

const request = (preview = false): DeployRequest => ({
  runId: 'run-1',
  preview,
  model: {
    trainingId: 't-abc',
    modelUri: 's3://team-artifacts/models/t-abc/job/output/model.tar.gz',
    validationAccuracy: 0.87,
  },
  imageSide: 32,
  threshold: 0.93,
});

describe('aws deployer: CloudFormation change sets (aws-sdk-client-mock)', () => {
  let cfn: AwsClientStub<CloudFormationClient>;
  let s3: AwsClientStub<S3Client>;
  before(() => {
    cfn = mockClient(CloudFormationClient);
    s3 = mockClient(S3Client);
  });
  beforeEach(() => {
    cfn.reset();
    s3.reset();
    s3.on(HeadObjectCommand).rejects(
      Object.assign(new Error('NotFound'), { name: 'NotFound', $metadata: { httpStatusCode: 404 } }),
    );
    s3.on(PutObjectCommand).resolves({});
  });
  after(() => {
    cfn.restore();
    s3.restore();
  });

  function deployer() {
    const config = testConfig({
      backend: 'aws',
      bucket: 'team-artifacts',
      'train.sagemaker.roleArn': 'arn:aws:iam::123456789012:role/sm',
    });
    return new CloudFormationDeployer({
      client: new CloudFormationClient({ region: 'us-east-1' }),
      store: new S3ObjectStore(new S3Client({ region: 'us-east-1' }), 'team-artifacts'),
      config,
      sleep: async () => {},
      bundle: async () => fakeBundles(),
      now: () => new Date(1_700_000_000_000),
    });
  }
  const stackMissing = () =>
    cfn.on(DescribeStacksCommand).rejectsOnce(new Error(`Stack with id ${STACK} does not exist`));

  it('creates a new stack: uploads code, CREATE change set with the parameters, executes, waits, returns outputs', async () => {
    stackMissing().resolvesOnce(stackIn('CREATE_IN_PROGRESS')).resolves(stackIn('CREATE_COMPLETE', OUTPUTS));
    cfn.on(CreateChangeSetCommand).resolves({});
    cfn
      .on(DescribeChangeSetCommand)
      .resolvesOnce({ Status: 'CREATE_PENDING' })
      .resolves(readyChangeSet('Add', 'Endpoint', 'AWS::SageMaker::Endpoint'));
    cfn.on(ExecuteChangeSetCommand).resolves({});
    const { reporter, stream } = captureReporter();
    const record = await deployer().deploy(request(), reporter);
    const sent = cfn.commandCalls(CreateChangeSetCommand)[0]!.args[0].input;
    expect(sent).to.include({
      StackName: STACK,
      ChangeSetType: 'CREATE',
      ChangeSetName: 'scones-run-1-1700000000000',
    });
    expect(sent.Capabilities).to.deep.equal(['CAPABILITY_IAM']);
    const parameters = Object.fromEntries(sent.Parameters!.map((p) => [p.ParameterKey, p.ParameterValue]));
    expect(parameters).to.include({
      ModelDataUrl: 's3://team-artifacts/models/t-abc/job/output/model.tar.gz',
      InferenceImage: '811284229777.dkr.ecr.us-east-1.amazonaws.com/image-classification:1',
      TrainingId: 't-abc',
      ValidationAccuracy: '0.87',
      ConfidenceThreshold: '0.93',
      SerializeCodeKey: 'lambdas/serialize-image-data-0123456789abcdef.zip',
      DataCaptureS3Uri: 's3://team-artifacts/data-capture',
    });
    expect(s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input.Key)).to.include(
      'lambdas/classify-image-0123456789abcdef.zip',
    );
    expect(cfn.commandCalls(ExecuteChangeSetCommand)).to.have.length(1);
    expect(record).to.include({ deployed: true, reused: false });
    expect(record.deployment).to.include({ endpointName: 'scones-workflow-endpoint', threshold: 0.93 });
    expect(record.changes).to.deep.equal([
      { action: 'Add', logicalId: 'Endpoint', type: 'AWS::SageMaker::Endpoint' },
    ]);
    expect(stream.text).to.include('| Add | Endpoint | AWS::SageMaker::Endpoint |');
    expect(stream.text).to.include(`stack ${STACK}: CREATE_COMPLETE`);
  });

  it('updates an existing stack with an UPDATE change set', async () => {
    cfn.on(DescribeStacksCommand).resolves(stackIn('UPDATE_COMPLETE', OUTPUTS));
    cfn.on(CreateChangeSetCommand).resolves({});
    cfn
      .on(DescribeChangeSetCommand)
      .resolves(readyChangeSet('Modify', 'Model', 'AWS::SageMaker::Model', 'True'));
    cfn.on(ExecuteChangeSetCommand).resolves({});
    const record = await deployer().deploy(request(), captureReporter().reporter);
    expect(cfn.commandCalls(CreateChangeSetCommand)[0]!.args[0].input.ChangeSetType).to.equal('UPDATE');
    expect(record.changes[0]).to.deep.equal({
      action: 'Modify',
      logicalId: 'Model',
      type: 'AWS::SageMaker::Model',
      replacement: 'True',
    });
  });

  it('treats an empty change set as nothing to deploy: deletes it, executes nothing, succeeds', async () => {
    cfn.on(DescribeStacksCommand).resolves(stackIn('UPDATE_COMPLETE', OUTPUTS));
    cfn.on(CreateChangeSetCommand).resolves({});
    cfn.on(DescribeChangeSetCommand).resolves({
      Status: 'FAILED',
      StatusReason:
        "The submitted information didn't contain changes. Submit different information to create a change set.",
    });
    cfn.on(DeleteChangeSetCommand).resolves({});
    const { reporter, stream } = captureReporter();
    const record = await deployer().deploy(request(), reporter);
    expect(record).to.include({ deployed: false, reused: true });
    expect(record.deployment?.endpointName).to.equal('scones-workflow-endpoint');
    expect(cfn.commandCalls(ExecuteChangeSetCommand)).to.have.length(0);
    expect(cfn.commandCalls(DeleteChangeSetCommand)).to.have.length(1);
    expect(stream.text).to.include('nothing to deploy');
  });

  it('fails with the failed resources status reasons from the stack events', async () => {
    cfn
      .on(DescribeStacksCommand)
      .resolvesOnce(stackIn('UPDATE_COMPLETE'))
      .resolves(stackIn('UPDATE_ROLLBACK_COMPLETE'));
    cfn.on(CreateChangeSetCommand).resolves({});
    cfn.on(DescribeChangeSetCommand).resolves({ Status: 'CREATE_COMPLETE', Changes: [] });
    cfn.on(ExecuteChangeSetCommand).resolves({});
    cfn.on(DescribeStackEventsCommand).resolves({
      StackEvents: [
        {
          StackId: 's',
          EventId: '2',
          StackName: STACK,
          Timestamp: new Date(),
          LogicalResourceId: STACK,
          ResourceType: 'AWS::CloudFormation::Stack',
          ResourceStatus: 'UPDATE_ROLLBACK_IN_PROGRESS',
          ResourceStatusReason: 'The following resource(s) failed',
        },
        {
          StackId: 's',
          EventId: '1',
          StackName: STACK,
          Timestamp: new Date(),
          LogicalResourceId: 'Endpoint',
          ResourceType: 'AWS::SageMaker::Endpoint',
          ResourceStatus: 'UPDATE_FAILED',
          ResourceStatusReason: 'The account-level service limit for ml.m5.xlarge is 0 Instances',
        },
      ],
    });
    try {
      await deployer().deploy(request(), captureReporter().reporter);
      expect.fail('a rolled-back update was accepted');
    } catch (error) {
      expect(error).to.be.instanceOf(StageFailedError);
      expect((error as Error).message).to.equal(
        `stack ${STACK} ended UPDATE_ROLLBACK_COMPLETE: Endpoint (AWS::SageMaker::Endpoint) UPDATE_FAILED: The account-level service limit for ml.m5.xlarge is 0 Instances`,
      );
    }
  });

  it('fails with the reason when the change set itself fails', async () => {
    cfn.on(DescribeStacksCommand).resolves(stackIn('UPDATE_COMPLETE'));
    cfn.on(CreateChangeSetCommand).resolves({});
    cfn.on(DescribeChangeSetCommand).resolves({
      Status: 'FAILED',
      StatusReason:
        'Parameter validation failed: parameter value x for parameter name ModelNameDigest does not match pattern',
    });
    cfn.on(DeleteChangeSetCommand).resolves({});
    try {
      await deployer().deploy(request(), captureReporter().reporter);
      expect.fail('a failed change set was accepted');
    } catch (error) {
      expect((error as Error).message).to.match(
        /change set for scones-workflow failed: Parameter validation failed/,
      );
    }
  });

  it('deletes a stack left in ROLLBACK_COMPLETE, then creates it afresh', async () => {
    cfn
      .on(DescribeStacksCommand)
      .resolvesOnce(stackIn('ROLLBACK_COMPLETE'))
      .resolvesOnce(stackIn('DELETE_IN_PROGRESS'))
      .rejectsOnce(new Error(`Stack with id ${STACK} does not exist`))
      .resolves(stackIn('CREATE_COMPLETE', OUTPUTS));
    cfn.on(DeleteStackCommand).resolves({});
    cfn.on(CreateChangeSetCommand).resolves({});
    cfn.on(DescribeChangeSetCommand).resolves({ Status: 'CREATE_COMPLETE', Changes: [] });
    cfn.on(ExecuteChangeSetCommand).resolves({});
    const { reporter, stream } = captureReporter();
    const record = await deployer().deploy(request(), reporter);
    expect(cfn.commandCalls(DeleteStackCommand)).to.have.length(1);
    expect(cfn.commandCalls(CreateChangeSetCommand)[0]!.args[0].input.ChangeSetType).to.equal('CREATE');
    expect(record.deployed).to.equal(true);
    expect(stream.text).to.include('ROLLBACK_COMPLETE from a failed create: deleting it');
  });

  it('previews: makes the change set, writes it as Markdown, deletes it, executes nothing', async () => {
    cfn.on(DescribeStacksCommand).resolves(stackIn('UPDATE_COMPLETE'));
    cfn.on(CreateChangeSetCommand).resolves({});
    cfn
      .on(DescribeChangeSetCommand)
      .resolves(readyChangeSet('Modify', 'FilterFunction', 'AWS::Lambda::Function', 'False'));
    cfn.on(DeleteChangeSetCommand).resolves({});
    const record = await deployer().deploy(request(true), captureReporter().reporter);
    expect(cfn.commandCalls(ExecuteChangeSetCommand)).to.have.length(0);
    expect(cfn.commandCalls(DeleteChangeSetCommand)).to.have.length(1);
    expect(record).to.include({ deployed: false, preview: true });
    expect(record.previewMarkdown).to.include('### Change set preview: `scones-workflow` (UPDATE)');
    expect(record.previewMarkdown).to.include('| Modify | FilterFunction | AWS::Lambda::Function | False |');
  });
});
