import { expect } from 'chai';
import { loadModel, requestProblems } from '../aws-models/request-check.js';

describe('AWS request check: the published service models reject what AWS would', () => {
  const cloudformation = loadModel('cloudformation');
  const sagemaker = loadModel('sagemaker');
  const stepfunctions = loadModel('stepfunctions');

  it('names its source: a botocore release', () => {
    for (const model of [cloudformation, sagemaker, stepfunctions])
      expect(model.source).to.match(/^botocore \d+\.\d+\.\d+, data\//);
  });

  it('accepts a valid CreateChangeSet', () => {
    expect(
      requestProblems(cloudformation, 'CreateChangeSet', {
        StackName: 'scones-workflow',
        ChangeSetName: 'scones-run-1',
        ChangeSetType: 'CREATE',
        Capabilities: ['CAPABILITY_IAM'],
        Parameters: [{ ParameterKey: 'A', ParameterValue: 'b' }],
      }),
    ).to.deep.equal([]);
  });

  it('a misspelt member, an enum value the service does not know and a missing required member fail', () => {
    const problems = requestProblems(cloudformation, 'CreateChangeSet', {
      Stackname: 'scones-workflow',
      ChangeSetName: 'scones-run-1',
      ChangeSetType: 'CREAT',
    });
    expect(problems).to.include('CloudFormation CreateChangeSet has no member Stackname');
    expect(problems).to.include('CloudFormation CreateChangeSet is missing required member StackName');
    expect(
      problems.some((p) => p.includes('ChangeSetType = "CREAT" is not one of CREATE, UPDATE, IMPORT')),
    ).to.equal(true);
  });

  it('a change set name against its documented pattern and a training job name over 63 characters fail', () => {
    expect(
      requestProblems(cloudformation, 'DescribeChangeSet', {
        StackName: 's',
        ChangeSetName: 'run_1.2',
      }).join(),
    ).to.include('does not match');
    const problems = requestProblems(sagemaker, 'DescribeTrainingJob', {
      TrainingJobName: `a${'b'.repeat(63)}`,
    });
    expect(problems.join()).to.include('more than 63');
  });

  it('a Step Functions input over the 256 KiB payload limit fails', () => {
    const problems = requestProblems(stepfunctions, 'StartExecution', {
      stateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:m',
      input: 'x'.repeat(262_145),
    });
    expect(problems).to.deep.equal(['SFN StartExecution.input has 262145 characters, more than 262144']);
  });

  it('GetExecutionHistory: a page over 1000 events and an empty nextToken fail', () => {
    const executionArn = 'arn:aws:states:us-east-1:123456789012:execution:m:run-case-000';
    expect(
      requestProblems(stepfunctions, 'GetExecutionHistory', {
        executionArn,
        reverseOrder: true,
        includeExecutionData: false,
        maxResults: 100,
      }),
    ).to.deep.equal([]);
    expect(
      requestProblems(stepfunctions, 'GetExecutionHistory', {
        executionArn,
        maxResults: 1001,
        nextToken: '',
      }),
    ).to.deep.equal([
      'SFN GetExecutionHistory.maxResults = 1001 is above 1000',
      'SFN GetExecutionHistory.nextToken has 0 characters, fewer than 1',
    ]);
  });
});
