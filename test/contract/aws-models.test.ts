import { expect } from 'chai';
import { requiredCapabilities } from '../../pipeline/backends/aws/stacks.js';
import {
  BOOTSTRAP_TEMPLATE,
  loadTemplate,
  parseTemplate,
  WORKFLOW_TEMPLATE,
} from '../../pipeline/templates/template.js';
import { insufficientCapabilities } from '../aws-models/change-set-capabilities.js';
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

  // CreateChangeSet API reference, Capabilities: IAM resources need CAPABILITY_IAM or CAPABILITY_NAMED_IAM,
  // custom-named ones CAPABILITY_NAMED_IAM; otherwise InsufficientCapabilitiesException.
  describe('CreateChangeSet refuses a template needing a capability the request lacks (InsufficientCapabilitiesException)', () => {
    const templates = {
      none: 'Resources:\n  Bucket:\n    Type: AWS::S3::Bucket\n',
      iam: 'Resources:\n  Role:\n    Type: AWS::IAM::Role\n    Properties:\n      AssumeRolePolicyDocument: {}\n',
      inlinePolicy:
        'Resources:\n  Policy:\n    Type: AWS::IAM::Policy\n    Properties:\n      PolicyName: p\n      PolicyDocument: {}\n',
      named: [
        'Resources:',
        '  Boundary:',
        '    Type: AWS::IAM::ManagedPolicy',
        '    Properties:',
        '      ManagedPolicyName: scones-b',
        '      PolicyDocument: {}',
      ].join('\n'),
      macro: 'Transform: AWS::Serverless-2016-10-31\nResources:\n  Bucket:\n    Type: AWS::S3::Bucket\n',
    };
    const refusal = (body: string, capabilities: string[]) =>
      insufficientCapabilities({ TemplateBody: body, Capabilities: capabilities })?.message;

    it('the mock decides from the template: none, CAPABILITY_IAM, or CAPABILITY_NAMED_IAM for a custom name', () => {
      expect(refusal(templates.none, [])).to.equal(undefined);
      expect(refusal(templates.iam, [])).to.equal('Requires capabilities : [CAPABILITY_IAM]');
      expect(refusal(templates.iam, ['CAPABILITY_NAMED_IAM'])).to.equal(undefined);
      expect(refusal(templates.inlinePolicy, ['CAPABILITY_IAM'])).to.equal(undefined);
      expect(refusal(templates.named, ['CAPABILITY_IAM'])).to.equal(
        'Requires capabilities : [CAPABILITY_NAMED_IAM]',
      );
      // "This capacity doesn't apply to creating change sets": a macro needs no acknowledgement here.
      expect(refusal(templates.macro, [])).to.equal(undefined);
    });

    it('the stacks code sends what each template needs, the two templates of the project included', () => {
      for (const [name, body] of Object.entries(templates)) {
        const capabilities = requiredCapabilities(parseTemplate(body, name));
        expect(refusal(body, capabilities), name).to.equal(undefined);
      }
      expect(requiredCapabilities(parseTemplate(templates.macro, 'macro'))).to.deep.equal([
        'CAPABILITY_AUTO_EXPAND',
      ]);
      expect(requiredCapabilities(loadTemplate(BOOTSTRAP_TEMPLATE))).to.deep.equal(['CAPABILITY_NAMED_IAM']);
      expect(requiredCapabilities(loadTemplate(WORKFLOW_TEMPLATE))).to.deep.equal(['CAPABILITY_IAM']);
    });
  });
});
