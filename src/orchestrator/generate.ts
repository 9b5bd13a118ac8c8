/**
 * Generated fault schedules: a scenario's `generate:` key expanded into
 * concrete events, drawn from a seeded PRNG (mulberry32, integer arithmetic
 * only), so that the same seed gives the same events on any machine.
 *
 * Valid by construction: each target's state is walked through the action
 * table ({@link ACTION_SPECS}), so no action is drawn in a state it cannot be
 * applied in; a fault with an ending action (`endedBy`) is always followed by
 * it; every event is within the duration, leaving the recovery bound before
 * the end; at most `maxConcurrent` faults are open at once; two events on one
 * target are at least `minGapMs` apart; a master restart happens with no
 * slave fault within its quiet window on either side.
 *
 * How long a fault lasts follows from the checker's bounds, so that its
 * expectation is determinate: a cut or a pause (noticed only by the master's
 * timeout) lasts 1 to 3 s longer than its bound; a kill or a stop 0 to 2 s
 * longer than the kill bound; a degraded link 4 heartbeat intervals, twice its
 * delay and jitter and 1 to 3 s more (the checker needs 3 messages it surely
 * delayed to judge a delay); a restart occupies its slave for the recovery
 * bound.
 *
 * Pure: no I/O, no clock, no `Math.random`.
 */
import { ACTION_SPECS, ACTIONS, actionsEndedBy, type LinkState, type ProcessState } from './actions';
import { cutBound, killBound, recoveryBound, type BoundSettings } from './bounds';
import { LINK_DIRECTIONS, type LinkDirection, type LinkFault } from './link-fault';
import { DEGRADE_PROFILES, isLinkAction, type LinkAction } from './link-params';
import type { Action, ScenarioEvent } from './types';

/** A scenario's `generate:` key, validated. */
export interface GenerateSpec {
  /** The actions to draw from: each a fault ({@link GENERATABLE_ACTIONS}); their endings are scheduled for them. */
  faults: readonly Action[];
  /**
   * How often each fault is drawn, relative to the others (an action's
   * weight over the sum of the listed faults' weights); unset: 1 each.
   */
  weights?: Readonly<Partial<Record<Action, number>>>;
  /** Faults attempted per minute; the time between two attempts is drawn from 0.5 to 1.5 × 60 s / rate. */
  ratePerMinute: number;
  /** Least time between two events on one target, in ms. Default {@link DEFAULT_GENERATE_MIN_GAP_MS}. */
  minGapMs: number;
  /** Most faults open at once (a master restart counts for its quiet window). Default 1. */
  maxConcurrent: number;
  /** The slaves faults may target; unset: every slave the scenario's `events:` leave alone. */
  targets?: readonly string[];
}

/** What the generator needs of the scenario. */
export interface GenerateBase {
  slaves: number;
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  durationMs: number;
  /** The scenario's own events: the slaves they touch are left to them. */
  events: readonly ScenarioEvent[];
}

/** `generate.min_gap` when unset, in ms. */
export const DEFAULT_GENERATE_MIN_GAP_MS = 1000;
/** `generate.max_concurrent` when unset. */
export const DEFAULT_GENERATE_MAX_CONCURRENT = 1;
/** Largest weight of a fault in `generate.weights`. */
export const MAX_GENERATE_WEIGHT = 1000;
/** Largest `generate.rate`, in faults per minute. */
export const MAX_GENERATE_RATE = 600;
/** Largest `generate.seed` (seeds are unsigned 32-bit integers). */
export const MAX_GENERATE_SEED = 0xffff_ffff;
/** A master restart's quiet window, beyond the recovery bound, in ms: no slave event this close on either side. */
export const MASTER_RESTART_QUIET_EXTRA_MS = 3000;

/**
 * Actions `generate.faults` may list: those that start a fault or act on
 * their own (a restart, a master restart), not those that end one
 * (`reconnect`, `start`, `unpause`), which are scheduled for their fault.
 */
export const GENERATABLE_ACTIONS: readonly Action[] = ACTIONS.filter((action) => actionsEndedBy(action).length === 0);

/** mulberry32: the next unsigned 32-bit integer of a seeded sequence; integer arithmetic only. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** An integer from `lo` to `hi`, both included. */
function between(next: () => number, lo: number, hi: number): number {
  return lo + (next() % (hi - lo + 1));
}

interface TargetState {
  process: ProcessState;
  link: LinkState;
  /** No event on it before this time (its last event + min_gap). */
  freeAtMs: number;
}

/** Whether `action` may be applied in `state`, by its row of the action table. */
function applies(action: Action, state: TargetState): boolean {
  const { process, link } = ACTION_SPECS[action];
  return (
    (link === undefined || link.from.includes(state.link)) &&
    (process === undefined || process.from.includes(state.process))
  );
}

function apply(action: Action, state: TargetState): void {
  const { process, link } = ACTION_SPECS[action];
  if (link?.to !== undefined) state.link = link.to;
  if (process?.to !== undefined) state.process = process.to;
}

/** How long the fault `action` lasts (or occupies its target), drawn within its range. */
function lengthOf(action: Action, link: LinkFault | undefined, settings: BoundSettings, next: () => number): number {
  const spec = ACTION_SPECS[action];
  if (spec.endedBy === undefined) return recoveryBound(settings).ms;
  const disconnect =
    typeof spec.disconnect === 'function'
      ? link === undefined
        ? undefined
        : spec.disconnect(link, settings)
      : spec.disconnect;
  if (disconnect?.when === 'longer') {
    const bound = cutBound(settings).ms;
    return between(next, bound + 1000, bound + 3000);
  }
  if (link !== undefined) {
    // Long enough for the checker to see a delay: 4 intervals of messages it surely held, besides its own held-up tail.
    const held = (link.shape.delayMs ?? 0) + (link.shape.jitterMs ?? 0);
    const least = 4 * settings.heartbeatIntervalMs + 2 * held + 1000;
    return between(next, least, least + 2000);
  }
  const bound = killBound().ms;
  return between(next, bound, bound + 2000);
}

const oneOf = <T>(next: () => number, values: readonly T[]): T => values[next() % values.length]!;
const ONE_WAY: readonly LinkDirection[] = ['to-master', 'from-master'];

/**
 * How each network action's parameters are drawn: within ranges a run can
 * judge (a delay of 100 to 400 ms, slices of 48 bytes or more, which every
 * backend can cut, Linux's smallest TCP segment being 48 bytes).
 */
const DRAW_LINK: Readonly<Record<LinkAction, (next: () => number) => LinkFault>> = {
  delay: (next) => ({
    direction: oneOf(next, LINK_DIRECTIONS),
    shape: { delayMs: between(next, 2, 8) * 50, jitterMs: between(next, 0, 2) * 10 },
  }),
  loss: (next) => ({ direction: oneOf(next, LINK_DIRECTIONS), shape: { lossPercent: between(next, 5, 30) } }),
  bandwidth: (next) => ({
    direction: oneOf(next, LINK_DIRECTIONS),
    shape: { rateBitsPerSecond: between(next, 2, 32) * 8000 },
  }),
  // To the master only: a kernel slices what a slave sends, not what the master sends it.
  slice: (next) => ({
    direction: 'to-master',
    shape: { sliceBytes: between(next, 48, 96), sliceDelayMs: between(next, 0, 5) },
  }),
  partition: (next) => ({ direction: oneOf(next, ONE_WAY), shape: { drop: true } }),
  degrade: (next) => {
    const profile = oneOf(next, Object.keys(DEGRADE_PROFILES));
    return { direction: oneOf(next, LINK_DIRECTIONS), shape: { ...DEGRADE_PROFILES[profile] }, profile };
  },
};

/** The slaves faults may target: `spec.targets`, or every slave the scenario's own events leave alone. */
export function generatedTargets(spec: GenerateSpec, base: GenerateBase): string[] {
  if (spec.targets !== undefined) return [...spec.targets];
  const taken = new Set(base.events.map((event) => event.target));
  return Array.from({ length: base.slaves }, (_, i) => `slave-${i + 1}`).filter((name) => !taken.has(name));
}

/** Draws one of `faults`, each as likely as its weight (integer arithmetic: the same on any machine). */
function drawFault(spec: GenerateSpec, next: () => number): Action {
  const weightOf = (action: Action): number => spec.weights?.[action] ?? 1;
  let rest = next() % spec.faults.reduce((sum, action) => sum + weightOf(action), 0);
  for (const action of spec.faults) {
    rest -= weightOf(action);
    if (rest < 0) return action;
  }
  return spec.faults[0]!;
}

/** Opens and closes faults while walking the time forward. */
class Schedule {
  readonly events: ScenarioEvent[] = [];
  /** End times of the open faults. */
  private open: number[] = [];
  /** The latest slave event scheduled so far. */
  lastSlaveEventMs = -Infinity;
  /** No slave fault before this time (a master restart's quiet window). */
  quietUntilMs = 0;

  openAt(atMs: number): number {
    this.open = this.open.filter((end) => end > atMs);
    return this.open.length;
  }

  add(atMs: number, action: Action, target: string, endMs: number, link?: LinkFault): void {
    this.events.push({ atMs, action, target, ...(link === undefined ? {} : { link }) });
    this.open.push(endMs);
  }
}

/**
 * The events `spec` expands to for `base` with `seed`, ordered by `at`.
 * The caller validated `spec` (actions from {@link GENERATABLE_ACTIONS},
 * targets among the scenario's slaves).
 */
export function generateEvents(spec: GenerateSpec, base: GenerateBase, seed: number): ScenarioEvent[] {
  const next = mulberry32(seed);
  const settings: BoundSettings = {
    heartbeatIntervalMs: base.heartbeatIntervalMs,
    heartbeatTimeoutMs: base.heartbeatTimeoutMs,
  };
  const tailMs = recoveryBound(settings).ms;
  const quietMs = tailMs + MASTER_RESTART_QUIET_EXTRA_MS;
  const lastMs = base.durationMs - tailMs;
  const meanGapMs = Math.max(1, Math.floor(60_000 / spec.ratePerMinute));
  const targets = generatedTargets(spec, base);
  const states = new Map<string, TargetState>(
    targets.map((name) => [name, { process: 'running', link: 'connected', freeAtMs: 0 }]),
  );
  const schedule = new Schedule();
  let masterFreeAtMs = 0;
  let atMs = 0;
  for (;;) {
    atMs += between(next, Math.ceil(meanGapMs / 2), meanGapMs + Math.floor(meanGapMs / 2));
    if (atMs > lastMs) break;
    const action = drawFault(spec, next);
    if (ACTION_SPECS[action].target === 'master') {
      // Deferred rather than skipped: with many slaves, a moment with none in a fault may never be drawn.
      const at = Math.max(atMs, schedule.lastSlaveEventMs + quietMs, masterFreeAtMs);
      if (at > base.durationMs - quietMs || schedule.openAt(at) >= spec.maxConcurrent) continue;
      schedule.add(at, action, 'master', at + quietMs);
      schedule.quietUntilMs = at + quietMs;
      masterFreeAtMs = at + Math.max(quietMs, spec.minGapMs);
      atMs = at;
      continue;
    }
    if (atMs < schedule.quietUntilMs || schedule.openAt(atMs) >= spec.maxConcurrent) continue;
    const free = targets.filter((name) => {
      const state = states.get(name)!;
      return state.freeAtMs <= atMs && applies(action, state);
    });
    if (free.length === 0) continue;
    const target = free[next() % free.length]!;
    const link = isLinkAction(action) ? DRAW_LINK[action](next) : undefined;
    const endMs = atMs + Math.max(lengthOf(action, link, settings, next), spec.minGapMs);
    if (endMs > lastMs) continue;
    const state = states.get(target)!;
    apply(action, state);
    schedule.add(atMs, action, target, endMs, link);
    const ending = ACTION_SPECS[action].endedBy;
    if (ending !== undefined) {
      schedule.events.push({ atMs: endMs, action: ending, target });
      apply(ending, state);
    }
    state.freeAtMs = endMs + spec.minGapMs;
    schedule.lastSlaveEventMs = Math.max(schedule.lastSlaveEventMs, endMs);
  }
  // Stable: at the same `at`, the order of drawing (a fault's ending after an earlier one's start).
  return schedule.events.sort((a, b) => a.atMs - b.atMs);
}
