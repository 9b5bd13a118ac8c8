/**
 * What a degraded network link does, as data: the parameters of the network
 * actions (`delay`, `loss`, `bandwidth`, `slice`, `partition`, `degrade`),
 * whichever backend carries them out — the local fault proxy in user space,
 * or kernel qdiscs and packet filters in a container's network namespace.
 *
 * Pure data: no I/O.
 */

/**
 * Which way the fault acts on a slave's link: on what the slave sends
 * (`to-master`), on what the master sends it (`from-master`), or both.
 */
export type LinkDirection = 'to-master' | 'from-master' | 'both';

/** Every direction, in the schema's order. */
export const LINK_DIRECTIONS: readonly LinkDirection[] = ['to-master', 'from-master', 'both'];

/**
 * How one direction of a link is degraded. Every field is optional; a
 * `degrade` sets several. Times in ms, rates in bits per second.
 */
export interface LinkShape {
  /** Added one-way delay. */
  delayMs?: number;
  /** Each delay is drawn uniformly from `delayMs ± jitterMs`; order is kept (TCP never reorders). */
  jitterMs?: number;
  /** Chance, 0–100, that a segment is lost (TCP sends it again: a lost segment comes late, never not at all). */
  lossPercent?: number;
  /** Chance, 0–100, that a segment is lost given the previous one was; unset: independent losses. */
  lossCorrelationPercent?: number;
  /** Most bits per second that pass. */
  rateBitsPerSecond?: number;
  /** Writes are cut into segments of at most this many bytes. */
  sliceBytes?: number;
  /** Time between two slices, in ms; unset: 0 (each slice is its own write, sent at once). */
  sliceDelayMs?: number;
  /** Nothing passes: a one-way partition. No FIN, no RST; the bytes are dropped. */
  drop?: boolean;
}

/** A network fault on one slave's link: a shape and the direction it applies in. */
export interface LinkFault {
  direction: LinkDirection;
  shape: LinkShape;
  /** The named profile a `degrade` used (`wifi-poor`), for reports; unset: explicit parameters. */
  profile?: string;
}

/** The shape of each direction of `fault`: undefined where the fault does not apply. */
export function shapesOf(fault: LinkFault): { toMaster?: LinkShape; fromMaster?: LinkShape } {
  return {
    ...(fault.direction !== 'from-master' ? { toMaster: fault.shape } : {}),
    ...(fault.direction !== 'to-master' ? { fromMaster: fault.shape } : {}),
  };
}
