import { SconesError } from '../errors.js';
import { type ResolveContext, resolveValue, type Template } from './template.js';

/** How an update of the endpoint is rolled out: SageMaker's DeploymentConfig and the fleet it shifts to. */
export type RolloutPlan = ReturnType<typeof rolloutPlan>;
/** One alarm that guards a rollout, as the template defines it with the deploy's parameters. */
export type RolloutAlarm = RolloutPlan['alarms'][number];

const COMPARISONS: Readonly<Record<string, string>> = {
  GreaterThanThreshold: '>',
  GreaterThanOrEqualToThreshold: '>=',
  LessThanThreshold: '<',
  LessThanOrEqualToThreshold: '<=',
};

/**
 * The rollout plan of the template's endpoint, with these parameter values (the template's defaults for
 * the rest): its blue/green policy, the variant's instances, and each alarm of AutoRollbackConfiguration.
 * Read from the template itself, so what a preview or a failure message says cannot drift from it.
 */
export function rolloutPlan(
  template: Template,
  parameterValues: Readonly<Record<string, string>>,
  stackName: string,
) {
  const parameters: Record<string, string> = {};
  for (const [name, spec] of Object.entries(template.Parameters ?? {})) {
    const value = parameterValues[name] ?? (spec.Default === undefined ? undefined : String(spec.Default));
    if (value !== undefined) parameters[name] = value;
  }
  const resources = Object.entries(template.Resources);
  const context: ResolveContext = {
    parameters,
    pseudo: { StackName: stackName, Region: '', AccountId: '', Partition: '' },
    refs: {},
    attributes: {},
  };
  // Ref of an AWS::CloudWatch::Alarm is its name (CloudFormation Template Reference, AWS::CloudWatch::Alarm).
  for (const [logicalId, r] of resources)
    if (r.Type === 'AWS::CloudWatch::Alarm')
      context.refs[logicalId] = String(resolveValue(r.Properties?.AlarmName, context, logicalId));
  const endpoints = resources.filter(([, r]) => r.Type === 'AWS::SageMaker::Endpoint');
  const [endpointLogicalId, endpoint] = endpoints[0] ?? [];
  if (endpoints.length !== 1 || endpoint === undefined || endpointLogicalId === undefined)
    throw new SconesError(`the workflow template has ${endpoints.length} endpoints, not one`);
  const property = (value: unknown, where: string) => resolveValue(value, context, where);
  const config = endpoint.Properties?.DeploymentConfig as
    | {
        BlueGreenUpdatePolicy?: {
          TrafficRoutingConfiguration?: { Type?: unknown; WaitIntervalInSeconds?: unknown };
          TerminationWaitInSeconds?: unknown;
        };
        AutoRollbackConfiguration?: { Alarms?: { AlarmName?: unknown }[] };
      }
    | undefined;
  const policy = config?.BlueGreenUpdatePolicy;
  if (policy?.TrafficRoutingConfiguration === undefined)
    throw new SconesError(
      `${endpointLogicalId} has no DeploymentConfig.BlueGreenUpdatePolicy.TrafficRoutingConfiguration`,
    );
  const routing = policy.TrafficRoutingConfiguration;
  const where = `${endpointLogicalId}.DeploymentConfig`;
  const alarmNames = (config?.AutoRollbackConfiguration?.Alarms ?? []).map((a) =>
    String(property(a.AlarmName, `${where}.AutoRollbackConfiguration`)),
  );
  const alarms = alarmNames.map((name) => {
    const found = resources.find(([id]) => context.refs[id] === name);
    const p = found?.[1].Properties;
    if (found === undefined || p === undefined)
      throw new SconesError(`${where} names alarm ${name}, which the template does not define`);
    const at = (key: string) => property(p[key], `${found[0]}.${key}`);
    return {
      logicalId: found[0],
      name,
      namespace: String(at('Namespace')),
      metric: String(at('MetricName')),
      statistic: String(at('Statistic')),
      periodSeconds: Number(at('Period')),
      comparison: String(at('ComparisonOperator')),
      threshold: Number(at('Threshold')),
    };
  });
  // The endpoint's config: the resource its EndpointConfigName points at (Fn::GetAtt Config.EndpointConfigName).
  const configRef = endpoint.Properties?.EndpointConfigName as
    | { 'Fn::GetAtt'?: [string, string] }
    | undefined;
  const configProperties = template.Resources[configRef?.['Fn::GetAtt']?.[0] ?? '']?.Properties;
  const variants = configProperties?.ProductionVariants as
    | { InitialInstanceCount?: unknown; InstanceType?: unknown }[]
    | undefined;
  let endpointConfigName: string | undefined;
  try {
    endpointConfigName = String(property(configProperties?.EndpointConfigName, 'EndpointConfigName'));
  } catch {
    endpointConfigName = undefined; // parameters of an older template may not name it
  }
  if (variants?.length !== 1)
    throw new SconesError(
      `${endpointLogicalId}'s EndpointConfigName does not lead to one production variant`,
    );
  const [variant] = variants as [{ InitialInstanceCount?: unknown; InstanceType?: unknown }];
  return {
    endpointLogicalId,
    endpointName: String(property(endpoint.Properties?.EndpointName, `${endpointLogicalId}.EndpointName`)),
    /** The endpoint configuration these parameters name (undefined when they do not resolve it). */
    endpointConfigName,
    /** BlueGreenUpdatePolicy.TrafficRoutingConfiguration.Type: ALL_AT_ONCE, CANARY or LINEAR. */
    trafficRouting: String(property(routing.Type, `${where}.TrafficRoutingConfiguration.Type`)),
    /** WaitIntervalInSeconds: how long the alarms watch each traffic step (the bake). */
    bakeSeconds: Number(property(routing.WaitIntervalInSeconds, `${where}.WaitIntervalInSeconds`)),
    terminationWaitSeconds: Number(property(policy.TerminationWaitInSeconds ?? 0, `${where}.Termination`)),
    instanceCount: Number(property(variant.InitialInstanceCount, 'ProductionVariants.InitialInstanceCount')),
    instanceType: String(property(variant.InstanceType, 'ProductionVariants.InstanceType')),
    alarms,
  };
}

/** An alarm's condition in words: `Average over 300 s > 0.3`. */
export function alarmCondition(alarm: RolloutAlarm): string {
  return `${alarm.statistic} over ${alarm.periodSeconds} s ${COMPARISONS[alarm.comparison] ?? alarm.comparison} ${alarm.threshold}`;
}

/** The plan as the pull-request preview shows it. */
export function rolloutPlanMarkdown(plan: RolloutPlan): string {
  return [
    `#### Rollout plan: endpoint \`${plan.endpointName}\``,
    '',
    `Blue/green: a new fleet of ${plan.instanceCount} × ${plan.instanceType}, traffic shifted ${plan.trafficRouting}, then a ${plan.bakeSeconds} s bake; an alarm in ALARM during it sends all traffic back to the old fleet (terminated ${plan.terminationWaitSeconds} s after a bake that holds).`,
    '',
    '| alarm | metric | condition |',
    '| --- | --- | --- |',
    ...plan.alarms.map((a) => `| \`${a.name}\` | ${a.namespace} ${a.metric} | ${alarmCondition(a)} |`),
    '',
  ].join('\n');
}
