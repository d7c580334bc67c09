/** Waits `ms` milliseconds; polls and retries take one so tests run without waiting. */
export type Sleep = (ms: number) => Promise<void>;

export const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Milliseconds since the epoch; injected where a test needs to move time. */
export type Clock = () => number;

export const systemClock: Clock = () => Date.now();
