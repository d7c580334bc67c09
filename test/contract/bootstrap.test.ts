import {
  CloudFormationClient,
  CreateChangeSetCommand,
  DescribeChangeSetCommand,
  DescribeStackEventsCommand,
  DescribeStacksCommand,
  ExecuteChangeSetCommand,
} from '@aws-sdk/client-cloudformation';
import { HeadBucketCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { expect } from 'chai';
import { bootstrap } from '../../pipeline/backends/aws/bootstrap.js';
import { StageFailedError } from '../../pipeline/errors.js';
import { insufficientCapabilities } from '../aws-models/change-set-capabilities.js';
import { captureReporter, testConfig } from '../helpers/workspace.js';

/** HeadBucket on a free name: 404 with no body (S3 API reference, HeadBucket). */
const noSuchBucket = () =>
  new S3ServiceException({ name: 'NotFound', $fault: 'client', $metadata: { httpStatusCode: 404 } });

describe('scones bootstrap (aws-sdk-client-mock)', () => {
  let cfn: AwsClientStub<CloudFormationClient>;
  let s3: AwsClientStub<S3Client>;
  before(() => {
    cfn = mockClient(CloudFormationClient);
    s3 = mockClient(S3Client);
  });
  beforeEach(() => {
    cfn.reset();
    s3.reset();
    s3.on(HeadBucketCommand).rejects(noSuchBucket());
  });
  after(() => {
    cfn.restore();
    s3.restore();
  });
  const run = (repository = 'acme/scones', overrides: Record<string, unknown> = {}) => {
    const { reporter, stream } = captureReporter();
    const config = testConfig({ backend: 'aws', region: 'eu-west-1', bucket: 'team-bucket', ...overrides });
    const attempt = bootstrap(
      config,
      { githubRepository: repository },
      reporter,
      new CloudFormationClient({ region: 'eu-west-1' }),
      new S3Client({ region: 'eu-west-1' }),
    );
    return { attempt, stream };
  };

  // bootstrap.yaml names its boundary policy (ManagedPolicyName): CreateChangeSet refuses it without
  // CAPABILITY_NAMED_IAM (InsufficientCapabilitiesException, CreateChangeSet API reference, Capabilities).
  it('deploys bootstrap.yaml acknowledging CAPABILITY_NAMED_IAM for its custom-named IAM policy, with the bucket and repository, and prints the repository variables', async () => {
    cfn
      .on(DescribeStacksCommand)
      // The stack does not exist until the change set is made: bootstrap and the change set both look first.
      .rejectsOnce(new Error('Stack with id scones-bootstrap does not exist'))
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
    const { attempt, stream } = run();
    const variables = await attempt;
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
    // The environment subject names no branch: bootstrap prints the rule that limits production to main.
    expect(stream.text)
      .to.include('gh api -X PUT repos/acme/scones/environments/production')
      .and.include('deployment_branch_policy[custom_branch_policies]=true')
      .and.include('repos/acme/scones/environments/production/deployment-branch-policies -f name=main');
  });

  it('a bucket kept by an earlier failed bootstrap (HeadBucket 200, DeletionPolicy Retain) stops it before any change set, saying what to do', async () => {
    cfn.on(DescribeStacksCommand).rejects(new Error('Stack with id scones-bootstrap does not exist'));
    s3.on(HeadBucketCommand).resolves({});
    const error = (await run().attempt.catch((e: unknown) => e)) as Error;
    expect(error).to.be.instanceOf(StageFailedError);
    expect(error.message)
      .to.include('bucket team-bucket already exists')
      .and.include('aws s3 rb s3://team-bucket');
    expect(cfn.commandCalls(CreateChangeSetCommand)).to.have.length(0);
  });

  // IAM CreateOpenIDConnectProvider: one provider per URL per account, else EntityAlreadyExists; CloudFormation
  // reports the handler's message in the stack events and the create rolls back.
  it("an account that already has GitHub's OIDC provider: the failed create names --existing-oidc-provider-arn", async () => {
    cfn
      .on(DescribeStacksCommand)
      .rejectsOnce(new Error('Stack with id scones-bootstrap does not exist'))
      .rejectsOnce(new Error('Stack with id scones-bootstrap does not exist'))
      .resolves({
        Stacks: [
          { StackName: 'scones-bootstrap', StackStatus: 'ROLLBACK_COMPLETE', CreationTime: new Date() },
        ],
      });
    cfn.on(CreateChangeSetCommand).resolves({ Id: 'cs', StackId: 'stack' });
    cfn.on(DescribeChangeSetCommand).resolves({ Status: 'CREATE_COMPLETE', Changes: [] });
    cfn.on(ExecuteChangeSetCommand).resolves({});
    cfn.on(DescribeStackEventsCommand).resolves({
      StackEvents: [
        {
          StackId: 'stack',
          EventId: 'e1',
          StackName: 'scones-bootstrap',
          Timestamp: new Date(),
          LogicalResourceId: 'GitHubOidcProvider',
          ResourceType: 'AWS::IAM::OIDCProvider',
          ResourceStatus: 'CREATE_FAILED',
          ResourceStatusReason:
            'Resource handler returned message: "Provider with url https://token.actions.githubusercontent.com already exists. (Service: Iam, Status Code: 409)" (HandlerErrorCode: AlreadyExists)',
        },
      ],
    });
    const error = (await run().attempt.catch((e: unknown) => e)) as Error;
    expect(error).to.be.instanceOf(StageFailedError);
    expect(error.message).to.include('run bootstrap again with --existing-oidc-provider-arn');
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
