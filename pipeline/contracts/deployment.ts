import { z } from 'zod';

/**
 * What is deployed, one shape on both backends. It is parsed once, by `deploymentFromStack`, from what the
 * workflow stack holds: its parameters (the model, its held-out evaluation, the threshold, the capture
 * destination, the definition's key) and its outputs (the physical names). On aws those come from
 * DescribeStacks; locally from the deployment record, which keeps the same two maps. The gate (its
 * champion), train (--reuse-last-model), deploy (a preview keeps the live model), test-executions, the
 * report and the model history read this value and nothing else.
 */
export const deploymentSchema = z.object({
  stackName: z.string(),
  trainingId: z.string().min(1),
  modelUri: z.string().min(1),
  validationAccuracy: z.number(),
  /** The filter Lambda's confidence threshold in force (the template parameter `ConfidenceThreshold`). */
  threshold: z.number().min(0).max(1),
  /** The held-out evaluation deployed with the model (the gate's champion figure); absent when none was. */
  evaluation: z
    .object({ accuracy: z.number(), testSplitDigest: z.string(), datasetDigest: z.string() })
    .optional(),
  endpointName: z.string().min(1),
  stateMachineArn: z.string().min(1),
  /** Where the endpoint's data capture goes (`s3://bucket/prefix`). */
  captureUri: z.string().min(1),
  /** The deployed state machine definition's key in the artifact bucket: what ran, not the repository's file. */
  definitionKey: z.string().min(1),
  /** Side of the served model's square input, where the deployment records it (local). */
  imageSide: z.number().int().positive().optional(),
});
export type Deployment = z.infer<typeof deploymentSchema>;

/** What a stack holds: the parameters it was deployed with and its outputs. */
export interface StackState {
  stackName: string;
  parameters: Readonly<Record<string, string | undefined>>;
  outputs: Readonly<Record<string, string | undefined>>;
}

/** The one reading of a stack as a deployment; throws, naming the stack and the field, when it is not one. */
export function deploymentFromStack(stack: StackState, imageSide?: number): Deployment {
  const { parameters: p, outputs: o } = stack;
  const number = (value: string | undefined) =>
    value === undefined || value === '' ? undefined : Number(value);
  const testAccuracy = number(p.ModelTestAccuracy);
  const parsed = deploymentSchema.safeParse({
    stackName: stack.stackName,
    trainingId: p.TrainingId,
    modelUri: p.ModelDataUrl,
    validationAccuracy: number(p.ValidationAccuracy),
    threshold: number(p.ConfidenceThreshold),
    ...(testAccuracy === undefined || !p.TestSplitDigest
      ? {}
      : {
          evaluation: {
            accuracy: testAccuracy,
            testSplitDigest: p.TestSplitDigest,
            datasetDigest: p.TestDatasetDigest ?? '',
          },
        }),
    endpointName: o.EndpointName,
    stateMachineArn: o.StateMachineArn,
    captureUri: p.DataCaptureS3Uri,
    definitionKey: p.StateMachineDefinitionKey,
    ...(imageSide === undefined ? {} : { imageSide }),
  });
  if (!parsed.success)
    throw new Error(
      `stack ${stack.stackName} is not a workflow deployment: ${parsed.error.issues
        .map((issue) => `${issue.path.join('.')}: ${issue.message}`)
        .join('; ')}`,
    );
  return parsed.data;
}
