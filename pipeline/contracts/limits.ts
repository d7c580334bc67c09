/**
 * Size limits every hop shares. SageMaker runtime: "the maximum size of the request payload is 6 MB"
 * (InvokeEndpoint, SageMaker API Reference). Step Functions: "Maximum input or output size for a task,
 * state, or execution: 256 KiB of data as a UTF-8 encoded string" (Step Functions Developer Guide, quotas).
 */
export const ENDPOINT_PAYLOAD_LIMIT = 6 * 1024 * 1024;
/** Largest image serialize accepts: base64 (4/3) plus the event must stay under Lambda's 6 MB response. */
export const SERIALIZE_IMAGE_LIMIT = Math.floor(((ENDPOINT_PAYLOAD_LIMIT - 64 * 1024) * 3) / 4);
/** The serialize Lambda's result becomes the next state's input inside the lambda:invoke envelope. */
export const STATE_PAYLOAD_LIMIT = 256 * 1024;
/** Kept free for the lambda:invoke envelope (status code, headers) and the inferences the classifier adds. */
export const STATE_PAYLOAD_RESERVE = 8 * 1024;
/** The largest image whose base64 form fits the state (4 encoded bytes per 3). */
export const STATE_IMAGE_LIMIT = Math.floor(((STATE_PAYLOAD_LIMIT - STATE_PAYLOAD_RESERVE) * 3) / 4);
