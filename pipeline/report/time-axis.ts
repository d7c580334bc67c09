/** A time axis that reads: the unit follows the window, labels never overlap, the date is in the title. */

const MAX_TICKS = 8;

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Tick steps in ms, each a whole number of the unit it is labelled in. */
const STEPS = [1, 2, 5, 10, 15, 30]
  .map((n) => n * 1000)
  .concat(
    [1, 2, 5, 10, 15, 30].map((n) => n * 60_000),
    [1, 2, 3, 6, 12].map((n) => n * 3_600_000),
    [1, 2, 7, 14, 30, 91, 365].map((n) => n * 86_400_000),
  );

function ticksFor(domain: [number, number], minimumStep: number): number[] {
  const span = domain[1] - domain[0];
  const step = STEPS.find((s) => s >= minimumStep && span / s <= MAX_TICKS) ?? span;
  const ticks: number[] = [];
  for (let t = Math.ceil(domain[0] / step) * step; t <= domain[1]; t += step) ticks.push(t);
  return ticks;
}

export function timeAxis(from: number, to: number) {
  const span = Math.max(0, to - from);
  const pad = Math.max(SECOND, span * 0.02);
  // Padded, so a window of one instant still has width.
  const domain: [number, number] = [from - pad, to + pad];
  const fromDate = new Date(from).toISOString().slice(0, 10);
  const toDate = new Date(to).toISOString().slice(0, 10);
  const dates = fromDate === toDate ? fromDate : `${fromDate} to ${toDate}`;
  const title = `inference time, UTC, ${dates}`;
  // The Vega time unit of the ticks, the d3 time format of their labels, and ticks at whole steps of the
  // unit, at most MAX_TICKS, so no two share a label.
  const axis = (
    unit: 'second' | 'minute' | 'hour' | 'day',
    format: string,
    unitMs: number,
    axisTitle = title,
  ) => ({
    unit,
    format,
    domain,
    title: axisTitle,
    ticks: ticksFor(domain, unitMs),
  });
  if (span <= 3 * MINUTE) return axis('second', '%H:%M:%S', SECOND);
  if (span <= 3 * HOUR) return axis('minute', '%H:%M', MINUTE);
  if (span <= 3 * DAY) return axis('hour', '%d %b %H:%M', HOUR);
  return axis('day', '%Y-%m-%d', DAY, `inference date, UTC, ${dates}`);
}
