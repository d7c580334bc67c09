import {
  inferenceBodySchema,
  type LambdaResult,
  LOW_CONFIDENCE_METRIC,
} from '../../pipeline/contracts/lambda.js';
import { DEFAULT_THRESHOLD } from '../../pipeline/contracts/threshold.js';
import { ConfigurationError, ThresholdConfidenceNotMet } from '../shared/errors.js';
import { parseEvent } from '../shared/events.js';
import { createLogger, type HandlerContext } from '../shared/log.js';

function threshold(): number {
  const raw = process.env.THRESHOLD;
  if (raw === undefined || raw === '') return DEFAULT_THRESHOLD;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0 || value > 1)
    throw new ConfigurationError(`environment variable THRESHOLD must be a number from 0 to 1, not "${raw}"`);
  return value;
}

/**
 * The low-confidence datum in CloudWatch's embedded metric format (CloudWatch User Guide, "Specification:
 * Embedded metric format"): the `_aws` member declares the metric and its dimension, which are members of
 * the same log line; Lambda's log delivery turns it into a metric without a PutMetricData call.
 */
function lowConfidenceDatum(low: boolean) {
  const { namespace, name, dimension } = LOW_CONFIDENCE_METRIC;
  return {
    _aws: {
      Timestamp: Date.now(),
      CloudWatchMetrics: [
        { Namespace: namespace, Dimensions: [[dimension]], Metrics: [{ Name: name, Unit: 'Count' }] },
      ],
    },
    [dimension]: process.env.AWS_LAMBDA_FUNCTION_NAME ?? 'filter-inferences',
    [name]: low ? 1 : 0,
  };
}

/** Passes the event through when the top confidence reaches THRESHOLD; otherwise fails the execution. */
export async function handler(
  event: unknown,
  context: HandlerContext,
): Promise<LambdaResult<Record<string, unknown>>> {
  const log = createLogger('filter-inferences', context.awsRequestId);
  const limit = threshold();
  const body = parseEvent(inferenceBodySchema, event);
  const top = Math.max(...body.inferences);
  if (top < limit) {
    log.warn('confidence below threshold', { top, threshold: limit, ...lowConfidenceDatum(true) });
    throw new ThresholdConfidenceNotMet(
      `THRESHOLD_CONFIDENCE_NOT_MET: top confidence ${top} is below the threshold ${limit}`,
    );
  }
  log.info('confidence meets threshold', { top, threshold: limit, ...lowConfidenceDatum(false) });
  return { statusCode: 200, body };
}
