import { LAMBDA_ERROR_NAMES } from '../../pipeline/contracts/lambda.js';

/**
 * Errors the handlers throw. Each sets `name` from the contract's LAMBDA_ERROR_NAMES, which Lambda
 * reports as the errorType that a state machine's Retry/Catch can match.
 */
export class InvalidEventError extends Error {
  constructor(message: string) {
    super(message);
    this.name = LAMBDA_ERROR_NAMES.invalidEvent;
  }
}

export class ImageNotFoundError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = LAMBDA_ERROR_NAMES.imageNotFound;
  }
}

export class PayloadTooLargeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = LAMBDA_ERROR_NAMES.payloadTooLarge;
  }
}

/** The image would not fit a Step Functions state once encoded. */
export class StatePayloadTooLargeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = LAMBDA_ERROR_NAMES.statePayloadTooLarge;
  }
}

export class EndpointError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = LAMBDA_ERROR_NAMES.endpoint;
  }
}

export class ConfigurationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = LAMBDA_ERROR_NAMES.configuration;
  }
}

/** Low confidence: the state machine fails visibly and does not retry. */
export class ThresholdConfidenceNotMet extends Error {
  constructor(message: string) {
    super(message);
    this.name = LAMBDA_ERROR_NAMES.thresholdConfidenceNotMet;
  }
}
