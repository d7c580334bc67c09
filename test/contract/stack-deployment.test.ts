import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { expect } from 'chai';
import { readStackDeployment } from '../../pipeline/backends/aws/deployment.js';
import { championOf } from '../../pipeline/stages/gate.js';

describe('aws deployment: what the workflow stack deploys, from DescribeStacks (aws-sdk-client-mock)', () => {
  let cfn: AwsClientStub<CloudFormationClient>;
  before(() => {
    cfn = mockClient(CloudFormationClient);
  });
  beforeEach(() => cfn.reset());
  after(() => cfn.restore());
  const client = () => new CloudFormationClient({ region: 'us-east-1' });
  const parameters = (values: Record<string, string>) =>
    Object.entries(values).map(([ParameterKey, ParameterValue]) => ({ ParameterKey, ParameterValue }));
  const stack = (extra: Record<string, string>) => ({
    StackName: 's',
    StackStatus: 'UPDATE_COMPLETE' as const,
    CreationTime: new Date(),
    Outputs: [
      { OutputKey: 'EndpointName', OutputValue: 's-endpoint' },
      { OutputKey: 'StateMachineArn', OutputValue: 'arn:aws:states:us-east-1:1:stateMachine:s-workflow' },
    ],
    // DescribeStacks (API reference, Stack.Parameters) lists every parameter, defaults included.
    Parameters: parameters({
      TrainingId: 't-abc',
      ModelDataUrl: 's3://b/models/t-abc/model.tar.gz',
      ValidationAccuracy: '0.87',
      ModelTestAccuracy: '',
      TestSplitDigest: '',
      TestDatasetDigest: '',
      ConfidenceThreshold: '0.9',
      DataCaptureS3Uri: 's3://b/data-capture',
      StateMachineDefinitionKey: 'templates/state-machine-0123.asl.json',
      ...extra,
    }),
  });

  it('reads the model, its threshold and capture from the parameters, the names from the outputs', async () => {
    cfn.on(DescribeStacksCommand).resolves({ Stacks: [stack({})] });
    const deployment = await readStackDeployment(client(), 's');
    expect(deployment).to.deep.equal({
      stackName: 's',
      trainingId: 't-abc',
      modelUri: 's3://b/models/t-abc/model.tar.gz',
      validationAccuracy: 0.87,
      threshold: 0.9,
      endpointName: 's-endpoint',
      stateMachineArn: 'arn:aws:states:us-east-1:1:stateMachine:s-workflow',
      captureUri: 's3://b/data-capture',
      definitionKey: 'templates/state-machine-0123.asl.json',
    });
    // Without a recorded test evaluation the champion carries only its validation figure (not comparable).
    expect(championOf(deployment)).to.deep.equal({ trainingId: 't-abc', accuracy: 0.87 });
  });

  it('a deployment with its held-out evaluation is a champion comparable on that test split', async () => {
    cfn.on(DescribeStacksCommand).resolves({
      Stacks: [stack({ ModelTestAccuracy: '0.91', TestSplitDigest: 'split-1', TestDatasetDigest: 'd-1' })],
    });
    expect(championOf(await readStackDeployment(client(), 's'))).to.deep.equal({
      trainingId: 't-abc',
      accuracy: 0.91,
      testSplitDigest: 'split-1',
      datasetDigest: 'd-1',
    });
  });

  it('a stack that is not a workflow deployment is an error naming the stack and the field', async () => {
    cfn.on(DescribeStacksCommand).resolves({ Stacks: [stack({ ConfidenceThreshold: '1.5' })] });
    let message = '';
    await readStackDeployment(client(), 's').catch((error: Error) => {
      message = error.message;
    });
    expect(message).to.match(/stack s is not a workflow deployment: threshold/);
  });

  it('nothing is deployed without a stack, in REVIEW_IN_PROGRESS (never created) or ROLLBACK_COMPLETE (its create failed)', async () => {
    cfn.on(DescribeStacksCommand).rejectsOnce(new Error('Stack with id s does not exist'));
    expect(await readStackDeployment(client(), 's')).to.equal(undefined);
    for (const StackStatus of ['REVIEW_IN_PROGRESS', 'ROLLBACK_COMPLETE'] as const) {
      cfn
        .on(DescribeStacksCommand)
        .resolves({ Stacks: [{ StackName: 's', StackStatus, CreationTime: new Date() }] });
      expect(await readStackDeployment(client(), 's')).to.equal(undefined);
    }
  });
});
