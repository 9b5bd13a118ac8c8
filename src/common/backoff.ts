export interface BackoffOptions {
  /** First delay, in ms. Default 100. */
  initialDelayMs: number;
  /** Upper bound of any delay, in ms. Default 5000. */
  maxDelayMs: number;
  /** Growth per attempt. Default 2. */
  factor: number;
}

export const DEFAULT_BACKOFF: Readonly<BackoffOptions> = {
  initialDelayMs: 100,
  maxDelayMs: 5000,
  factor: 2,
};

/**
 * Capped exponential backoff with "equal jitter": each delay is drawn from
 * [ceiling/2, ceiling], so retries of many slaves spread out but none retries
 * at once after a failure.
 */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly options: BackoffOptions = DEFAULT_BACKOFF,
    private readonly random: () => number = Math.random,
  ) {}

  /** The delay before the next attempt; each call counts one attempt. */
  next(): { attempt: number; delayMs: number } {
    const { initialDelayMs, maxDelayMs, factor } = this.options;
    const ceiling = Math.min(maxDelayMs, initialDelayMs * factor ** this.attempt);
    this.attempt += 1;
    const delayMs = Math.round(ceiling / 2 + this.random() * (ceiling / 2));
    return { attempt: this.attempt, delayMs };
  }

  /** Call on success. */
  reset(): void {
    this.attempt = 0;
  }
}
