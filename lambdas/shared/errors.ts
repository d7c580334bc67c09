/**
 * Errors the handlers throw. Each sets `name`, which Lambda reports as the errorType that a state
 * machine's Retry/Catch can match.
 */
export class InvalidEventError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidEvent';
  }
}

export class ImageNotFoundError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ImageNotFound';
  }
}

export class PayloadTooLargeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PayloadTooLarge';
  }
}

export class EndpointError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EndpointError';
  }
}

export class ConfigurationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigurationError';
  }
}

/** Low confidence: the state machine fails visibly and does not retry. */
export class ThresholdConfidenceNotMet extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ThresholdConfidenceNotMet';
  }
}
