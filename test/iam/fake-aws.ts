import { readFileSync } from 'node:fs';
import {
  CloudFormationClient,
  CreateChangeSetCommand,
  DeleteChangeSetCommand,
  DeleteStackCommand,
  DescribeChangeSetCommand,
  DescribeStackEventsCommand,
  DescribeStacksCommand,
  ExecuteChangeSetCommand,
  type StackStatus,
} from '@aws-sdk/client-cloudformation';
import { CloudWatchClient, DescribeAlarmHistoryCommand } from '@aws-sdk/client-cloudwatch';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import {
  CreateModelCommand,
  CreateTrainingJobCommand,
  CreateTransformJobCommand,
  DeleteModelCommand,
  DescribeEndpointCommand,
  DescribeModelCommand,
  DescribeTrainingJobCommand,
  DescribeTransformJobCommand,
  SageMakerClient,
} from '@aws-sdk/client-sagemaker';
import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  type HistoryEventType,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { inferenceIdFor } from '../../pipeline/contracts/inference-id.js';
import { loadTemplate, STATE_MACHINE_DEFINITION } from '../../pipeline/templates/template.js';
import { insufficientCapabilities } from '../aws-models/change-set-capabilities.js';
import { loadModel, requestProblems } from '../aws-models/request-check.js';
import { describedWorkflowStack } from '../helpers/workflow-stack.js';
import { TEST_ACCOUNT } from './roles.js';

const MODEL_FILES = {
  s3: 's3',
  cloudformation: 'cloudformation',
  cloudwatch: 'cloudwatch',
  sagemaker: 'sagemaker',
  'sagemaker-runtime': 'sagemaker-runtime',
  states: 'stepfunctions',
} as const;

/** One request the code sent: the SDK client's service, the command and its input. */
export interface RecordedCall {
  service: 's3' | 'cloudformation' | 'cloudwatch' | 'sagemaker' | 'sagemaker-runtime' | 'states';
  command: string;
  input: Record<string, unknown>;
}

const { partition, region, accountId } = TEST_ACCOUNT;
const notFound = (name: string, status: number, message: string) =>
  Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } });

/** What the fake endpoint answers for every image: class probabilities, as the classify Lambda reads them. */
const ENDPOINT_PROBABILITIES = [0.97, 0.03];

const template = loadTemplate();

/** The alarms' names in the template, after `<stack>-` (AlarmName: !Sub "${AWS::StackName}-..."). */
const ROLLOUT_ALARMS = Object.values(template.Resources)
  .filter((r) => r.Type === 'AWS::CloudWatch::Alarm')
  .map((r) => {
    const sub = (r.Properties?.AlarmName as { 'Fn::Sub'?: string } | undefined)?.['Fn::Sub'] ?? '';
    return sub.replace(/^\$\{AWS::StackName\}-/, '');
  });

/** The workflow template's outputs that are a parameter's value (`!Ref Parameter`): [output, parameter]. */
/** The endpoint's variant as the template names it: SageMaker writes its capture under this folder. */
const VARIANT_NAME = (() => {
  const variants = template.Resources.EndpointConfig?.Properties?.ProductionVariants as
    | { VariantName?: string }[]
    | undefined;
  const name = variants?.[0]?.VariantName;
  if (name === undefined) throw new Error('workflow.yaml: EndpointConfig declares no VariantName');
  return name;
})();

/** How an execution of the fake's state machine ends when it does not succeed. */
export interface FakeExecutionFailure {
  /** The state it stops in. */
  state: string;
  /** FAILED (the state's task failed), TIMED_OUT (it was still running) or ABORTED. */
  status?: 'FAILED' | 'TIMED_OUT' | 'ABORTED';
  error: string;
  cause: string;
}

interface AslState {
  Type: string;
  Resource?: string;
  Next?: string;
  End?: boolean;
  Parameters?: { FunctionName?: string };
}

/** A closed execution: what DescribeExecution and GetExecutionHistory answer for it. */
interface FakeExecution {
  status: 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';
  input: string;
  output?: string;
  error?: string;
  cause?: string;
  events: HistoryEvent[];
  /** nextTokens handed out for its history, with the offset each continues from. */
  tokens: Map<string, number>;
}

/** An InvokeEndpoint the state machine made, not yet delivered to S3 as capture. */
interface Invocation {
  at: Date;
  inferenceId: string;
  image: Uint8Array;
}

/**
 * An in-memory AWS that answers the commands the aws backend sends, with state, and records every
 * request, enough to drive the code paths whose permissions are under test. Each answer is shaped as
 * the API reference documents it (pages named at each handler).
 */
export class FakeAws {
  readonly calls: RecordedCall[] = [];
  readonly objects = new Map<string, Uint8Array>();
  private stackStatus: string | undefined;
  private stackOutputs: { OutputKey: string; OutputValue: string }[] = [];
  private stackParameters: { ParameterKey?: string; ParameterValue?: string }[] = [];
  private pendingParameters: { ParameterKey?: string; ParameterValue?: string }[] = [];
  private changeSetType: string | undefined;
  private readonly jobs = new Map<string, Record<string, unknown>>();
  private readonly models = new Set<string>();
  private readonly transformJobs = new Map<string, { describes: number; job: Record<string, unknown> }>();
  /** Endpoint invocations whose capture has not reached S3 yet (see deliverCapture). */
  private readonly undelivered: Invocation[] = [];
  private readonly executions = new Map<string, FakeExecution>();
  private historyCalls = 0;
  private readonly stubs: { restore(): void }[] = [];

  constructor(
    private readonly options: {
      stackStatus?: string;
      stackOutputs?: Record<string, string>;
      /** The deployed stack's parameters (DescribeStacks returns them with the stack). */
      stackParameters?: Record<string, string>;
      /** DescribeChangeSet answers FAILED "didn't contain changes", as for an unchanged template and inputs. */
      emptyChangeSet?: boolean;
      /** The status the stack ends in after ExecuteChangeSet (default CREATE_COMPLETE). */
      executeEndsIn?: string;
      /** The alarm that goes to ALARM (and back to OK) during the endpoint's rollout. */
      rolloutTrips?: string;
      /** How the execution with this name ends; undefined: it succeeds. */
      failExecution?: (name: string) => FakeExecutionFailure | undefined;
      /** The state machine definition the executions run (default cloudformation/state-machine.asl.json). */
      definition?: { StartAt: string; States: Record<string, AslState> };
      /** The first N GetExecutionHistory requests are throttled. */
      throttleHistory?: number;
    } = {},
  ) {
    this.stackStatus = options.stackStatus;
    // An existing stack that was deployed is described with every parameter and output, as DescribeStacks does.
    const deployed =
      options.stackStatus === undefined
        ? undefined
        : describedWorkflowStack(options.stackStatus as StackStatus, {}, TEST_ACCOUNT.workflowStack);
    if (options.stackParameters === undefined && deployed !== undefined) {
      this.stackParameters = (deployed.Parameters ?? []).map((p) => ({
        ParameterKey: p.ParameterKey ?? '',
        ParameterValue: p.ParameterValue ?? '',
      }));
      this.stackOutputs = (deployed.Outputs ?? []).map((o) => ({
        OutputKey: o.OutputKey ?? '',
        OutputValue: o.OutputValue ?? '',
      }));
      return;
    }
    this.stackParameters = Object.entries(options.stackParameters ?? {}).map(
      ([ParameterKey, ParameterValue]) => ({
        ParameterKey,
        ParameterValue,
      }),
    );
    this.stackOutputs = Object.entries(options.stackOutputs ?? {}).map(([OutputKey, OutputValue]) => ({
      OutputKey,
      OutputValue,
    }));
  }

  /** Replaces every client of these services (prototype-wide) with this fake until restore(). */
  install(): this {
    const record = (service: RecordedCall['service'], command: string) => (input: object) => {
      this.calls.push({ service, command, input: input as Record<string, unknown> });
      const problems = requestProblems(loadModel(MODEL_FILES[service]), command, input);
      if (problems.length > 0) throw new Error(`request the service model rejects: ${problems.join('; ')}`);
    };
    const s3 = mockClient(S3Client);
    const key = (input: { Bucket?: string; Key?: string }) => `${input.Bucket}/${input.Key}`;
    s3.on(PutObjectCommand).callsFake(async (input) => {
      record('s3', 'PutObject')(input);
      const body = input.Body;
      this.objects.set(key(input), typeof body === 'string' ? Buffer.from(body) : (body as Uint8Array));
      return { ETag: '"e"' };
    });
    // GetObject on a missing key: 404 NoSuchKey when the caller may list the bucket
    // (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html, "Permissions").
    s3.on(GetObjectCommand).callsFake(async (input) => {
      record('s3', 'GetObject')(input);
      const bytes = this.objects.get(key(input));
      if (bytes === undefined) throw notFound('NoSuchKey', 404, 'The specified key does not exist.');
      return { ContentLength: bytes.length, Body: { transformToByteArray: async () => bytes } };
    });
    // HeadObject has no body, so a missing key is a bare 404 "NotFound" (403 without s3:ListBucket)
    // (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html).
    s3.on(HeadObjectCommand).callsFake(async (input) => {
      record('s3', 'HeadObject')(input);
      const bytes = this.objects.get(key(input));
      if (bytes === undefined) throw notFound('NotFound', 404, 'NotFound');
      return { ContentLength: bytes.length, LastModified: new Date(0) };
    });
    // Keys under Prefix, KeyCount, IsTruncated (https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html).
    s3.on(ListObjectsV2Command).callsFake(async (input) => {
      record('s3', 'ListObjectsV2')(input);
      const prefix = `${input.Bucket}/${input.Prefix ?? ''}`;
      const Contents = [...this.objects.entries()]
        .filter(([k]) => k.startsWith(prefix))
        .map(([k, v]) => ({
          Key: k.slice(`${input.Bucket}/`.length),
          Size: v.length,
          LastModified: new Date(0),
        }));
      return { Contents, KeyCount: Contents.length, IsTruncated: false };
    });
    s3.on(DeleteObjectCommand).callsFake(async (input) => {
      record('s3', 'DeleteObject')(input);
      this.objects.delete(key(input));
      return {};
    });

    const cfn = mockClient(CloudFormationClient);
    const stackName = TEST_ACCOUNT.workflowStack;
    // A stack that does not exist is a ValidationError "Stack with id NAME does not exist"
    // (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStacks.html, Errors).
    cfn.on(DescribeStacksCommand).callsFake(async (input) => {
      record('cloudformation', 'DescribeStacks')(input);
      if (this.stackStatus === undefined)
        throw notFound('ValidationError', 400, `Stack with id ${input.StackName} does not exist`);
      return {
        Stacks: [
          {
            StackName: stackName,
            StackId: `arn:${partition}:cloudformation:${region}:${accountId}:stack/${stackName}/0a1b2c3d`,
            StackStatus: this.stackStatus,
            CreationTime: new Date(0),
            Outputs: this.stackOutputs,
            Parameters: this.stackParameters,
          },
        ],
      };
    });
    // A CREATE change set makes the stack exist in REVIEW_IN_PROGRESS until executed
    // (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateChangeSet.html).
    cfn.on(CreateChangeSetCommand).callsFake(async (input) => {
      record('cloudformation', 'CreateChangeSet')(input);
      const refused = insufficientCapabilities(input);
      if (refused !== undefined) throw refused;
      if (input.ChangeSetType === 'CREATE') this.stackStatus = 'REVIEW_IN_PROGRESS';
      this.changeSetType = input.ChangeSetType;
      this.pendingParameters = input.Parameters ?? [];
      return { Id: 'cs', StackId: 'stack' };
    });
    // Status CREATE_COMPLETE with Changes, or FAILED with a StatusReason; an unchanged template fails with
    // "The submitted information didn't contain changes..."
    // (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeChangeSet.html).
    cfn.on(DescribeChangeSetCommand).callsFake(async (input) => {
      record('cloudformation', 'DescribeChangeSet')(input);
      if (this.options.emptyChangeSet === true)
        return {
          Status: 'FAILED',
          StatusReason:
            "The submitted information didn't contain changes. Submit different information to create a change set.",
        };
      return {
        Status: 'CREATE_COMPLETE',
        Changes: [
          {
            Type: 'Resource',
            ResourceChange: {
              // A new stack adds the endpoint; an update with a new model modifies it (a guarded rollout).
              Action: this.changeSetType === 'CREATE' ? 'Add' : 'Modify',
              LogicalResourceId: 'Endpoint',
              ResourceType: 'AWS::SageMaker::Endpoint',
            },
          },
        ],
      };
    });
    // The stack's outputs are the template's: the names of the resources it made.
    cfn.on(ExecuteChangeSetCommand).callsFake(async (input) => {
      record('cloudformation', 'ExecuteChangeSet')(input);
      this.stackStatus = this.options.executeEndsIn ?? 'CREATE_COMPLETE';
      // A rolled-back update returns the stack to its previous configuration, parameters included
      // (CloudFormation User Guide, "Stack status codes": UPDATE_ROLLBACK_COMPLETE).
      if (!this.stackStatus.startsWith('UPDATE_ROLLBACK')) this.stackParameters = this.pendingParameters;
      this.stackOutputs = [
        { OutputKey: 'EndpointName', OutputValue: `${stackName}-endpoint` },
        {
          OutputKey: 'StateMachineArn',
          OutputValue: `arn:${partition}:states:${region}:${accountId}:stateMachine:${stackName}-workflow`,
        },
      ];
      return {};
    });
    cfn.on(DeleteChangeSetCommand).callsFake(async (input) => {
      record('cloudformation', 'DeleteChangeSet')(input);
      if (this.stackStatus === 'REVIEW_IN_PROGRESS') this.stackStatus = undefined;
      return {};
    });
    cfn.on(DeleteStackCommand).callsFake(async (input) => {
      record('cloudformation', 'DeleteStack')(input);
      this.stackStatus = undefined;
      return {};
    });
    cfn.on(DescribeStackEventsCommand).callsFake(async (input) => {
      record('cloudformation', 'DescribeStackEvents')(input);
      return {
        StackEvents: [
          {
            StackId: 'stack',
            EventId: 'e1',
            StackName: String(input.StackName),
            Timestamp: new Date(0),
            LogicalResourceId: 'Endpoint',
            ResourceType: 'AWS::SageMaker::Endpoint',
            ResourceStatus: 'UPDATE_FAILED',
            ResourceStatusReason: 'Resource handler returned message: "Access denied"',
          },
        ],
      };
    });

    const sagemaker = mockClient(SageMakerClient);
    // Answers TrainingJobArn; the job's artifact is S3OutputPath/<job name>/output/model.tar.gz
    // (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateTrainingJob.html,
    // API_DescribeTrainingJob.html ModelArtifacts).
    sagemaker.on(CreateTrainingJobCommand).callsFake(async (input) => {
      record('sagemaker', 'CreateTrainingJob')(input);
      const name = String(input.TrainingJobName);
      this.jobs.set(name, {
        TrainingJobName: name,
        TrainingJobStatus: 'Completed',
        SecondaryStatus: 'Completed',
        ModelArtifacts: {
          S3ModelArtifacts: `${input.OutputDataConfig?.S3OutputPath}/${name}/output/model.tar.gz`,
        },
        FinalMetricDataList: [{ MetricName: 'validation:accuracy', Value: 0.9, Timestamp: new Date(0) }],
        TrainingStartTime: new Date(0),
        TrainingEndTime: new Date(60_000),
        HyperParameters: input.HyperParameters,
      });
      return {
        TrainingJobArn: `arn:${partition}:sagemaker:${region}:${accountId}:training-job/${name.toLowerCase()}`,
      };
    });
    sagemaker.on(DescribeTrainingJobCommand).callsFake(async (input) => {
      record('sagemaker', 'DescribeTrainingJob')(input);
      const job = this.jobs.get(String(input.TrainingJobName));
      // DescribeTrainingJob on an unknown name: ValidationException "Requested resource not found."
      if (job === undefined) throw notFound('ValidationException', 400, 'Requested resource not found.');
      return job;
    });

    // DescribeModel on an unknown name: ValidationException "Could not find model ..." (the API reference
    // lists no not-found error for it: https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeModel.html).
    sagemaker.on(DescribeModelCommand).callsFake(async (input) => {
      record('sagemaker', 'DescribeModel')(input);
      const name = String(input.ModelName);
      if (!this.models.has(name))
        throw notFound(
          'ValidationException',
          400,
          `Could not find model "arn:${partition}:sagemaker:${region}:${accountId}:model/${name.toLowerCase()}".`,
        );
      return { ModelName: name, ModelArn: `arn:${partition}:sagemaker:${region}:${accountId}:model/${name}` };
    });
    // DeleteModel on an unknown name: ValidationException "Could not find model" (DeleteModel API reference).
    sagemaker.on(DeleteModelCommand).callsFake(async (input) => {
      record('sagemaker', 'DeleteModel')(input);
      const name = String(input.ModelName);
      if (!this.models.delete(name))
        throw notFound('ValidationException', 400, `Could not find model "${name}".`);
      return {};
    });
    sagemaker.on(CreateModelCommand).callsFake(async (input) => {
      record('sagemaker', 'CreateModel')(input);
      this.models.add(String(input.ModelName));
      return {
        ModelArn: `arn:${partition}:sagemaker:${region}:${accountId}:model/${String(input.ModelName).toLowerCase()}`,
      };
    });
    // A transform job runs, then completes; only then is its output in S3: for every input object,
    // `<S3OutputPath>/<its path under the input prefix>.out` (API_TransformOutput.html, S3OutputPath: "Batch
    // transform doesn't upload partially processed objects"), holding the image-classification algorithm's
    // JSON answer, the class probabilities (SageMaker Developer Guide, "Image Classification - MXNet",
    // inference response formats).
    sagemaker.on(CreateTransformJobCommand).callsFake(async (input) => {
      record('sagemaker', 'CreateTransformJob')(input);
      const name = String(input.TransformJobName);
      this.transformJobs.set(name, {
        describes: 0,
        job: {
          TransformJobName: name,
          TransformJobArn: `arn:${partition}:sagemaker:${region}:${accountId}:transform-job/${name.toLowerCase()}`,
          ModelName: input.ModelName,
          TransformInput: input.TransformInput,
          TransformOutput: input.TransformOutput,
          TransformResources: input.TransformResources,
          CreationTime: new Date(),
        },
      });
      return {
        TransformJobArn: `arn:${partition}:sagemaker:${region}:${accountId}:transform-job/${name.toLowerCase()}`,
      };
    });
    // DescribeTransformJob on an unknown name: ResourceNotFound
    // (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeTransformJob.html, Errors).
    sagemaker.on(DescribeTransformJobCommand).callsFake(async (input) => {
      record('sagemaker', 'DescribeTransformJob')(input);
      const entry = this.transformJobs.get(String(input.TransformJobName));
      if (entry === undefined) throw notFound('ResourceNotFound', 400, 'Resource Not Found');
      entry.describes++;
      if (entry.describes === 1) return { ...entry.job, TransformJobStatus: 'InProgress' };
      if (entry.job.TransformEndTime === undefined) this.completeTransform(entry.job);
      return { ...entry.job, TransformJobStatus: 'Completed' };
    });

    const runtime = mockClient(SageMakerRuntimeClient);
    runtime.on(InvokeEndpointCommand).callsFake(async (input) => {
      record('sagemaker-runtime', 'InvokeEndpoint')(input);
      return {
        Body: new TextEncoder().encode(JSON.stringify(ENDPOINT_PROBABILITIES)),
        ContentType: 'application/json',
      };
    });

    const sfn = mockClient(SFNClient);
    // executionArn is the state machine ARN with :execution: and the execution name
    // (https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html).
    // Each execution runs the workflow, whose classify step invokes the endpoint on the input's image: the
    // endpoint captures that invocation, delivered to S3 later (deliverCapture).
    // The execution runs at once to its end, so the first DescribeExecution finds it closed.
    sfn.on(StartExecutionCommand).callsFake(async (input) => {
      record('states', 'StartExecution')(input);
      const { s3_bucket, s3_key } = JSON.parse(String(input.input)) as { s3_bucket: string; s3_key: string };
      const image = this.objects.get(`${s3_bucket}/${s3_key}`);
      if (image === undefined)
        throw new Error(`the execution's image s3://${s3_bucket}/${s3_key} is not in the fake`);
      const machine = String(input.stateMachineArn).replace(':stateMachine:', ':execution:');
      const executionArn = `${machine}:${input.name}`;
      const run = this.runWorkflow(String(input.name), String(input.input));
      if (run.invokedEndpoint)
        this.undelivered.push({ at: new Date(), inferenceId: inferenceIdFor(s3_key), image });
      this.executions.set(executionArn, run.execution);
      return { executionArn, startDate: new Date(0) };
    });
    // An ARN no execution has: ExecutionDoesNotExist
    // (https://docs.aws.amazon.com/step-functions/latest/apireference/API_DescribeExecution.html, Errors).
    sfn.on(DescribeExecutionCommand).callsFake(async (input) => {
      record('states', 'DescribeExecution')(input);
      const execution = this.executions.get(String(input.executionArn));
      if (execution === undefined)
        throw notFound('ExecutionDoesNotExist', 400, `Execution Does Not Exist: '${input.executionArn}'`);
      return {
        executionArn: input.executionArn,
        status: execution.status,
        startDate: new Date(0),
        stopDate: new Date(1000),
        input: execution.input,
        ...(execution.output === undefined ? {} : { output: execution.output }),
        ...(execution.error === undefined ? {} : { error: execution.error, cause: execution.cause }),
      };
    });
    // GetExecutionHistory (https://docs.aws.amazon.com/step-functions/latest/apireference/API_GetExecutionHistory.html):
    // ascending by default, newest first with reverseOrder; maxResults per page (0 or absent: 100, at most
    // 1000) with a nextToken while more remain, which must come back unchanged (else InvalidToken); no
    // input or output in the events when includeExecutionData is false. Step Functions throttles its API
    // with a token bucket (Developer Guide, "Quotas related to API action throttling"): ThrottlingException.
    sfn.on(GetExecutionHistoryCommand).callsFake(async (input) => {
      record('states', 'GetExecutionHistory')(input);
      this.historyCalls++;
      if (this.historyCalls <= (this.options.throttleHistory ?? 0))
        throw notFound('ThrottlingException', 400, 'Rate exceeded');
      const execution = this.executions.get(String(input.executionArn));
      if (execution === undefined)
        throw notFound('ExecutionDoesNotExist', 400, `Execution Does Not Exist: '${input.executionArn}'`);
      let offset = 0;
      if (input.nextToken !== undefined) {
        const from = execution.tokens.get(input.nextToken);
        if (from === undefined) throw notFound('InvalidToken', 400, 'Invalid Token');
        offset = from;
      }
      const ordered = input.reverseOrder === true ? [...execution.events].reverse() : execution.events;
      const size = input.maxResults === undefined || input.maxResults === 0 ? 100 : input.maxResults;
      const events = ordered
        .slice(offset, offset + size)
        .map((event) => (input.includeExecutionData === false ? withoutData(event) : event));
      if (offset + size >= ordered.length) return { events };
      const nextToken = Buffer.from(`${input.executionArn}#${offset + size}`).toString('base64');
      execution.tokens.set(nextToken, offset + size);
      return { events, nextToken };
    });
    // The endpoint on the stack's current configuration, InService (a rolled-back blue/green update leaves
    // the old fleet serving); LastDeploymentConfig is the template's DeploymentConfig with the stack's alarm
    // names (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeEndpoint.html).
    sagemaker.on(DescribeEndpointCommand).callsFake(async (input) => {
      record('sagemaker', 'DescribeEndpoint')(input);
      const parameter = (name: string) =>
        this.stackParameters.find((p) => p.ParameterKey === name)?.ParameterValue;
      if (this.stackStatus === undefined)
        throw notFound('ValidationException', 400, `Could not find endpoint "${input.EndpointName}".`);
      return {
        EndpointName: input.EndpointName,
        EndpointArn: `arn:${partition}:sagemaker:${region}:${accountId}:endpoint/${String(input.EndpointName).toLowerCase()}`,
        EndpointConfigName: `${stackName}-config-${parameter('EndpointConfigNameDigest')}`,
        EndpointStatus: 'InService',
        CreationTime: new Date(0),
        LastModifiedTime: new Date(0),
        LastDeploymentConfig: {
          AutoRollbackConfiguration: {
            Alarms: ROLLOUT_ALARMS.map((a) => ({ AlarmName: `${stackName}-${a}` })),
          },
        },
      };
    });
    const cloudwatch = mockClient(CloudWatchClient);
    // StateUpdate items with HistoryData {oldState, newState} and HistorySummary "Alarm updated from OK to
    // ALARM", as the AWS CLI reference's `aws cloudwatch describe-alarm-history` example shows them.
    cloudwatch.on(DescribeAlarmHistoryCommand).callsFake(async (input) => {
      record('cloudwatch', 'DescribeAlarmHistory')(input);
      if (input.AlarmName !== this.options.rolloutTrips) return { AlarmHistoryItems: [] };
      const state = (stateValue: string) => ({
        stateValue,
        stateReason: `Threshold Crossed (${stateValue})`,
      });
      const item = (from: string, to: string, minutes: number) => ({
        AlarmName: input.AlarmName,
        AlarmType: 'MetricAlarm' as const,
        Timestamp: new Date(Number(input.StartDate ?? 0) + minutes * 60_000),
        HistoryItemType: 'StateUpdate' as const,
        HistorySummary: `Alarm updated from ${from} to ${to}`,
        HistoryData: JSON.stringify({ version: '1.0', oldState: state(from), newState: state(to) }),
      });
      return { AlarmHistoryItems: [item('OK', 'ALARM', 5), item('ALARM', 'OK', 12)] };
    });
    this.stubs.push(s3, cfn, sagemaker, runtime, sfn, cloudwatch);
    return this;
  }

  /**
   * SageMaker delivers the endpoint's capture to S3 minutes after the invocations: one JSON line per
   * invocation (captureData.endpointInput/endpointOutput, eventMetadata, eventVersion) in files under
   * `<DestinationS3Uri>/<endpoint>/<variant>/yyyy/mm/dd/hh/`, the hour of the invocation in UTC ("Capture
   * data from real-time endpoint", SageMaker Developer Guide). The destination is the deployed stack's
   * DataCaptureS3Uri parameter. An image/png request is not among the template's JsonContentTypes, so its
   * body is captured BASE64. Returns the keys written.
   */
  deliverCapture(): string[] {
    if (this.undelivered.length === 0) return [];
    const destination = this.stackParameters.find(
      (p) => p.ParameterKey === 'DataCaptureS3Uri',
    )?.ParameterValue;
    const endpoint = this.stackOutputs.find((o) => o.OutputKey === 'EndpointName')?.OutputValue;
    if (destination === undefined || endpoint === undefined)
      throw new Error('capture before a deployed endpoint with a DataCaptureS3Uri');
    const files = new Map<string, string[]>();
    for (const invocation of this.undelivered.splice(0)) {
      const hour = invocation.at.toISOString().slice(0, 13).replace(/[-T]/g, '/');
      const folder = `${destination.replace(/^s3:\/\//, '').replace(/\/+$/, '')}/${endpoint}/${VARIANT_NAME}/${hour}`;
      const line = JSON.stringify({
        captureData: {
          endpointInput: {
            observedContentType: 'image/png',
            mode: 'INPUT',
            data: Buffer.from(invocation.image).toString('base64'),
            encoding: 'BASE64',
          },
          endpointOutput: {
            observedContentType: 'application/json',
            mode: 'OUTPUT',
            data: JSON.stringify(ENDPOINT_PROBABILITIES),
            encoding: 'JSON',
          },
        },
        eventMetadata: {
          eventId: `event-${invocation.inferenceId}`,
          inferenceId: invocation.inferenceId,
          inferenceTime: `${invocation.at.toISOString().slice(0, 19)}Z`,
        },
        eventVersion: '0',
      });
      files.set(folder, [...(files.get(folder) ?? []), line]);
    }
    const keys: string[] = [];
    for (const [folder, lines] of files) {
      const key = `${folder}/${String(keys.length).padStart(2, '0')}-capture.jsonl`;
      this.objects.set(key, Buffer.from(`${lines.join('\n')}\n`));
      keys.push(key);
    }
    return keys;
  }

  /**
   * Runs the definition's states from StartAt along Next, and records the history Step Functions would
   * (HistoryEvent, API reference): ExecutionStarted; per Task state `TaskStateEntered`, then for a service
   * integration (`arn:aws:states:::lambda:invoke`) TaskScheduled, TaskStarted and TaskSucceeded or TaskFailed,
   * for a Lambda ARN resource LambdaFunctionScheduled, LambdaFunctionStarted and LambdaFunctionSucceeded or
   * LambdaFunctionFailed, and TaskStateExited; then ExecutionSucceeded, ExecutionFailed, ExecutionTimedOut or
   * ExecutionAborted. Ids count from 1 and each event's previousEventId is the one before it (0 for the first).
   * The endpoint is invoked when the state calling the classify function completes.
   */
  private runWorkflow(name: string, input: string): { execution: FakeExecution; invokedEndpoint: boolean } {
    const definition =
      this.options.definition ??
      (JSON.parse(readFileSync(STATE_MACHINE_DEFINITION, 'utf8')) as {
        StartAt: string;
        States: Record<string, AslState>;
      });
    const failure = this.options.failExecution?.(name);
    const events: HistoryEvent[] = [];
    const add = (type: HistoryEventType, details: Partial<HistoryEvent> = {}) =>
      events.push({
        id: events.length + 1,
        previousEventId: events.length,
        timestamp: new Date(events.length * 10),
        type,
        ...details,
      });
    add('ExecutionStarted', {
      executionStartedEventDetails: {
        input,
        roleArn: `arn:${partition}:iam::${accountId}:role/${TEST_ACCOUNT.workflowStack}-state-machine`,
      },
    });
    let invokedEndpoint = false;
    const visited = new Set<string>();
    for (let current: string | undefined = definition.StartAt; current !== undefined; ) {
      const state: AslState | undefined = definition.States[current];
      if (state === undefined || visited.has(current)) throw new Error(`fake workflow: no state ${current}`);
      visited.add(current);
      add(`${state.Type}StateEntered` as HistoryEventType, {
        stateEnteredEventDetails: { name: current, input },
      });
      const lambdaArn = state.Resource?.includes(':lambda:') === true && !state.Resource.includes(':states:');
      const resource = { resourceType: 'lambda', resource: 'invoke' };
      if (state.Type === 'Task') {
        if (lambdaArn) {
          add('LambdaFunctionScheduled', {
            lambdaFunctionScheduledEventDetails: { resource: String(state.Resource), input },
          });
          add('LambdaFunctionStarted');
        } else {
          add('TaskScheduled', {
            taskScheduledEventDetails: {
              ...resource,
              region,
              parameters: JSON.stringify(state.Parameters ?? {}),
            },
          });
          add('TaskStarted', { taskStartedEventDetails: resource });
        }
      }
      if (failure?.state === current) {
        const status = failure.status ?? 'FAILED';
        const reason = { error: failure.error, cause: failure.cause };
        if (status === 'FAILED' && lambdaArn)
          add('LambdaFunctionFailed', { lambdaFunctionFailedEventDetails: reason });
        else if (status === 'FAILED' && state.Type === 'Task')
          add('TaskFailed', { taskFailedEventDetails: { ...resource, ...reason } });
        if (status === 'FAILED') add('ExecutionFailed', { executionFailedEventDetails: reason });
        else if (status === 'TIMED_OUT') add('ExecutionTimedOut', { executionTimedOutEventDetails: reason });
        else add('ExecutionAborted', { executionAbortedEventDetails: reason });
        return {
          execution: { status, input, ...reason, events, tokens: new Map() },
          invokedEndpoint,
        };
      }
      if (state.Type === 'Task') {
        if (lambdaArn) add('LambdaFunctionSucceeded', { lambdaFunctionSucceededEventDetails: {} });
        else add('TaskSucceeded', { taskSucceededEventDetails: resource });
      }
      if (state.Parameters?.FunctionName?.includes('ClassifyFunction') === true) invokedEndpoint = true;
      add(`${state.Type}StateExited` as HistoryEventType, { stateExitedEventDetails: { name: current } });
      current = state.End === true ? undefined : state.Next;
    }
    if (failure !== undefined) throw new Error(`fake workflow: no state ${failure.state} on the path`);
    const output = JSON.stringify({ statusCode: 200, body: { inferences: ENDPOINT_PROBABILITIES } });
    add('ExecutionSucceeded', { executionSucceededEventDetails: { output } });
    return { execution: { status: 'SUCCEEDED', input, output, events, tokens: new Map() }, invokedEndpoint };
  }

  /** The transform job's output, written when it completes (see CreateTransformJob above). */
  private completeTransform(job: Record<string, unknown>): void {
    const input = (job.TransformInput as { DataSource: { S3DataSource: { S3Uri: string } } }).DataSource
      .S3DataSource.S3Uri;
    const output = (job.TransformOutput as { S3OutputPath: string }).S3OutputPath;
    const inputPrefix = input.replace(/^s3:\/\//, '');
    const outputPrefix = `${output.replace(/^s3:\/\//, '').replace(/\/+$/, '')}/`;
    for (const key of [...this.objects.keys()].filter((k) => k.startsWith(inputPrefix)))
      this.objects.set(
        `${outputPrefix}${key.slice(inputPrefix.length).replace(/^\//, '')}.out`,
        Buffer.from(JSON.stringify({ prediction: ENDPOINT_PROBABILITIES })),
      );
    job.TransformStartTime = job.CreationTime;
    job.TransformEndTime = new Date();
  }

  restore(): void {
    for (const stub of this.stubs) stub.restore();
  }
}

/** An event as GetExecutionHistory returns it with includeExecutionData false: no input or output. */
function withoutData(event: HistoryEvent): HistoryEvent {
  return JSON.parse(
    JSON.stringify(event, (key, value) => (key === 'input' || key === 'output' ? undefined : value)),
    (key, value) => (key === 'timestamp' ? new Date(value) : value),
  ) as HistoryEvent;
}
