/**
 * A lane's messages as the page draws them: each one, or, when the lane is
 * dense, bands that each stand for the messages sent in one time bucket. The
 * page's size is bounded by the number of lanes, not of messages: a run of 50
 * slaves × 1,000 messages draws 3,000 bands at most, and one of 10,000 slaves
 * a band per lane. Pure; the messages are visited twice (counted, then drawn)
 * and never held all at once.
 */

/** A sent message the master logged; times in ms from the run's start. */
export interface LoggedMessage {
  seq: number;
  /** 1-based process of the slave that sent it. */
  incarnation: number;
  sentMs: number;
  /** When the master first logged it. */
  loggedMs: number;
}

/** The messages sent in one time bucket. */
export interface MessageBand {
  count: number;
  /** Earliest and latest send, and earliest and latest first logging. */
  sentFromMs: number;
  sentToMs: number;
  loggedFromMs: number;
  loggedToMs: number;
  /** Send-to-log latency: the largest, and the mean. */
  maxLatencyMs: number;
  meanLatencyMs: number;
}

/** A lane drawn message by message, or as bands. */
export type LaneMessages =
  { kind: 'single'; count: number; messages: LoggedMessage[] } | { kind: 'bands'; count: number; bands: MessageBand[] };

/** Lines drawn for single messages over all lanes: beyond this share per lane, a lane is drawn as bands. */
export const SINGLE_MESSAGE_BUDGET = 4000;

/** Bands over all lanes: each dense lane gets this share of buckets (at least 1, at most {@link MAX_BUCKETS}). */
export const BAND_BUDGET = 3000;

/** Most buckets a lane is cut into. */
export const MAX_BUCKETS = 120;

export interface LaneLayout {
  /** The run's length in ms. */
  spanMs: number;
  /** How many slave lanes the page has. */
  lanes: number;
}

/** Buckets of a dense lane, for a page of `lanes` lanes. */
export function bucketsPerLane(lanes: number): number {
  return Math.min(MAX_BUCKETS, Math.max(1, Math.floor(BAND_BUDGET / Math.max(1, lanes))));
}

/** Messages a lane may draw one by one, for a page of `lanes` lanes. */
export function singlesPerLane(lanes: number): number {
  return Math.floor(SINGLE_MESSAGE_BUDGET / Math.max(1, lanes));
}

/**
 * One lane's messages: `visit` hands each logged message of the lane to its
 * callback, and is called twice. Every message is counted in exactly one
 * line or band.
 */
export function laneMessages(visit: (fn: (m: LoggedMessage) => void) => void, layout: LaneLayout): LaneMessages {
  let count = 0;
  visit(() => {
    count += 1;
  });
  if (count <= singlesPerLane(layout.lanes)) {
    const messages: LoggedMessage[] = [];
    visit((m) => messages.push(m));
    return { kind: 'single', count: messages.length, messages };
  }
  const buckets = bucketsPerLane(layout.lanes);
  const width = Math.max(1, layout.spanMs) / buckets;
  const slots: Array<(MessageBand & { latencySum: number }) | undefined> = [];
  let total = 0;
  visit((m) => {
    total += 1;
    const slot = Math.min(buckets - 1, Math.max(0, Math.floor(m.sentMs / width)));
    const latency = m.loggedMs - m.sentMs;
    const band = slots[slot];
    if (band === undefined) {
      slots[slot] = {
        count: 1,
        sentFromMs: m.sentMs,
        sentToMs: m.sentMs,
        loggedFromMs: m.loggedMs,
        loggedToMs: m.loggedMs,
        maxLatencyMs: latency,
        meanLatencyMs: latency,
        latencySum: latency,
      };
      return;
    }
    band.count += 1;
    band.sentFromMs = Math.min(band.sentFromMs, m.sentMs);
    band.sentToMs = Math.max(band.sentToMs, m.sentMs);
    band.loggedFromMs = Math.min(band.loggedFromMs, m.loggedMs);
    band.loggedToMs = Math.max(band.loggedToMs, m.loggedMs);
    band.maxLatencyMs = Math.max(band.maxLatencyMs, latency);
    band.latencySum += latency;
  });
  const bands: MessageBand[] = [];
  for (const slot of slots) {
    if (slot === undefined) continue;
    const { latencySum, ...band } = slot;
    bands.push({ ...band, meanLatencyMs: latencySum / band.count });
  }
  return { kind: 'bands', count: total, bands };
}
