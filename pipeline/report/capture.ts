import type { z } from 'zod';
import { type CapturedLine, capturedLineSchema, capturedProbabilitiesSchema } from '../contracts/capture.js';

/**
 * Reads SageMaker data capture JSONL (captureData.endpointInput / endpointOutput, eventMetadata) line by
 * line. Malformed lines are counted with their file and line, never fatal.
 */

export interface CapturedInference {
  eventId: string;
  inferenceId?: string;
  /** Milliseconds since the epoch. */
  time: number;
  probabilities: number[];
  inputBytes: number;
  inputContentType: string;
  /** The captured request body (the image), decoded on demand: most records never need it. */
  input?: () => Buffer;
}

export interface MalformedLine {
  file: string;
  line: number;
  reason: string;
}

/** A missing field reads "no <path>"; anything else names the field and what zod expected. */
function describeIssue(issue: z.core.$ZodIssue | undefined): string {
  if (issue === undefined) return 'not a capture record';
  const path = issue.path.map(String).join('.');
  if (issue.code === 'invalid_type' && /received undefined/.test(issue.message)) return `no ${path}`;
  return `${path}: ${issue.message}`;
}

function decodeOutput(output: CapturedLine['captureData']['endpointOutput']): unknown {
  const text =
    output.encoding === 'BASE64' ? Buffer.from(output.data, 'base64').toString('utf8') : output.data;
  return JSON.parse(text);
}

const INPUT_OBJECT = /"endpointInput"\s*:\s*\{([^{}]*)\}/;
const INPUT_DATA = /"data"\s*:\s*"([^"]*)"/;

/** Parses one capture line; throws with the reason when it is not a usable record. */
export function parseCaptureLine(text: string): CapturedInference {
  // The input image (base64) is most of each line and the report needs only its size: cut it out before
  // JSON.parse, so a million records do not allocate a million image strings.
  let line = text;
  let inputDataLength: number | undefined;
  let inputData: (() => string) | undefined;
  const inputMatch = INPUT_OBJECT.exec(text);
  const data = inputMatch === null ? null : INPUT_DATA.exec(inputMatch[1] as string);
  if (inputMatch !== null && data !== null) {
    inputDataLength = (data[1] as string).length;
    inputData = () => data[1] as string;
    const start = inputMatch.index + inputMatch[0].indexOf(data[0]);
    line = `${text.slice(0, start)}"data":""${text.slice(start + data[0].length)}`;
  }
  let record: unknown;
  try {
    record = JSON.parse(line);
  } catch {
    throw new Error('not JSON (truncated or garbage)');
  }
  const parsed = capturedLineSchema.safeParse(record);
  if (!parsed.success) throw new Error(describeIssue(parsed.error.issues[0]));
  const r = parsed.data;
  const output = r.captureData.endpointOutput;
  const time = Date.parse(String(r.eventMetadata?.inferenceTime ?? ''));
  if (!Number.isFinite(time)) throw new Error('eventMetadata.inferenceTime is not a timestamp');
  const probabilities = capturedProbabilitiesSchema.safeParse(decodeOutput(output));
  if (!probabilities.success) throw new Error('endpointOutput is not an array of probabilities');
  const input = r.captureData.endpointInput;
  const inputLength = inputDataLength ?? input?.data?.length ?? 0;
  const inputBytes = input?.encoding === 'BASE64' ? Math.floor((inputLength * 3) / 4) : inputLength;
  const encoding = input?.encoding === 'BASE64' ? 'base64' : 'utf8';
  const inputText = input?.data;
  const readInput = inputData ?? (inputText === undefined ? undefined : () => inputText);
  return {
    eventId: String(r.eventMetadata?.eventId ?? ''),
    ...(typeof r.eventMetadata?.inferenceId === 'string' ? { inferenceId: r.eventMetadata.inferenceId } : {}),
    time,
    probabilities: probabilities.data,
    inputBytes,
    inputContentType: input?.observedContentType ?? '',
    ...(readInput === undefined ? {} : { input: () => Buffer.from(readInput(), encoding) }),
  };
}

/** Feeds every line of one capture file to `onRecord`; returns the malformed lines. */
export function parseCaptureText(
  text: string,
  file: string,
  onRecord: (record: CapturedInference) => void,
): MalformedLine[] {
  const malformed: MalformedLine[] = [];
  let line = 0;
  for (const raw of text.split('\n')) {
    line++;
    if (raw.trim() === '') continue;
    try {
      onRecord(parseCaptureLine(raw));
    } catch (error) {
      malformed.push({ file, line, reason: (error as Error).message });
    }
  }
  return malformed;
}
