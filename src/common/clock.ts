/** Time as the heartbeat monitor and the reconnect loop see it, so tests can drive it. */
export interface Clock {
  now(): number;
  setTimeout(callback: () => void, delayMs: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
  /** Runs `callback` once pending I/O has been handled (Node's `setImmediate`). */
  afterPendingIo(callback: () => void): void;
}

export interface TimerHandle {
  /** Lets the process exit while the timer is pending (Node's `unref`). */
  unref?(): unknown;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, delayMs) => setTimeout(callback, delayMs),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
  afterPendingIo: (callback) => void setImmediate(callback),
};
