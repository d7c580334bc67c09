import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import type { Reporter } from '../../console-reporter.js';
import { captureRecordSchema } from '../../contracts/capture.js';
import type { LocalCredentials } from '../../local-s3/signature.js';
import type { ObjectStore } from '../../ports.js';
import { wilsonInterval } from '../../util/classification-metrics.js';
import { getText } from '../../util/object-text.js';

/** The signals the template's alarms watch on aws, with the same limits. */
export interface BakeLimits {
  /** The filter's LowConfidence share the model may reach (the template's MaxLowConfidenceShare). */
  maxLowConfidenceShare: number;
  /** The confidence threshold the filter will apply. */
  threshold: number;
  /** The ModelLatency alarm's limit: a second on average. */
  maxMeanLatencyMs: number;
  /** How long the watch may last at most (deploy.bakeSeconds). */
  seconds: number;
}

export interface BakeResult {
  requests: number;
  /** What tripped, in words; undefined when the new model held. */
  tripped?: string;
}

/** Most recent captured requests replayed to a new model: enough for a share, few enough to take seconds. */
const REPLAYED = 32;

/**
 * The live endpoint's recent traffic, from its data capture: the request bodies (BASE64 inputs) of the
 * newest capture files, newest first.
 */
export async function recentRequests(store: ObjectStore, endpointPrefix: string) {
  const files: { key: string; time: number }[] = [];
  for await (const object of store.list(endpointPrefix))
    if (object.key.endsWith('.jsonl'))
      files.push({ key: object.key, time: object.lastModified?.getTime() ?? 0 });
  files.sort((a, b) => b.time - a.time || b.key.localeCompare(a.key));
  const requests: { body: Uint8Array; contentType: string }[] = [];
  for (const file of files) {
    for (const line of (await getText(store, file.key)).split('\n').reverse()) {
      if (line.trim() === '') continue;
      let json: unknown;
      try {
        json = JSON.parse(line);
      } catch {
        continue;
      }
      const input = captureRecordSchema.safeParse(json).data?.captureData.endpointInput;
      if (input?.encoding !== 'BASE64') continue;
      requests.push({ body: Buffer.from(input.data, 'base64'), contentType: input.observedContentType });
      if (requests.length === REPLAYED) return requests;
    }
  }
  return requests;
}

/**
 * Sends the live traffic to the new model's endpoint, all of it at once (as SageMaker's ALL_AT_ONCE
 * blue/green shift does), and watches what the template's alarms watch: invocation errors, model latency
 * and the share the filter would drop as low-confidence. The first signal over its limit trips the bake.
 */
export async function bake(options: {
  url: string;
  endpointName: string;
  region: string;
  credentials: LocalCredentials;
  requests: readonly { body: Uint8Array; contentType: string }[];
  limits: BakeLimits;
  reporter: Reporter;
}): Promise<BakeResult> {
  const { limits, requests } = options;
  const client = new SageMakerRuntimeClient({
    endpoint: options.url,
    region: options.region,
    credentials: options.credentials,
    maxAttempts: 1,
  });
  const deadline = Date.now() + limits.seconds * 1000;
  const errors: string[] = [];
  const latencies: number[] = [];
  let lowConfidence = 0;
  try {
    for (const request of requests) {
      if (Date.now() > deadline) break;
      const started = performance.now();
      try {
        const answer = await client.send(
          new InvokeEndpointCommand({
            EndpointName: options.endpointName,
            ContentType: request.contentType,
            Body: request.body,
          }),
        );
        latencies.push(performance.now() - started);
        const probabilities = JSON.parse(new TextDecoder().decode(answer.Body)) as number[];
        if (Math.max(...probabilities) < limits.threshold) lowConfidence += 1;
      } catch (error) {
        errors.push((error as Error).message);
      }
    }
  } finally {
    client.destroy();
  }
  const sent = latencies.length + errors.length;
  const result = { requests: sent };
  if (errors.length > 0)
    return {
      ...result,
      tripped: `invocation errors: ${errors.length} of ${sent} requests failed (${errors[0]})`,
    };
  const meanLatency = latencies.reduce((a, b) => a + b, 0) / Math.max(1, latencies.length);
  if (meanLatency > limits.maxMeanLatencyMs)
    return {
      ...result,
      tripped: `model latency: ${meanLatency.toFixed(0)} ms on average, over ${limits.maxMeanLatencyMs} ms`,
    };
  const share = lowConfidence / Math.max(1, sent);
  // A few dozen requests are a noisy sample of the traffic: only a share whose 95% interval lies wholly
  // over what the model may drop trips (as monitor-report judges the automation rate it promised).
  const { low } = wilsonInterval(lowConfidence, sent);
  if (low > limits.maxLowConfidenceShare)
    return {
      ...result,
      tripped: `low-confidence share: ${lowConfidence} of ${sent} inferences (${(share * 100).toFixed(0)}%, 95% interval from ${(low * 100).toFixed(0)}%) below the threshold ${limits.threshold}, over the ${(limits.maxLowConfidenceShare * 100).toFixed(0)}% the model may drop`,
    };
  options.reporter.info(
    `bake: ${sent} live requests replayed, no errors, ${meanLatency.toFixed(0)} ms on average, ${(share * 100).toFixed(0)}% low-confidence`,
  );
  // A bake the time limit ended early judged less traffic than there was: say so, it is a weaker guard.
  if (sent < requests.length)
    options.reporter.warn(
      `bake: deploy.bakeSeconds (${limits.seconds} s) ended the bake after ${sent} of ${requests.length} captured requests: raise it to judge them all`,
    );
  return result;
}
