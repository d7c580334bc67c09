import { readdirSync } from 'node:fs';
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
import {
  type AlarmHistoryItem,
  CloudWatchClient,
  DescribeAlarmHistoryCommand,
} from '@aws-sdk/client-cloudwatch';
import { HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  DescribeEndpointCommand,
  type DescribeEndpointCommandOutput,
  type EndpointStatus,
  SageMakerClient,
} from '@aws-sdk/client-sagemaker';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { expect } from 'chai';
import { CloudFormationDeployer } from '../../pipeline/backends/aws/cloudformation-deployer.js';
import { S3ObjectStore } from '../../pipeline/backends/s3-object-store.js';
import type { EvaluationRecord } from '../../pipeline/contracts/evaluation.js';
import { StageFailedError } from '../../pipeline/errors.js';
import type { DeployRequest } from '../../pipeline/ports.js';
import { fakeBundles } from '../helpers/fake-bundles.js';
import { describedWorkflowStack } from '../helpers/workflow-stack.js';
import { captureReporter, tempDir, testConfig } from '../helpers/workspace.js';

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

/** The alarms the template guards the endpoint with, by the names it gives them (`<stack>-...`). */
const ALARMS = {
  errors5xx: `${STACK}-invocation-5xx-errors`,
  errors4xx: `${STACK}-invocation-4xx-errors`,
  latency: `${STACK}-model-latency`,
  lowConfidence: `${STACK}-low-confidence-share`,
};

/**
 * A DescribeEndpoint answer (SageMaker API reference, DescribeEndpoint): EndpointStatus one of its enum,
 * EndpointConfigName the config it serves, LastDeploymentConfig the deployment configuration with the
 * rollback alarms; FailureReason is documented for a Failed endpoint only, so none here.
 */
function endpointIn(status: EndpointStatus, configName: string): DescribeEndpointCommandOutput {
  return {
    $metadata: {},
    EndpointName: `${STACK}-endpoint`,
    EndpointArn: `arn:aws:sagemaker:us-east-1:123456789012:endpoint/${STACK}-endpoint`,
    EndpointConfigName: configName,
    EndpointStatus: status,
    CreationTime: new Date(1_600_000_000_000),
    LastModifiedTime: new Date(1_700_000_900_000),
    LastDeploymentConfig: {
      BlueGreenUpdatePolicy: {
        TrafficRoutingConfiguration: { Type: 'ALL_AT_ONCE', WaitIntervalInSeconds: 600 },
        TerminationWaitInSeconds: 0,
      },
      AutoRollbackConfiguration: { Alarms: Object.values(ALARMS).map((AlarmName) => ({ AlarmName })) },
    },
  };
}

/**
 * A StateUpdate item of DescribeAlarmHistory: HistoryData is JSON with oldState and newState (stateValue,
 * stateReason), HistorySummary "Alarm updated from OK to ALARM" (AWS CLI reference, `aws cloudwatch
 * describe-alarm-history` example; CloudWatch API reference, AlarmHistoryItem).
 */
function stateUpdate(alarm: string, from: string, to: string, at: Date, reason: string): AlarmHistoryItem {
  return {
    AlarmName: alarm,
    AlarmType: 'MetricAlarm',
    Timestamp: at,
    HistoryItemType: 'StateUpdate',
    HistorySummary: `Alarm updated from ${from} to ${to}`,
    HistoryData: JSON.stringify({
      version: '1.0',
      oldState: { stateValue: from, stateReason: 'previous' },
      newState: { stateValue: to, stateReason: reason },
    }),
  };
}

/** The stack's failed endpoint update, as DescribeStackEvents lists it. */
const endpointUpdateFailed = (reason: string) => ({
  StackEvents: [
    {
      StackId: 's',
      EventId: '1',
      StackName: STACK,
      Timestamp: new Date(),
      LogicalResourceId: 'Endpoint',
      ResourceType: 'AWS::SageMaker::Endpoint',
      ResourceStatus: 'UPDATE_FAILED' as const,
      ResourceStatusReason: reason,
    },
  ],
});

describe('aws deployer: CloudFormation change sets (aws-sdk-client-mock)', () => {
  let cfn: AwsClientStub<CloudFormationClient>;
  let s3: AwsClientStub<S3Client>;
  let sm: AwsClientStub<SageMakerClient>;
  let cw: AwsClientStub<CloudWatchClient>;
  before(() => {
    cfn = mockClient(CloudFormationClient);
    s3 = mockClient(S3Client);
    sm = mockClient(SageMakerClient);
    cw = mockClient(CloudWatchClient);
  });
  beforeEach(() => {
    cfn.reset();
    s3.reset();
    sm.reset();
    cw.reset();
    cw.on(DescribeAlarmHistoryCommand).resolves({ AlarmHistoryItems: [] });
    s3.on(HeadObjectCommand).rejects(
      Object.assign(new Error('NotFound'), { name: 'NotFound', $metadata: { httpStatusCode: 404 } }),
    );
    s3.on(PutObjectCommand).resolves({});
  });
  after(() => {
    cfn.restore();
    s3.restore();
    sm.restore();
    cw.restore();
  });

  /** `realBundles`: no injected bundler, so the deployer builds the Lambdas itself, as in production. */
  function deployer(overrides: Record<string, unknown> = {}, { realBundles = false } = {}) {
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
      ...(realBundles ? {} : { bundle: async () => fakeBundles() }),
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
    sm.on(DescribeEndpointCommand).resolves(endpointIn('InService', `${STACK}-config-old`));
    try {
      await deployer().deploy(request(), captureReporter().reporter);
      expect.fail('a rolled-back update was accepted');
    } catch (error) {
      expect(error).to.be.instanceOf(StageFailedError);
      expect((error as Error).message).to.equal(
        `the update of endpoint ${STACK}-endpoint to model t-abc failed, and none of its 4 alarms went to ALARM during it: Endpoint (AWS::SageMaker::Endpoint) UPDATE_FAILED: The account-level service limit for ml.m5.xlarge is 0 Instances; SageMaker kept the old fleet, the stack rolled back (UPDATE_ROLLBACK_COMPLETE) and the previous model stays live and recorded as live (endpoint ${STACK}-endpoint InService on ${STACK}-config-old). Fix the cause above, then deploy again (docs/operations.md, "Guarded rollouts")`,
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

  /** A stack in UPDATE_COMPLETE whose change set (once ready) modifies the filter function in place. */
  const stackToPreview = () => {
    cfn.on(DescribeStacksCommand).resolves(stackIn('UPDATE_COMPLETE'));
    cfn.on(CreateChangeSetCommand).resolves({});
    cfn
      .on(DescribeChangeSetCommand)
      .resolves(readyChangeSet('Modify', 'FilterFunction', 'AWS::Lambda::Function', 'False'));
    cfn.on(DeleteChangeSetCommand).resolves({});
  };

  it('previews: makes the change set, writes it as Markdown, deletes it, executes nothing', async () => {
    stackToPreview();
    const record = await deployer().deploy(request(true), captureReporter().reporter);
    expect(cfn.commandCalls(ExecuteChangeSetCommand)).to.have.length(0);
    expect(cfn.commandCalls(DeleteChangeSetCommand)).to.have.length(1);
    expect(record).to.include({ deployed: false, preview: true });
    expect(record.previewMarkdown).to.include('### Change set preview: `scones-workflow` (UPDATE)');
    expect(record.previewMarkdown).to.include('| Modify | FilterFunction | AWS::Lambda::Function | False |');
    expect(record.previewMarkdown).not.to.include('Rollout plan');
  });

  it('builds the Lambda bundles in the work folder (kept for the next deploy), not in a new /tmp folder', async () => {
    stackToPreview();
    const { dir, cleanup } = tempDir();
    try {
      await deployer({ workDir: dir }, { realBundles: true }).deploy(
        request(true),
        captureReporter().reporter,
      );
      expect(readdirSync(join(dir, 'lambdas')).filter((f) => f.endsWith('.zip'))).to.have.length(3);
    } finally {
      cleanup();
    }
  });

  describe('guarded rollouts: how the endpoint update ended', () => {
    const started = new Date(1_700_000_000_000);
    /** The stack before the update serves t-deployed (its parameters as DescribeStacks returns them). */
    const before = () => ({
      $metadata: {},
      Stacks: [
        describedWorkflowStack('UPDATE_COMPLETE', { EndpointConfigNameDigest: '0123456789abcdef' }, STACK),
      ],
    });
    const previousConfig = `${STACK}-config-0123456789abcdef`;
    function updateEndsIn(status: StackStatus) {
      cfn
        .on(DescribeStacksCommand)
        .resolvesOnce(before())
        .resolvesOnce(stackIn('UPDATE_IN_PROGRESS'))
        .resolves(stackIn(status, OUTPUTS));
      cfn.on(CreateChangeSetCommand).resolves({});
      cfn
        .on(DescribeChangeSetCommand)
        .resolves(readyChangeSet('Modify', 'Endpoint', 'AWS::SageMaker::Endpoint'));
      cfn.on(ExecuteChangeSetCommand).resolves({});
    }

    it('a rollout rolled back by the LowConfidence alarm fails the deploy naming the alarm, its metric and threshold, and the model that stays live (DescribeEndpoint InService on the old config; DescribeAlarmHistory StateUpdate OK to ALARM and back)', async () => {
      updateEndsIn('UPDATE_ROLLBACK_COMPLETE');
      cfn
        .on(DescribeStackEventsCommand)
        .resolves(endpointUpdateFailed('Endpoint update failed and was rolled back'));
      sm.on(DescribeEndpointCommand).resolves(endpointIn('InService', previousConfig));
      const reason =
        'Threshold Crossed: 1 datapoint [0.62 (03/12/26 17:05:00)] was greater than the threshold (0.25).';
      cw.on(DescribeAlarmHistoryCommand, { AlarmName: ALARMS.lowConfidence }).resolves({
        AlarmHistoryItems: [
          stateUpdate(ALARMS.lowConfidence, 'OK', 'ALARM', new Date(started.getTime() + 9 * 60_000), reason),
          stateUpdate(ALARMS.lowConfidence, 'ALARM', 'OK', new Date(started.getTime() + 16 * 60_000), 'ok'),
        ],
      });
      // The model promised to automate at least 75% at its threshold: the alarm's limit is a 0.25 share.
      const promised = {
        quality: { accuracy: 0.9 },
        testSplitDigest: 'split',
        datasetDigest: 'data',
        automation: { threshold: 0.93, heldOut: { automationRateInterval: { low: 0.75 } } },
      } as unknown as EvaluationRecord;
      const error = await deployer()
        .deploy({ ...request(), evaluation: promised }, captureReporter().reporter)
        .then(
          () => expect.fail('a rolled-back rollout was accepted'),
          (e: Error) => e,
        );
      expect(error).to.be.instanceOf(StageFailedError);
      expect(error.message).to.equal(
        `rolled back: the rollout of model t-abc to endpoint ${STACK}-endpoint tripped alarm ${ALARMS.lowConfidence} (LowConfidence in Scones/Workflow, Average over 300 s > 0.25) at 2023-11-14T22:22:20.000Z: "${reason}"; SageMaker kept the old fleet, the stack rolled back (UPDATE_ROLLBACK_COMPLETE) and model t-deployed stays live and recorded as live (endpoint ${STACK}-endpoint InService on ${previousConfig}). Fix the model, or the alarm's limit if it is wrong, then deploy again (docs/operations.md, "Guarded rollouts")`,
      );
      // Each of the endpoint's alarms, one request each, state updates since the update started.
      const asked = cw.commandCalls(DescribeAlarmHistoryCommand).map((c) => c.args[0].input);
      expect(asked.map((a) => a.AlarmName)).to.have.members(Object.values(ALARMS));
      for (const input of asked)
        expect(input).to.deep.include({ HistoryItemType: 'StateUpdate', StartDate: started });
    });

    it('a rollout whose bake held reports "completed after bake" in the record (DescribeEndpoint InService on the new config)', async () => {
      updateEndsIn('UPDATE_COMPLETE');
      sm.on(DescribeEndpointCommand).resolves(endpointIn('InService', `${STACK}-config-new`));
      const { reporter, stream } = captureReporter();
      const record = await deployer({ 'deploy.bakeSeconds': 300 }).deploy(request(), reporter);
      const expected = `rollout completed after bake: endpoint ${STACK}-endpoint is InService on ${STACK}-config-new (blue/green, ALL_AT_ONCE, 1 × ml.m5.xlarge, 300 s bake); none of its 4 alarms (Invocation5XXErrors, Invocation4XXErrors, ModelLatency, LowConfidence) stopped it`;
      expect(record).to.include({ deployed: true, rollout: expected });
      expect(stream.text).to.include(expected);
      expect(cw.commandCalls(DescribeAlarmHistoryCommand)).to.have.length(0);
    });

    it('an endpoint in UpdateRollbackFailed (stack UPDATE_ROLLBACK_FAILED) fails naming the alarm and what to do: update-endpoint to the previous config, then continue-update-rollback (DescribeEndpoint EndpointStatus UpdateRollbackFailed)', async () => {
      updateEndsIn('UPDATE_ROLLBACK_FAILED');
      cfn.on(DescribeStackEventsCommand).resolves(endpointUpdateFailed('Endpoint update failed'));
      sm.on(DescribeEndpointCommand).resolves(endpointIn('UpdateRollbackFailed', `${STACK}-config-new`));
      cw.on(DescribeAlarmHistoryCommand, { AlarmName: ALARMS.errors5xx }).resolves({
        AlarmHistoryItems: [
          stateUpdate(
            ALARMS.errors5xx,
            'OK',
            'ALARM',
            new Date(started.getTime() + 60_000),
            'Threshold Crossed',
          ),
        ],
      });
      const error = await deployer()
        .deploy(request(), captureReporter().reporter)
        .then(
          () => expect.fail('a failed rollback was accepted'),
          (e: Error) => e,
        );
      expect(error.message).to.match(
        new RegExp(
          `^rolled back: .* tripped alarm ${ALARMS.errors5xx} \\(Invocation5XXErrors in AWS/SageMaker, Sum over 60 s > 0\\)`,
        ),
      );
      expect(error.message).to.include(
        `endpoint ${STACK}-endpoint is UpdateRollbackFailed: SageMaker's own rollback failed too, so it serves a mix of the old and new models. To restore it: when it accepts updates, \`aws sagemaker update-endpoint --endpoint-name ${STACK}-endpoint --endpoint-config-name ${previousConfig}\` and \`aws sagemaker wait endpoint-in-service --endpoint-name ${STACK}-endpoint\`; then \`aws cloudformation continue-update-rollback --stack-name ${STACK}\`, and deploy again`,
      );
    });

    it('a stack in UPDATE_ROLLBACK_FAILED whose endpoint is back InService says to continue the rollback and deploy again', async () => {
      updateEndsIn('UPDATE_ROLLBACK_FAILED');
      cfn.on(DescribeStackEventsCommand).resolves(endpointUpdateFailed('Endpoint update failed'));
      sm.on(DescribeEndpointCommand).resolves(endpointIn('InService', previousConfig));
      const error = await deployer()
        .deploy(request(), captureReporter().reporter)
        .then(
          () => expect.fail('accepted'),
          (e: Error) => e,
        );
      expect(error.message).to.match(
        /^the update of endpoint scones-workflow-endpoint to model t-abc failed, and none of its 4 alarms went to ALARM/,
      );
      expect(error.message).to.include(
        `the stack could not roll back (UPDATE_ROLLBACK_FAILED) though endpoint ${STACK}-endpoint is InService on ${previousConfig}: fix what its events name, run \`aws cloudformation continue-update-rollback --stack-name ${STACK}\`, and deploy again`,
      );
    });

    it('an endpoint still Updating when the stack gave up says which model serves is not settled and how to wait for it (DescribeEndpoint EndpointStatus Updating: UpdateEndpoint is executing)', async () => {
      updateEndsIn('UPDATE_ROLLBACK_FAILED');
      cfn
        .on(DescribeStackEventsCommand)
        .resolves(endpointUpdateFailed('Resource timed out waiting for completion'));
      sm.on(DescribeEndpointCommand).resolves(endpointIn('Updating', previousConfig));
      const error = await deployer()
        .deploy(request(), captureReporter().reporter)
        .then(
          () => expect.fail('accepted'),
          (e: Error) => e,
        );
      expect(error.message).to.include(
        `endpoint ${STACK}-endpoint is still Updating, so which model serves is not settled: wait for it (\`aws sagemaker wait endpoint-in-service --endpoint-name ${STACK}-endpoint\`), check \`scones models --backend aws\`, run \`aws cloudformation continue-update-rollback --stack-name ${STACK}\`, and deploy again`,
      );
    });

    it('a failure that is not the endpoint asks SageMaker and CloudWatch nothing', async () => {
      updateEndsIn('UPDATE_ROLLBACK_COMPLETE');
      cfn.on(DescribeStackEventsCommand).resolves({
        StackEvents: [
          {
            ...endpointUpdateFailed('x').StackEvents[0]!,
            LogicalResourceId: 'FilterFunction',
            ResourceType: 'AWS::Lambda::Function',
            ResourceStatusReason: 'Code not found',
          },
        ],
      });
      const error = await deployer()
        .deploy(request(), captureReporter().reporter)
        .then(
          () => expect.fail('accepted'),
          (e: Error) => e,
        );
      expect(error.message).to.equal(
        `stack ${STACK} ended UPDATE_ROLLBACK_COMPLETE: FilterFunction (AWS::Lambda::Function) UPDATE_FAILED: Code not found`,
      );
      expect(sm.commandCalls(DescribeEndpointCommand)).to.have.length(0);
    });

    it('the preview of a model update shows the rollout plan and its alarms, read from workflow.yaml with the deploy parameters', async () => {
      cfn.on(DescribeStacksCommand).resolves(stackIn('UPDATE_COMPLETE'));
      cfn.on(CreateChangeSetCommand).resolves({});
      cfn
        .on(DescribeChangeSetCommand)
        .resolves(readyChangeSet('Modify', 'Endpoint', 'AWS::SageMaker::Endpoint'));
      cfn.on(DeleteChangeSetCommand).resolves({});
      const record = await deployer({
        'deploy.bakeSeconds': 120,
        'deploy.endpointInstanceType': 'ml.m5.large',
      }).deploy(request(true), captureReporter().reporter);
      const markdown = record.previewMarkdown ?? '';
      expect(markdown).to.include(`#### Rollout plan: endpoint \`${STACK}-endpoint\``);
      expect(markdown).to.include(
        'Blue/green: a new fleet of 1 × ml.m5.large, traffic shifted ALL_AT_ONCE, then a 120 s bake',
      );
      expect(markdown).to.include(
        `| \`${ALARMS.lowConfidence}\` | Scones/Workflow LowConfidence | Average over 300 s > 1 |`,
      );
      expect(markdown).to.include(
        `| \`${ALARMS.latency}\` | AWS/SageMaker ModelLatency | Average over 60 s > 1000000 |`,
      );
      for (const name of Object.values(ALARMS)) expect(markdown).to.include(name);
      expect(sm.commandCalls(DescribeEndpointCommand)).to.have.length(0);
    });
  });
});
