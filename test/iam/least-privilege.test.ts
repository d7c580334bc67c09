import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { authorize, type NeededPermission, permissionsFor } from './authorize.js';
import { type ResolvedRole, resolvedRoles, TEST_ACCOUNT, WORKFLOW_TEST_PARAMETERS } from './roles.js';
import { type ActorRun, lambdaRuns, pipelineJobs, previewJob } from './scenarios.js';

const { partition, region, accountId, bucket, workflowStack } = TEST_ACCOUNT;
const roles = resolvedRoles();
const role = (id: string): ResolvedRole => {
  const found = roles[id];
  if (found === undefined) throw new Error(`no role ${id} in the templates`);
  return found;
};

/** Statement ids (policy#index) that allowed at least one checked permission, per role. */
const used = new Map<string, Set<string>>();
async function check(roleId: string, needed: NeededPermission, actor: string): Promise<string | undefined> {
  const decision = await authorize(role(roleId), needed);
  const set = used.get(roleId) ?? new Set<string>();
  for (const id of decision.allowedBy) set.add(id);
  used.set(roleId, set);
  return decision.allowed
    ? undefined
    : `${actor} (${roleId}) is denied ${needed.action} on ${needed.resource} [${needed.because}]: ${decision.detail}`;
}

const WRITES =
  /^(s3:(PutObject|DeleteObject)|cloudformation:(ExecuteChangeSet|DeleteStack|CreateStack|UpdateStack))$/;

describe('IAM: every AWS call is allowed by the role that makes it (iam-simulate, templates as written)', function () {
  this.timeout(120_000);
  const runs: Promise<ActorRun[]> = (async () => [
    await pipelineJobs(),
    await previewJob(),
    ...(await lambdaRuns()),
  ])();

  it('pipeline jobs on the aws backend: every recorded call is allowed by DeployRole', async () => {
    const run = (await runs)[0] as ActorRun;
    expect(run.calls.length).to.be.greaterThan(20);
    const denied: string[] = [];
    for (const call of run.calls)
      for (const needed of permissionsFor(call)) {
        const problem = await check(run.role, needed, run.actor);
        if (problem !== undefined) denied.push(problem);
      }
    expect(denied, denied.join('\n')).to.deep.equal([]);
  });

  it('preview job: every read it makes is allowed by PreviewRole, and PreviewRole can write nothing', async () => {
    const run = (await runs)[1] as ActorRun;
    const denied: string[] = [];
    for (const call of run.calls)
      for (const needed of permissionsFor(call)) {
        if (WRITES.test(needed.action)) continue;
        const problem = await check(run.role, needed, run.actor);
        if (problem !== undefined) denied.push(problem);
      }
    expect(denied, denied.join('\n')).to.deep.equal([]);
    // A missing key must answer 404, not 403 (S3 answers 403 for a missing key when the caller lacks
    // s3:ListBucket: https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html).
    for (const prefix of ['runs/pr-7/', 'lambdas/', 'templates/'])
      expect(
        await check(
          'PreviewRole',
          {
            action: 's3:ListBucket',
            resource: `arn:${partition}:s3:::${bucket}`,
            context: { 's3:prefix': `${prefix}x` },
            because: 'HeadObject on a missing key',
          },
          'preview job',
        ),
      ).to.equal(undefined);
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
    if (recordedWrites.length > 0)
      console.log(
        `      preview code still sends ${recordedWrites.length} write(s) the read-only preview role denies: ${[
          ...new Set(recordedWrites.map((p) => `${p.action} ${p.resource}`)),
        ].join(', ')}`,
      );
  });

  it('Lambdas: serialize and classify are allowed what their handlers call by their execution roles', async () => {
    const lambdas = (await runs).slice(2);
    expect(lambdas.map((r) => r.calls.length)).to.deep.equal([1, 1]);
    const denied: string[] = [];
    for (const run of lambdas)
      for (const call of run.calls)
        for (const needed of permissionsFor(call)) {
          const problem = await check(run.role, needed, run.actor);
          if (problem !== undefined) denied.push(problem);
        }
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
    const create = (await runs)[0]?.calls.find((c) => c.command === 'CreateTrainingJob');
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
    needed.push(
      {
        action: 's3:GetObject',
        resource: s3(WORKFLOW_TEST_PARAMETERS.ModelDataUrl as string),
        because: 'the Model loads ModelDataUrl',
      },
      {
        action: 's3:PutObject',
        resource: `${s3(WORKFLOW_TEST_PARAMETERS.DataCaptureS3Uri as string)}/AllTraffic/2026/01/01/00/c.jsonl`,
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

  it('the state machine role may invoke the three functions the definition names', async () => {
    const denied: string[] = [];
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

  describe('CloudFormation handler permissions (resource provider schemas)', () => {
    const data = JSON.parse(
      readFileSync(join(import.meta.dirname, 'data', 'handler-permissions.json'), 'utf8'),
    ) as {
      source: string;
      types: Record<string, Record<'create' | 'update' | 'delete', string[]>>;
      missing: string[];
    };
    /** The resource each handler acts on, in the workflow stack under test, and the service a role goes to. */
    const targets: Record<string, { resource: string; passedTo?: string }> = {
      'AWS::StepFunctions::StateMachine': {
        resource: `arn:${partition}:states:${region}:${accountId}:stateMachine:${workflowStack}-workflow`,
        passedTo: 'states.amazonaws.com',
      },
      'AWS::Logs::LogGroup': {
        resource: `arn:${partition}:logs:${region}:${accountId}:log-group:/aws/lambda/${workflowStack}-classify-image`,
      },
    };
    for (const [type, handlers] of Object.entries(data.types))
      it(`${type}: DeployRole allows what its create, update and delete handlers list`, async () => {
        const target = targets[type];
        expect(target, `a target ARN for ${type}`).to.not.equal(undefined);
        const denied: string[] = [];
        for (const [handler, permissions] of Object.entries(handlers))
          for (const action of permissions) {
            const resource =
              action === 'iam:PassRole'
                ? role('StateMachineRole').arn
                : action === 's3:GetObject'
                  ? `arn:${partition}:s3:::${bucket}/${WORKFLOW_TEST_PARAMETERS.StateMachineDefinitionKey}`
                  : (target?.resource as string);
            const problem = await check(
              'DeployRole',
              {
                action,
                resource,
                ...(action === 'iam:PassRole' && target?.passedTo
                  ? { context: { 'iam:PassedToService': target.passedTo } }
                  : {}),
                because: `${type} ${handler} handler`,
              },
              'CloudFormation with the deploy role',
            );
            if (problem !== undefined) denied.push(problem);
          }
        expect(denied, denied.join('\n')).to.deep.equal([]);
      });
    it('names its source and the types it could not cover', () => {
      expect(data.source).to.match(/resource-providers/);
      if (data.missing.length > 0)
        console.log(`      no handler schema on file for: ${data.missing.join(', ')}`);
    });
  });

  after('least-privilege report: statements no checked call or handler needed', () => {
    const lines: string[] = [];
    for (const [id, r] of Object.entries(roles)) {
      if (!used.has(id)) continue;
      const unused: string[] = [];
      let total = 0;
      for (const p of r.policies)
        for (const [i, s] of p.document.Statement.entries()) {
          total++;
          const sid = s.Sid ?? `${p.name}#${i}`;
          if (!used.get(id)?.has(sid)) unused.push(`${sid} (${[s.Action].flat().join(', ')})`);
        }
      lines.push(
        `      ${id}: ${total - unused.length}/${total} statements used${unused.length ? `; unused: ${unused.join('; ')}` : ''}`,
      );
    }
    console.log(`\n    least-privilege report\n${lines.join('\n')}`);
  });
});
