import { type CloudWatchClient, DescribeAlarmHistoryCommand } from '@aws-sdk/client-cloudwatch';
import {
  DescribeEndpointCommand,
  type DescribeEndpointCommandOutput,
  type SageMakerClient,
} from '@aws-sdk/client-sagemaker';
import { alarmCondition, type RolloutAlarm, type RolloutPlan } from '../../templates/rollout-plan.js';

export interface RolloutClients {
  sagemaker: SageMakerClient;
  cloudwatch: CloudWatchClient;
}

/** An alarm that went to ALARM during the rollout, when, and CloudWatch's reason. */
export interface TrippedAlarm {
  name: string;
  at: Date | undefined;
  reason: string;
  alarm: RolloutAlarm | undefined;
}

const describeEndpoint = (clients: RolloutClients, name: string): Promise<DescribeEndpointCommandOutput> =>
  clients.sagemaker.send(new DescribeEndpointCommand({ EndpointName: name }));

/**
 * The alarms of the rollout that went to ALARM since it started. DescribeAlarms only reports each alarm's
 * state now, and an alarm that rolled a deployment back returns to OK once the old fleet serves again (the
 * template's alarms treat missing data as not breaching), so the history is read instead: DescribeAlarmHistory
 * with HistoryItemType StateUpdate from StartDate, one alarm at a time (AlarmName takes one name, and the
 * IAM grant stays scoped to the stack's alarms; CloudWatch API reference, DescribeAlarmHistory). Each item's
 * HistoryData is JSON with oldState and newState, each a stateValue and stateReason (AWS CLI reference,
 * `aws cloudwatch describe-alarm-history` example).
 */
export async function trippedAlarms(
  clients: RolloutClients,
  names: readonly string[],
  since: Date,
  plan: RolloutPlan,
): Promise<TrippedAlarm[]> {
  const tripped: TrippedAlarm[] = [];
  for (const name of names) {
    let token: string | undefined;
    do {
      const page = await clients.cloudwatch.send(
        new DescribeAlarmHistoryCommand({
          AlarmName: name,
          HistoryItemType: 'StateUpdate',
          StartDate: since,
          ScanBy: 'TimestampAscending',
          ...(token === undefined ? {} : { NextToken: token }),
        }),
      );
      for (const item of page.AlarmHistoryItems ?? []) {
        const state = newState(item.HistoryData);
        const toAlarm = state?.stateValue === 'ALARM' || / to ALARM$/.test(item.HistorySummary ?? '');
        if (!toAlarm || tripped.some((t) => t.name === name)) continue;
        tripped.push({
          name,
          at: item.Timestamp,
          reason: state?.stateReason ?? item.HistorySummary ?? '',
          alarm: plan.alarms.find((a) => a.name === name),
        });
      }
      token = page.NextToken;
    } while (token !== undefined);
  }
  return tripped;
}

function newState(historyData: string | undefined) {
  try {
    return (JSON.parse(historyData ?? '') as { newState?: { stateValue?: string; stateReason?: string } })
      .newState;
  } catch {
    return undefined;
  }
}

const describeAlarm = (t: TrippedAlarm) =>
  `${t.name}${t.alarm === undefined ? '' : ` (${t.alarm.metric} in ${t.alarm.namespace}, ${alarmCondition(t.alarm)})`}${t.at === undefined ? '' : ` at ${t.at.toISOString()}`}${t.reason === '' ? '' : `: "${t.reason}"`}`;

/** After a stack update that completed: the endpoint serves the new config, the bake held. */
export async function completedRollout(clients: RolloutClients, plan: RolloutPlan): Promise<string> {
  const endpoint = await describeEndpoint(clients, plan.endpointName);
  return `rollout completed after bake: endpoint ${plan.endpointName} is ${endpoint.EndpointStatus} on ${endpoint.EndpointConfigName} (blue/green, ${plan.trafficRouting}, ${plan.instanceCount} × ${plan.instanceType}, ${plan.bakeSeconds} s bake); none of its ${plan.alarms.length} alarms (${plan.alarms.map((a) => a.metric).join(', ')}) stopped it`;
}

/**
 * Why an endpoint update failed, from SageMaker (DescribeEndpoint: EndpointStatus, FailureReason, the alarms
 * of LastDeploymentConfig) and CloudWatch (which of them went to ALARM), with what to do.
 */
export async function failedRollout(
  clients: RolloutClients,
  options: {
    plan: RolloutPlan;
    stackName: string;
    stackStatus: string;
    since: Date;
    model: string;
    previousModel: string | undefined;
    previousConfig: string | undefined;
    stackEvents: string;
  },
): Promise<string> {
  const { plan, stackName, stackStatus } = options;
  const endpoint = await describeEndpoint(clients, plan.endpointName);
  const names =
    endpoint.LastDeploymentConfig?.AutoRollbackConfiguration?.Alarms?.map((a) => a.AlarmName ?? '') ??
    plan.alarms.map((a) => a.name);
  const tripped = await trippedAlarms(clients, names, options.since, plan);
  const previous =
    options.previousModel === undefined ? 'the previous model' : `model ${options.previousModel}`;
  const reason = endpoint.FailureReason === undefined ? '' : ` (SageMaker: ${endpoint.FailureReason})`;
  const cause =
    tripped.length > 0
      ? `rolled back: the rollout of model ${options.model} to endpoint ${plan.endpointName} tripped alarm ${tripped.map(describeAlarm).join('; alarm ')}`
      : `the update of endpoint ${plan.endpointName} to model ${options.model} failed, and none of its ${names.length} alarms went to ALARM during it: ${options.stackEvents}${reason}`;
  // UpdateRollbackFailed: "Both the rolling deployment and auto-rollback failed. Your endpoint is in service
  // with a mix of the old and new endpoint configurations" (SageMaker API reference, DescribeEndpoint).
  if (endpoint.EndpointStatus === 'UpdateRollbackFailed')
    return `${cause}; and endpoint ${plan.endpointName} is UpdateRollbackFailed: SageMaker's own rollback failed too, so it serves a mix of the old and new models${reason}. To restore it: when it accepts updates, \`aws sagemaker update-endpoint --endpoint-name ${plan.endpointName} --endpoint-config-name ${options.previousConfig ?? '<the endpoint config of the last good deploy>'}\` and \`aws sagemaker wait endpoint-in-service --endpoint-name ${plan.endpointName}\`; then ${stackStatus === 'UPDATE_ROLLBACK_FAILED' ? `\`aws cloudformation continue-update-rollback --stack-name ${stackName}\`, ` : ''}and deploy again (docs/operations.md, "Guarded rollouts")`;
  // Updating: "UpdateEndpoint ... is executing" (DescribeEndpoint): SageMaker has not finished with it, so
  // what serves now is not settled yet.
  if (endpoint.EndpointStatus === 'Updating')
    return `${cause}; endpoint ${plan.endpointName} is still Updating, so which model serves is not settled: wait for it (\`aws sagemaker wait endpoint-in-service --endpoint-name ${plan.endpointName}\`), check \`scones models --backend aws\`, ${stackStatus === 'UPDATE_ROLLBACK_FAILED' ? `run \`aws cloudformation continue-update-rollback --stack-name ${stackName}\`, ` : ''}and deploy again`;
  if (stackStatus === 'UPDATE_ROLLBACK_FAILED')
    return `${cause}; the stack could not roll back (UPDATE_ROLLBACK_FAILED) though endpoint ${plan.endpointName} is ${endpoint.EndpointStatus} on ${endpoint.EndpointConfigName}: fix what its events name, run \`aws cloudformation continue-update-rollback --stack-name ${stackName}\`, and deploy again`;
  return `${cause}; SageMaker kept the old fleet, the stack rolled back (${stackStatus}) and ${previous} stays live and recorded as live (endpoint ${plan.endpointName} ${endpoint.EndpointStatus} on ${endpoint.EndpointConfigName}). ${tripped.length > 0 ? "Fix the model, or the alarm's limit if it is wrong" : 'Fix the cause above'}, then deploy again (docs/operations.md, "Guarded rollouts")`;
}
