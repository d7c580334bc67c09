import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { inferenceIdFor } from '../../pipeline/contracts/inference-id.js';
import {
  type ClassifiedImage,
  imageBodySchema,
  type LambdaResult,
  probabilitiesSchema,
} from '../../pipeline/contracts/lambda.js';
import { ENDPOINT_PAYLOAD_LIMIT } from '../../pipeline/contracts/limits.js';
import { EndpointError, InvalidEventError, PayloadTooLargeError } from '../shared/errors.js';
import { parseEvent, requiredEnv, sniffContentType } from '../shared/events.js';
import { createLogger, type HandlerContext } from '../shared/log.js';

const runtime = new SageMakerRuntimeClient({});

/** Sends the image to the endpoint named by ENDPOINT_NAME and returns the body with its probabilities. */
export async function handler(
  event: unknown,
  context: HandlerContext,
): Promise<LambdaResult<ClassifiedImage>> {
  const log = createLogger('classify-image', context.awsRequestId);
  const endpointName = requiredEnv('ENDPOINT_NAME');
  const body = parseEvent(imageBodySchema, event);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body.image_data))
    throw new InvalidEventError('image_data: must be base64 (A-Z, a-z, 0-9, +, /, = padding)');
  const bytes = Buffer.from(body.image_data, 'base64');
  if (bytes.length > ENDPOINT_PAYLOAD_LIMIT)
    throw new PayloadTooLargeError(
      `image_data decodes to ${bytes.length} bytes, over the endpoint's 6 MB limit`,
    );
  const contentType = sniffContentType(bytes);
  if (contentType === undefined) throw new InvalidEventError('image_data: is not a PNG or JPEG image');
  const inferenceId =
    body.inference_id ?? (body.s3_key === undefined ? undefined : inferenceIdFor(body.s3_key));

  let text: string;
  try {
    const response = await runtime.send(
      new InvokeEndpointCommand({
        EndpointName: endpointName,
        ContentType: contentType,
        Accept: 'application/json',
        Body: bytes,
        ...(inferenceId === undefined ? {} : { InferenceId: inferenceId }),
      }),
    );
    text = Buffer.from(response.Body ?? new Uint8Array()).toString('utf8');
  } catch (error) {
    throw new EndpointError(`endpoint ${endpointName} failed: ${(error as Error).message}`, { cause: error });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new EndpointError(`endpoint ${endpointName} returned non-JSON: ${text.slice(0, 100)}`);
  }
  const probabilities = probabilitiesSchema.safeParse(parsed);
  if (!probabilities.success)
    throw new EndpointError(
      `endpoint ${endpointName} returned ${text.slice(0, 100)}, not an array of probabilities`,
    );
  log.info('classified image', {
    endpointName,
    inferenceId,
    contentType,
    bytes: bytes.length,
    inferences: probabilities.data,
  });
  return { statusCode: 200, body: { ...body, inferences: probabilities.data } };
}
