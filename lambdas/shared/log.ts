/**
 * Structured JSON logs, one line per call, with the request id: CloudWatch Logs Insights can query
 * them. Callers pass sizes and keys, never image bytes.
 */
export function createLogger(functionName: string, requestId: string) {
  const write = (level: 'info' | 'warn' | 'error', message: string, fields: Record<string, unknown>) => {
    process.stdout.write(
      `${JSON.stringify({ level, function: functionName, requestId, message, ...fields })}\n`,
    );
  };
  return {
    info: (message: string, fields: Record<string, unknown> = {}) => write('info', message, fields),
    warn: (message: string, fields: Record<string, unknown> = {}) => write('warn', message, fields),
    error: (message: string, fields: Record<string, unknown> = {}) => write('error', message, fields),
  };
}

/** The part of the Lambda context the handlers use. */
export interface HandlerContext {
  awsRequestId: string;
}
