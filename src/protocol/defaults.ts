import { MAX_DURATION_MS } from '../common/limits';

/** The port a master listens on and a slave connects to when none is given: the seed's. */
export const DEFAULT_MASTER_PORT = 12345;

/**
 * The heartbeat interval of a slave that sets none, and the one the master
 * assumes of a peer that announced none (a seed-format peer, before a hello), in ms.
 */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 5000;

/** Longest heartbeat interval a hello may announce, in ms: the longest duration anything accepts. */
export const MAX_HEARTBEAT_INTERVAL_MS = MAX_DURATION_MS;

/** Heartbeat intervals without a frame after which a node is silent, when no fixed timeout is set. */
export const HEARTBEAT_TIMEOUT_FACTOR = 3;

/**
 * The heartbeat timeout a node gets when none is set, in ms: `HEARTBEAT_TIMEOUT_FACTOR`
 * × its heartbeat interval. The master applies it (with its own factor
 * option, whose default this is), and the orchestrator expects it of a
 * scenario without a `heartbeat_timeout`.
 */
export function defaultHeartbeatTimeoutMs(intervalMs: number): number {
  return HEARTBEAT_TIMEOUT_FACTOR * intervalMs;
}

/**
 * Heartbeat intervals a message may stay unacked before the connection is
 * replaced, when no ack timeout is set. Not the master's heartbeat timeout:
 * that one judges the slave, this one the master.
 */
export const ACK_TIMEOUT_INTERVALS = 3;

/** The shortest default ack timeout, in ms: short heartbeat intervals still leave an ack time to come. */
export const MIN_DEFAULT_ACK_TIMEOUT_MS = 1000;

/** The ack timeout a slave gets when none is set, in ms: 3 × its heartbeat interval, at least 1 s. */
export function defaultAckTimeoutMs(heartbeatIntervalMs: number): number {
  return Math.max(MIN_DEFAULT_ACK_TIMEOUT_MS, ACK_TIMEOUT_INTERVALS * heartbeatIntervalMs);
}
