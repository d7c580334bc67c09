/** A time axis that reads: the unit follows the window, labels never overlap, the date is in the title. */

export interface TimeAxis {
  /** Vega time unit of the ticks. */
  unit: 'second' | 'minute' | 'hour' | 'day';
  /** d3 time format of the tick labels. */
  format: string;
  /** The padded domain in ms, so a window of one instant still has width. */
  domain: [number, number];
  /** The axis title, naming the date(s) and the time zone. */
  title: string;
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export function timeAxis(from: number, to: number): TimeAxis {
  const span = Math.max(0, to - from);
  const pad = Math.max(SECOND, span * 0.02);
  const domain: [number, number] = [from - pad, to + pad];
  const fromDate = new Date(from).toISOString().slice(0, 10);
  const toDate = new Date(to).toISOString().slice(0, 10);
  const dates = fromDate === toDate ? fromDate : `${fromDate} to ${toDate}`;
  if (span <= 3 * MINUTE)
    return { unit: 'second', format: '%H:%M:%S', domain, title: `inference time, UTC, ${dates}` };
  if (span <= 3 * HOUR)
    return { unit: 'minute', format: '%H:%M', domain, title: `inference time, UTC, ${dates}` };
  if (span <= 3 * DAY)
    return { unit: 'hour', format: '%d %b %H:%M', domain, title: `inference time, UTC, ${dates}` };
  return { unit: 'day', format: '%Y-%m-%d', domain, title: `inference date, UTC, ${dates}` };
}
