/**
 * Limits shared across the packages: each is written here once and named
 * wherever it applies.
 */

/** An inclusive range of accepted integers: what an option's message names ("from min to max"). */
export interface IntegerRange {
  readonly min: number;
  readonly max: number;
}

/**
 * Longest duration any interval or timeout accepts, in ms: one day. A
 * heartbeat interval a hello announces, the master's and the slave's timing
 * options, and a scenario's durations all stop here.
 */
export const MAX_DURATION_MS = 86_400_000;

/** Any duration option: 1 ms to one day. */
export const DURATION_MS_RANGE: IntegerRange = { min: 1, max: MAX_DURATION_MS };

/** The highest TCP port. */
export const MAX_PORT = 65535;

/** A port to listen on: 0 asks the system for a free one. */
export const LISTEN_PORT_RANGE: IntegerRange = { min: 0, max: MAX_PORT };

/** A port to connect to. */
export const CONNECT_PORT_RANGE: IntegerRange = { min: 1, max: MAX_PORT };

/** A count with no limit of its own: as far as a number stays exact. */
export const UNBOUNDED_COUNT_RANGE: IntegerRange = { min: 0, max: Number.MAX_SAFE_INTEGER };
