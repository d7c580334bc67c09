import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { expect } from 'chai';
import { readStackChampion, readStackModel } from '../../pipeline/backends/aws/champion.js';

describe('aws champion: the deployed model from the workflow stack (aws-sdk-client-mock)', () => {
  let cfn: AwsClientStub<CloudFormationClient>;
  before(() => {
    cfn = mockClient(CloudFormationClient);
  });
  beforeEach(() => cfn.reset());
  after(() => cfn.restore());
  const client = () => new CloudFormationClient({ region: 'us-east-1' });

  it('reads training id and accuracy from the stack outputs, and the model and its threshold from its parameters', async () => {
    cfn.on(DescribeStacksCommand).resolves({
      Stacks: [
        {
          StackName: 's',
          StackStatus: 'UPDATE_COMPLETE',
          CreationTime: new Date(),
          Outputs: [
            { OutputKey: 'DeployedTrainingId', OutputValue: 't-abc' },
            { OutputKey: 'DeployedValidationAccuracy', OutputValue: '0.87' },
          ],
          Parameters: [
            { ParameterKey: 'TrainingId', ParameterValue: 't-abc' },
            { ParameterKey: 'ModelDataUrl', ParameterValue: 's3://b/models/t-abc/model.tar.gz' },
            { ParameterKey: 'ValidationAccuracy', ParameterValue: '0.87' },
            // DescribeStacks (API reference, Stack.Parameters) lists every parameter, defaults included.
            { ParameterKey: 'ConfidenceThreshold', ParameterValue: '0.9' },
          ],
        },
      ],
    });
    expect(await readStackChampion(client(), 's')).to.deep.equal({ trainingId: 't-abc', accuracy: 0.87 });
    expect(await readStackModel(client(), 's')).to.deep.equal({
      trainingId: 't-abc',
      modelUri: 's3://b/models/t-abc/model.tar.gz',
      validationAccuracy: 0.87,
      threshold: 0.9,
    });
  });

  it('has no champion without a stack, or when the stack rolled back its creation', async () => {
    cfn.on(DescribeStacksCommand).rejectsOnce(new Error('Stack with id s does not exist'));
    expect(await readStackChampion(client(), 's')).to.equal(undefined);
    cfn
      .on(DescribeStacksCommand)
      .resolves({ Stacks: [{ StackName: 's', StackStatus: 'ROLLBACK_COMPLETE', CreationTime: new Date() }] });
    expect(await readStackChampion(client(), 's')).to.equal(undefined);
  });
});
