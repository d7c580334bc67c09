import {
  CloudFormationClient,
  CreateChangeSetCommand,
  DescribeChangeSetCommand,
  DescribeStacksCommand,
  ExecuteChangeSetCommand,
} from '@aws-sdk/client-cloudformation';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { expect } from 'chai';
import { bootstrap } from '../../pipeline/backends/aws/bootstrap.js';
import { insufficientCapabilities } from '../aws-models/change-set-capabilities.js';
import { captureReporter, testConfig } from '../helpers/workspace.js';

describe('scones bootstrap (aws-sdk-client-mock)', () => {
  let cfn: AwsClientStub<CloudFormationClient>;
  before(() => {
    cfn = mockClient(CloudFormationClient);
  });
  beforeEach(() => cfn.reset());
  after(() => cfn.restore());

  // bootstrap.yaml names its boundary policy (ManagedPolicyName): CreateChangeSet refuses it without
  // CAPABILITY_NAMED_IAM (InsufficientCapabilitiesException, CreateChangeSet API reference, Capabilities).
  it('deploys bootstrap.yaml acknowledging CAPABILITY_NAMED_IAM for its custom-named IAM policy, with the bucket and repository, and prints the repository variables', async () => {
    cfn
      .on(DescribeStacksCommand)
      .rejectsOnce(new Error('Stack with id scones-bootstrap does not exist'))
      .resolves({
        Stacks: [
          {
            StackName: 'scones-bootstrap',
            StackStatus: 'CREATE_COMPLETE',
            CreationTime: new Date(),
            Outputs: [
              { OutputKey: 'ArtifactBucketName', OutputValue: 'team-bucket' },
              { OutputKey: 'SageMakerRoleArn', OutputValue: 'arn:aws:iam::123456789012:role/sm' },
              { OutputKey: 'DeployRoleArn', OutputValue: 'arn:aws:iam::123456789012:role/deploy' },
              { OutputKey: 'PreviewRoleArn', OutputValue: 'arn:aws:iam::123456789012:role/preview' },
            ],
          },
        ],
      });
    cfn.on(CreateChangeSetCommand).callsFake(async (input) => {
      const refused = insufficientCapabilities(input);
      if (refused !== undefined) throw refused;
      return { Id: 'cs', StackId: 'stack' };
    });
    cfn.on(DescribeChangeSetCommand).resolves({ Status: 'CREATE_COMPLETE', Changes: [] });
    cfn.on(ExecuteChangeSetCommand).resolves({});
    const { reporter, stream } = captureReporter();
    const config = testConfig({ backend: 'aws', region: 'eu-west-1', bucket: 'team-bucket' });
    const variables = await bootstrap(
      config,
      { githubRepository: 'acme/scones' },
      reporter,
      new CloudFormationClient({ region: 'eu-west-1' }),
    );
    const sent = cfn.commandCalls(CreateChangeSetCommand)[0]!.args[0].input;
    expect(sent).to.include({ StackName: 'scones-bootstrap', ChangeSetType: 'CREATE' });
    expect(sent.Capabilities).to.deep.equal(['CAPABILITY_NAMED_IAM']);
    expect(Object.fromEntries(sent.Parameters!.map((p) => [p.ParameterKey, p.ParameterValue]))).to.deep.equal(
      {
        BucketName: 'team-bucket',
        WorkflowStackName: 'scones-workflow',
        GitHubRepository: 'acme/scones',
        CreateOidcProvider: 'true',
        ExistingOidcProviderArn: '',
      },
    );
    expect(variables).to.deep.equal({
      AWS_REGION: 'eu-west-1',
      SCONES_BUCKET: 'team-bucket',
      SCONES_SAGEMAKER_ROLE_ARN: 'arn:aws:iam::123456789012:role/sm',
      AWS_DEPLOY_ROLE_ARN: 'arn:aws:iam::123456789012:role/deploy',
      AWS_PREVIEW_ROLE_ARN: 'arn:aws:iam::123456789012:role/preview',
    });
    expect(stream.text).to.include('AWS_DEPLOY_ROLE_ARN=arn:aws:iam::123456789012:role/deploy');
  });

  it('refuses a malformed repository name', async () => {
    const config = testConfig({ backend: 'aws' });
    const attempt = bootstrap(
      config,
      { githubRepository: 'not a repo' },
      captureReporter().reporter,
      new CloudFormationClient({ region: 'us-east-1' }),
    );
    const error = await attempt.then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error?.message).to.match(/--github-repository not a repo: expected owner\/name/);
  });
});
