import type { Reporter } from '../../console-reporter.js';
import { captureTimeSchema } from '../../contracts/capture.js';
import { captureHourOverlaps } from '../../contracts/layout.js';
import { StageFailedError } from '../../errors.js';
import type { CaptureRequest, ObjectStore } from '../../ports.js';
import { getText } from '../../util/object-text.js';
import { realSleep, type Sleep } from '../../util/time.js';

/**
 * SageMaker writes capture files under `<destination>/<endpoint>/<variant>/yyyy/mm/dd/hh/<file>.jsonl`, the
 * hour of capture in UTC ("Capture data from real-time endpoint", SageMaker Developer Guide), and delivers
 * them to S3 some minutes after the invocations.
 */
/** Whether the capture file's hour folder overlaps the window: files of other hours hold no record of this run. */
export function inCaptureWindow(key: string, window: { from: number; to: number }): boolean {
  return key.endsWith('.jsonl') && captureHourOverlaps(key, window) === true;
}

/** Records of a capture file whose inferenceTime falls in the window. */
function recordsInWindow(text: string, window: { from: number; to: number }): number {
  let count = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    // A malformed line is the report's to count; here it is simply not a record of this run.
    let time: number;
    try {
      time = Date.parse(captureTimeSchema.parse(JSON.parse(line)).eventMetadata.inferenceTime);
    } catch {
      continue;
    }
    if (time >= window.from && time <= window.to) count++;
  }
  return count;
}

export interface CaptureWaitOptions {
  sleep?: Sleep;
  now?: () => number;
  /** Between listings. */
  pollMs?: number;
  /** How long capture may take to reach S3 before the report goes ahead with what arrived. */
  timeoutMs?: number;
}

/**
 * Polls the capture prefix until the expected records of this run's window have arrived (or the timeout
 * passes), printing progress; returns the keys of this run's capture files only.
 */
export async function awaitCapture(
  store: ObjectStore,
  request: CaptureRequest,
  reporter: Reporter,
  options: CaptureWaitOptions = {},
): Promise<string[]> {
  const sleep = options.sleep ?? realSleep;
  const now = options.now ?? Date.now;
  const pollMs = options.pollMs ?? 20_000;
  const timeoutMs = options.timeoutMs ?? 10 * 60_000;
  const started = now();
  const counted = new Map<string, number>();
  for (;;) {
    for await (const object of store.list(request.prefix)) {
      if (counted.has(object.key) || !inCaptureWindow(object.key, request.window)) continue;
      counted.set(object.key, recordsInWindow(await getText(store, object.key), request.window));
    }
    const records = [...counted.values()].reduce((a, b) => a + b, 0);
    const waited = now() - started;
    reporter.info(
      `capture: ${records}/${request.expected} records of this run in ${counted.size} files under ${store.uri(request.prefix)} after ${Math.round(waited / 1000)}s`,
    );
    if (records >= request.expected) return [...counted.keys()].sort();
    if (waited >= timeoutMs) {
      const advice = `SageMaker delivers capture to S3 minutes after the invocations: run monitor-report again later (same --run-id)`;
      if (records === 0)
        throw new StageFailedError(
          `no capture of this run reached ${store.uri(request.prefix)} within ${timeoutMs / 60_000} minutes (expected ${request.expected} records): ${advice}`,
        );
      reporter.warn(
        `only ${records} of ${request.expected} expected capture records arrived within ${timeoutMs / 60_000} minutes: the report covers those; ${advice}`,
      );
      return [...counted.keys()].sort();
    }
    await sleep(pollMs);
  }
}
