import { LAMBDA_ERROR_NAMES } from '../../pipeline/contracts/lambda.js';

/**
 * An error class whose `name` is one of the contract's LAMBDA_ERROR_NAMES, which Lambda reports as the
 * errorType that a state machine's Retry/Catch can match.
 */
function lambdaError(name: string) {
  return class extends Error {
    constructor(message: string, options?: { cause?: unknown }) {
      super(message, options);
      this.name = name;
    }
  };
}

export const InvalidEventError = lambdaError(LAMBDA_ERROR_NAMES.invalidEvent);
export const ImageNotFoundError = lambdaError(LAMBDA_ERROR_NAMES.imageNotFound);
export const PayloadTooLargeError = lambdaError(LAMBDA_ERROR_NAMES.payloadTooLarge);
/** The image would not fit a Step Functions state once encoded. */
export const StatePayloadTooLargeError = lambdaError(LAMBDA_ERROR_NAMES.statePayloadTooLarge);
export const EndpointError = lambdaError(LAMBDA_ERROR_NAMES.endpoint);
export const ConfigurationError = lambdaError(LAMBDA_ERROR_NAMES.configuration);
/** Low confidence: the state machine fails visibly and does not retry. */
export const ThresholdConfidenceNotMet = lambdaError(LAMBDA_ERROR_NAMES.thresholdConfidenceNotMet);
