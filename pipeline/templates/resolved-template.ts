import { z } from 'zod';
import { SconesError } from '../errors.js';
import { type ResolveContext, resolveValue, substituteDefinition, type Template } from './template.js';

/** Account id the local backend uses in ARNs. */
export const LOCAL_ACCOUNT_ID = '000000000000';

/** Everything the local backend takes from the workflow template (kept in its deployment record). */
export const resolvedTemplateSchema = z.object({
  endpointName: z.string(),
  variantName: z.string(),
  capture: z.object({
    destination: z.string(),
    samplingPercentage: z.number(),
    captureInput: z.boolean(),
    captureOutput: z.boolean(),
  }),
  functions: z.array(
    z.object({
      logicalId: z.string(),
      functionName: z.string(),
      arn: z.string(),
      /** Code.S3Key, which names the bundle. */
      codeKey: z.string(),
      environment: z.record(z.string(), z.string()),
      timeoutSeconds: z.number(),
    }),
  ),
  /** The state machine definition with DefinitionSubstitutions applied. */
  definition: z.string(),
  stateMachineArn: z.string(),
  outputs: z.record(z.string(), z.string()),
});
export type ResolvedTemplate = z.infer<typeof resolvedTemplateSchema>;
export type DataCaptureSettings = ResolvedTemplate['capture'];
type LocalFunction = ResolvedTemplate['functions'][number];

const NAME_PROPERTY: Record<string, string> = {
  'AWS::Lambda::Function': 'FunctionName',
  'AWS::SageMaker::Endpoint': 'EndpointName',
  'AWS::SageMaker::EndpointConfig': 'EndpointConfigName',
  'AWS::SageMaker::Model': 'ModelName',
  'AWS::Logs::LogGroup': 'LogGroupName',
  'AWS::StepFunctions::StateMachine': 'StateMachineName',
};

/**
 * Reads the workflow template as CloudFormation would deploy it with these parameters: resource names,
 * Refs and attributes, the functions' environment, the endpoint's data capture, and the state machine
 * definition with its substitutions applied. Unknown parameters or missing values are errors.
 */
export function resolveTemplate(
  template: Template,
  parameterValues: Record<string, string>,
  options: { stackName: string; region: string; definition: string },
): ResolvedTemplate {
  const parameters: Record<string, string> = {};
  for (const [name, spec] of Object.entries(template.Parameters ?? {})) {
    const value = parameterValues[name] ?? (spec.Default === undefined ? undefined : String(spec.Default));
    if (value === undefined) throw new SconesError(`workflow template parameter ${name} has no value`);
    if (spec.AllowedPattern !== undefined && !new RegExp(spec.AllowedPattern).test(value))
      throw new SconesError(
        `workflow template parameter ${name} = "${value}" does not match ${spec.AllowedPattern}`,
      );
    parameters[name] = value;
  }
  for (const name of Object.keys(parameterValues))
    if (!(name in parameters)) throw new SconesError(`workflow template has no parameter ${name}`);

  const { region } = options;
  const account = LOCAL_ACCOUNT_ID;
  const context: ResolveContext = {
    parameters,
    pseudo: { StackName: options.stackName, Region: region, AccountId: account, Partition: 'aws' },
    refs: {},
    attributes: {},
  };
  for (const [logicalId, resource] of Object.entries(template.Resources)) {
    const nameProperty = NAME_PROPERTY[resource.Type];
    const name =
      nameProperty === undefined || resource.Properties?.[nameProperty] === undefined
        ? `${options.stackName}-${logicalId}`
        : String(resolveValue(resource.Properties[nameProperty], context, `${logicalId}.${nameProperty}`));
    const set = (ref: string, attributes: Record<string, string>) => {
      context.refs[logicalId] = ref;
      for (const [attribute, value] of Object.entries(attributes))
        context.attributes[`${logicalId}.${attribute}`] = value;
    };
    switch (resource.Type) {
      case 'AWS::Lambda::Function':
        set(name, { Arn: `arn:aws:lambda:${region}:${account}:function:${name}` });
        break;
      case 'AWS::SageMaker::Endpoint':
        set(`arn:aws:sagemaker:${region}:${account}:endpoint/${name.toLowerCase()}`, { EndpointName: name });
        break;
      case 'AWS::SageMaker::EndpointConfig':
        set(`arn:aws:sagemaker:${region}:${account}:endpoint-config/${name.toLowerCase()}`, {
          EndpointConfigName: name,
        });
        break;
      case 'AWS::SageMaker::Model':
        set(`arn:aws:sagemaker:${region}:${account}:model/${name.toLowerCase()}`, { ModelName: name });
        break;
      case 'AWS::Logs::LogGroup':
        set(name, { Arn: `arn:aws:logs:${region}:${account}:log-group:${name}:*` });
        break;
      case 'AWS::IAM::Role':
        set(name, { Arn: `arn:aws:iam::${account}:role/${name}` });
        break;
      case 'AWS::StepFunctions::StateMachine':
        set(`arn:aws:states:${region}:${account}:stateMachine:${name}`, { Name: name });
        break;
      default:
        set(name, {});
    }
  }

  const resources = Object.entries(template.Resources);
  const ofType = (type: string) => resources.filter(([, r]) => r.Type === type);
  const one = (type: string) => {
    const found = ofType(type);
    if (found.length !== 1)
      throw new SconesError(`the workflow template must declare exactly one ${type}, not ${found.length}`);
    return found[0] as [string, (typeof resources)[number][1]];
  };
  const resolve = (logicalId: string, property: string) =>
    resolveValue(template.Resources[logicalId]?.Properties?.[property], context, `${logicalId}.${property}`);

  const [endpointId] = one('AWS::SageMaker::Endpoint');
  const [configId] = one('AWS::SageMaker::EndpointConfig');
  const variants = resolve(configId, 'ProductionVariants') as { VariantName: string }[];
  const capture = resolve(configId, 'DataCaptureConfig') as {
    EnableCapture?: boolean;
    InitialSamplingPercentage: number;
    DestinationS3Uri: string;
    CaptureOptions: { CaptureMode: string }[];
  };
  const functions = ofType('AWS::Lambda::Function').map(([logicalId]): LocalFunction => {
    const environment =
      (resolve(logicalId, 'Environment') as { Variables?: Record<string, unknown> } | undefined)?.Variables ??
      {};
    const code = resolve(logicalId, 'Code') as { S3Key: string };
    return {
      logicalId,
      functionName: context.refs[logicalId] as string,
      arn: context.attributes[`${logicalId}.Arn`] as string,
      codeKey: code.S3Key,
      environment: Object.fromEntries(Object.entries(environment).map(([k, v]) => [k, String(v)])),
      timeoutSeconds: Number(resolve(logicalId, 'Timeout') ?? 3),
    };
  });
  const [stateMachineId] = one('AWS::StepFunctions::StateMachine');
  const substitutions = resolve(stateMachineId, 'DefinitionSubstitutions') as Record<string, string>;
  const outputs = Object.fromEntries(
    Object.entries(template.Outputs ?? {}).map(([name, output]) => [
      name,
      String(resolveValue(output.Value, context, `Outputs.${name}`)),
    ]),
  );
  return {
    endpointName: context.attributes[`${endpointId}.EndpointName`] as string,
    variantName: variants[0]?.VariantName ?? 'AllTraffic',
    capture: {
      destination: capture.EnableCapture === false ? '' : capture.DestinationS3Uri,
      samplingPercentage: capture.InitialSamplingPercentage,
      captureInput: capture.CaptureOptions.some((o) => o.CaptureMode === 'Input'),
      captureOutput: capture.CaptureOptions.some((o) => o.CaptureMode === 'Output'),
    },
    functions,
    definition: substituteDefinition(options.definition, substitutions),
    stateMachineArn: context.refs[stateMachineId] as string,
    outputs,
  };
}
