/**
 * Send-to-log latency: how long each message took from the slave's `sent`
 * line to the master's `message` line for it (the first one, if it was
 * logged more than once), per node and over the run; and whether each
 * injected delay showed in it.
 *
 * Both processes stamp their lines from the same machine clock on the local
 * and docker backends. A slave writes its `sent` line just after the frame,
 * so a figure may be a few ms below zero; it is reported as measured. A
 * message resent after a reconnect counts from its first `sent` line: its
 * latency includes the outage.
 *
 * The delay check: a delay on a slave's link towards the master (`to-master`
 * or `both`) opens a window at its confirmation, which its `heal` closes at
 * its request. The messages the slave sent within it (but in its last
 * `delay + jitter` ms, see {@link DelayWindow}) must have taken the delay:
 * their p50 within [{@link DELAY_TOLERANCE}.below × (delay − jitter),
 * {@link DELAY_TOLERANCE}.above × (delay + jitter) + the node's p50 outside
 * every such window]. A delay that shows as 5 ms, or as 5 s, is a fault that
 * did not do what it said (`delay_not_seen`); so is one that too few messages
 * show (fewer than {@link DELAY_CHECK_MIN_MESSAGES}): the scenario must send
 * enough. Messages sent in another fault's in-flight window (a cut, a pause:
 * they may have waited for a resend) are judged nowhere; a delay they leave
 * too few messages to is reported, not judged.
 *
 * Pure: reads the models and the tallies, keeps a histogram of whole ms per
 * node and per window, never a list of messages.
 */
import type { DelayCheck, Failure, FaultRef, MessageLatency, MessageLatencySummary } from '../check-result';
import type { LogTally } from '../sent-log';
import type { Action, TimelineEntry } from '../types';
import { iso, rel, timeOf, type RunContext } from './context';
import { FAULT_RULES } from './fault-rules';
import type { Window } from './plan';
import type { Incarnation, SlavesModel } from './slaves';

/** Smallest delay whose effect is checked; a smaller one hides in the scheduling noise (it is still reported). */
export const DELAY_CHECK_MIN_MS = 100;

/** At least this many messages sent in a delay window must be logged for its delay to be confirmed. */
export const DELAY_CHECK_MIN_MESSAGES = 3;

/**
 * The p50 in a delay window must lie within `below × (delay − jitter)` and
 * `above × (delay + jitter) + the node's baseline p50`.
 */
export const DELAY_TOLERANCE = { below: 0.8, above: 1.2 } as const;

/** Which timeline actions open a delay window and which close one. */
export interface DelayWindowRules {
  /** The action may put a delay on a link (the entry's `link` says whether it did, and which way). */
  opensDelay(action: Action): boolean;
  /** The action ends a link fault of its target. */
  closesDelay(action: Action): boolean;
}

/**
 * From the action table: a network action that degrades the link (`delay`,
 * `degrade`; whether it delays is its link fault's to say) opens one, the
 * action that heals a degraded link (`heal`) closes it.
 */
export const DELAY_WINDOW_RULES: DelayWindowRules = {
  opensDelay: (action) => FAULT_RULES[action].kind === 'degrade',
  closesDelay: (action) => FAULT_RULES[action].kind === 'heal' && FAULT_RULES[action].disruption === 'degraded',
};

/**
 * A span in which a slave's messages towards the master were delayed. Of
 * the messages sent from its request to its end, those sent from `from` to
 * `judgedUntil` are judged; the others may or may not have been delayed and
 * count nowhere: before the confirmation the delay may not be on yet, and
 * what was sent in its last `delay + jitter` ms may still be on its way when
 * the heal lifts it, which lets it through at once or drops it to be sent again.
 */
export interface DelayWindow {
  /** Scenario name of the slave. */
  readonly node: string;
  readonly fault: FaultRef;
  /** The delay's request. */
  readonly requested: number;
  /** The delay's confirmation. */
  readonly from: number;
  /** `to` less the delay and its jitter (at least `from`). */
  readonly judgedUntil: number;
  /** The request of what ended it (its `heal`, or another delay), or the run's end. */
  readonly to: number;
  readonly delayMs: number;
  readonly jitterMs: number;
  /** How `to` was found, for reports. */
  readonly closedBy: string;
}

type OpenWindow = Omit<DelayWindow, 'to' | 'judgedUntil' | 'closedBy'>;

function closed(w: OpenWindow, to: number, closedBy: string): DelayWindow {
  return { ...w, to, judgedUntil: Math.max(w.from, to - w.delayMs - w.jitterMs), closedBy };
}

/**
 * The delay windows of a timeline, per target in its own order. An
 * entry that opens a delay also ends the one before it on the same target
 * (its shape replaces the old one). Entries not carried out open nothing.
 */
export function delayWindows(
  ctx: RunContext,
  timeline: readonly TimelineEntry[],
  rules: DelayWindowRules = DELAY_WINDOW_RULES,
): DelayWindow[] {
  const windows: DelayWindow[] = [];
  const open = new Map<string, OpenWindow>();
  timeline.forEach((entry, index) => {
    const current = open.get(entry.target);
    const opens = rules.opensDelay(entry.action);
    if (current !== undefined && (opens || rules.closesDelay(entry.action))) {
      const to = timeOf(entry.requestedAt ?? entry.startedAt);
      windows.push(closed(current, to, `#${index} ${entry.action} requested`));
      open.delete(entry.target);
    }
    const delayMs = entry.link?.shape.delayMs;
    if (!opens || entry.confirmedAt === undefined || entry.error !== undefined || delayMs === undefined) return;
    if (entry.link?.direction === 'from-master') return;
    const fault: FaultRef = {
      index,
      action: entry.action,
      target: entry.target,
      atMs: entry.atMs,
      requestedAt: entry.requestedAt ?? entry.startedAt,
      confirmedAt: entry.confirmedAt,
    };
    open.set(entry.target, {
      node: entry.target,
      fault,
      requested: timeOf(fault.requestedAt),
      from: timeOf(entry.confirmedAt),
      delayMs,
      jitterMs: entry.link?.shape.jitterMs ?? 0,
    });
  });
  for (const current of open.values()) windows.push(closed(current, ctx.runEnd, "the run's end"));
  return windows.sort((a, b) => a.requested - b.requested || a.fault.index - b.fault.index);
}

/** Latencies in whole ms, counted per value: exact nearest-rank quantiles in memory that follows the spread. */
export class LatencyHistogram {
  private readonly counts = new Map<number, number>();
  private total = 0;

  get count(): number {
    return this.total;
  }

  add(ms: number, times = 1): void {
    this.counts.set(ms, (this.counts.get(ms) ?? 0) + times);
    this.total += times;
  }

  addAll(other: LatencyHistogram): void {
    for (const [ms, n] of other.counts) this.add(ms, n);
  }

  /** The p-th percentile (0 < p ≤ 100) by nearest rank; null when empty. */
  quantile(p: number): number | null {
    if (this.total === 0) return null;
    const rank = Math.max(1, Math.ceil((p / 100) * this.total));
    let seen = 0;
    for (const ms of [...this.counts.keys()].sort((a, b) => a - b)) {
      seen += this.counts.get(ms) as number;
      if (seen >= rank) return ms;
    }
    return null;
  }

  summary(): MessageLatencySummary {
    return { count: this.total, p50Ms: this.quantile(50), p99Ms: this.quantile(99), maxMs: this.quantile(100) };
  }
}

/** What the latency phase reads. */
export interface LatencyInputs {
  readonly ctx: RunContext;
  readonly slaves: SlavesModel;
  readonly tallies: ReadonlyMap<Incarnation, LogTally>;
  readonly timeline: readonly TimelineEntry[];
  /**
   * The plan's in-flight windows: where another fault of a node (a cut, a
   * pause, a kill) may have held its messages back until a resend. Messages
   * sent in one count in the node's figures, but neither in a delay window
   * nor in the baseline. Those of the delays themselves are ignored.
   */
  readonly disruptions?: readonly Window[];
  /** Default {@link DELAY_WINDOW_RULES}. */
  readonly rules?: DelayWindowRules;
}

export interface LatencyJudgement {
  readonly failures: readonly Failure[];
  readonly messageLatency: MessageLatency;
  readonly delayChecks: readonly DelayCheck[];
}

/** Measures every logged message's latency, and checks each delay window against it. */
export function checkLatency(input: LatencyInputs): LatencyJudgement {
  const { ctx, slaves } = input;
  const windows = delayWindows(ctx, input.timeline, input.rules);
  const inWindow = new Map(windows.map((w) => [w, { latencies: new LatencyHistogram(), disrupted: 0 }]));
  const openers = new Set(windows.map((w) => w.fault.index));
  const delaysOf = groupBy(windows, (w) => w.node);
  const disruptionsOf = groupBy(
    (input.disruptions ?? []).filter((d) => !openers.has(d.fault.ref.index)),
    (d) => d.name,
  );
  const all = new LatencyHistogram();
  const nodes: Record<string, MessageLatencySummary> = {};
  const baselines = new Map<string, number | null>();
  for (const slave of slaves.list) {
    const spans: NodeSpans = {
      delays: delaysOf.get(slave.name) ?? [],
      disruptions: mergedSpans(disruptionsOf.get(slave.name) ?? []),
    };
    const { total, baseline } = measureNode(slave.incarnations, input.tallies, spans, inWindow);
    nodes[slave.name] = total.summary();
    baselines.set(slave.name, baseline.quantile(50));
    all.addAll(total);
  }
  const failures: Failure[] = [];
  const delayChecks = windows.map((w) => {
    const check = judgeWindow(ctx, w, inWindow.get(w) as WindowTally, baselines.get(w.node) ?? null);
    if (check.failure !== undefined) failures.push(check.failure);
    return check.result;
  });
  return { failures, messageLatency: { all: all.summary(), nodes }, delayChecks };
}

/** What one delay window gathers: its judged messages' latencies, and how many it could not judge. */
interface WindowTally {
  readonly latencies: LatencyHistogram;
  /** Sent in its judged span while another fault of the node may have held them back. */
  disrupted: number;
}

/** One node's delay windows (sorted, one at a time) and the spans of its other faults (merged, sorted). */
interface NodeSpans {
  readonly delays: readonly DelayWindow[];
  readonly disruptions: readonly Span[];
}

interface Span {
  readonly from: number;
  readonly to: number;
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const group = groups.get(k);
    if (group === undefined) groups.set(k, [item]);
    else group.push(item);
  }
  return groups;
}

/** Overlapping spans merged into one: sorted, disjoint. */
function mergedSpans(spans: readonly Span[]): Span[] {
  const merged: Array<{ from: number; to: number }> = [];
  for (const { from, to } of [...spans].sort((a, b) => a.from - b.from)) {
    const last = merged[merged.length - 1];
    if (last !== undefined && from <= last.to) last.to = Math.max(last.to, to);
    else merged.push({ from, to });
  }
  return merged;
}

/**
 * One node's latencies: all of them, those outside its windows and
 * disruptions, and each window's (into `inWindow`).
 */
function measureNode(
  incarnations: readonly Incarnation[],
  tallies: ReadonlyMap<Incarnation, LogTally>,
  spans: NodeSpans,
  inWindow: ReadonlyMap<DelayWindow, WindowTally>,
): { total: LatencyHistogram; baseline: LatencyHistogram } {
  const total = new LatencyHistogram();
  const baseline = new LatencyHistogram();
  for (const inc of incarnations) {
    const tally = tallies.get(inc);
    if (tally === undefined) continue;
    for (let pos = 0; pos < inc.sent.size; pos += 1) {
      if (tally.logCount(pos) === 0) continue;
      const sentAt = inc.sent.sentAtOf(pos);
      const latency = Math.round((tally.loggedAt(pos)[0] as number) - sentAt);
      if (!Number.isFinite(latency)) continue;
      total.add(latency);
      // A delay window's span runs from its request: what was sent before its confirmation is no baseline.
      const w = spanAt(spans.delays, sentAt, (d) => d.requested);
      const judged = w !== undefined && sentAt >= w.from && sentAt <= w.judgedUntil;
      const own = judged ? (inWindow.get(w) as WindowTally) : undefined;
      if (spanAt(spans.disruptions, sentAt) !== undefined) {
        if (own !== undefined) own.disrupted += 1;
      } else if (own !== undefined) {
        own.latencies.add(latency);
      } else if (w === undefined) {
        baseline.add(latency);
      }
    }
  }
  return { total, baseline };
}

/** The span of `spans` (sorted by `start`, disjoint) that holds `at`: from its `start` to its `to`. */
function spanAt<T extends Span>(
  spans: readonly T[],
  at: number,
  start = (span: T): number => span.from,
): T | undefined {
  let lo = 0;
  let hi = spans.length - 1;
  let found: T | undefined;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const w = spans[mid] as T;
    if (start(w) <= at) {
      found = w;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found !== undefined && at <= found.to ? found : undefined;
}

/**
 * The expected span of a window's p50: the tolerance around the delays the
 * fault draws from (`delay ± jitter`: a few messages' p50 may lie anywhere in
 * it), plus the node's usual latency above.
 */
export function expectedRange(delayMs: number, jitterMs: number, baselineP50Ms: number | null): [number, number] {
  return [
    Math.floor(DELAY_TOLERANCE.below * Math.max(0, delayMs - jitterMs)),
    Math.ceil(DELAY_TOLERANCE.above * (delayMs + jitterMs) + Math.max(0, baselineP50Ms ?? 0)),
  ];
}

function judgeWindow(
  ctx: RunContext,
  w: DelayWindow,
  { latencies, disrupted }: WindowTally,
  baselineP50Ms: number | null,
): { result: DelayCheck; failure?: Failure } {
  const p50Ms = latencies.quantile(50);
  const base = {
    node: w.node,
    fault: w.fault,
    from: iso(w.from),
    to: iso(w.to),
    judgedUntil: iso(w.judgedUntil),
    closedBy: w.closedBy,
    delayMs: w.delayMs,
    jitterMs: w.jitterMs,
    count: latencies.count,
    disrupted,
    p50Ms,
    baselineP50Ms,
  };
  if (w.delayMs < DELAY_CHECK_MIN_MS) {
    const note = `not checked: a delay under ${DELAY_CHECK_MIN_MS} ms hides in the scheduling noise`;
    return { result: { ...base, withinMs: null, status: 'not_applicable', note } };
  }
  if (latencies.count < DELAY_CHECK_MIN_MESSAGES && latencies.count + disrupted >= DELAY_CHECK_MIN_MESSAGES) {
    const note = `not checked: ${disrupted} of its ${latencies.count + disrupted} messages were sent in another fault's in-flight window, too few left`;
    return { result: { ...base, withinMs: null, status: 'not_applicable', note } };
  }
  const withinMs = expectedRange(w.delayMs, w.jitterMs, baselineP50Ms);
  const [lo, hi] = withinMs;
  const result: DelayCheck = { ...base, withinMs, status: 'pass' };
  const jitter = w.jitterMs > 0 ? ` ± ${w.jitterMs}` : '';
  const what = `${w.node}: delay ${w.delayMs}${jitter} ms from ${rel(ctx, w.from)} to ${rel(ctx, w.to)}`;
  let why: string | undefined;
  if (latencies.count < DELAY_CHECK_MIN_MESSAGES) {
    why = `cannot confirm the delay: ${latencies.count} message(s) sent from ${rel(ctx, w.from)} to ${rel(
      ctx,
      w.judgedUntil,
    )} (its end less the delay and its jitter) were logged, at least ${DELAY_CHECK_MIN_MESSAGES} are needed`;
  } else if ((p50Ms as number) < lo || (p50Ms as number) > hi) {
    why = `the ${latencies.count} messages sent in it took p50 ${p50Ms} ms; expected ${lo}–${hi} ms`;
  }
  if (why === undefined) return { result };
  return {
    result: { ...result, status: 'fail' },
    failure: { node: w.node, kind: 'delay_not_seen', fault: w.fault.index, detail: `${what}: ${why}` },
  };
}
