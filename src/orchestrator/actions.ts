/**
 * What each fault action means, in one table: which node it targets, how it
 * changes that node's state (and in which states it may be applied), the
 * action that ends it, what the master must log because of it and within
 * which bound, and its words in the scenario schema. The scenario validator's
 * state machine, the schema's `enum` and the checker read this table; each
 * backend carries an action out through its own `Record<Action, handler>`.
 *
 * Adding an action: add it to the {@link Action} union below, add its row to
 * {@link ACTION_SPECS}, and a handler to each backend's table
 * (`LocalCluster`'s `handlers`, `ContainerCluster`'s `handlers`); the compiler
 * names exactly those three places (test/integration/actions-exhaustive.test.ts).
 * Then `npm run -s schema` writes the schema's new enum.
 *
 * Pure data: no I/O.
 */
import type { DisconnectReason } from '../protocol';
import {
  cutBound,
  earliestTimeoutMs,
  killBound,
  recoveryBound,
  SCHEDULING_SLACK_MS,
  type Bound,
  type BoundSettings,
} from './bounds';
import { defaultAckTimeoutMs } from '../protocol';
import type { LinkFault } from './link-fault';

/**
 * Every fault or recovery a scenario can ask for. What each one means lives in
 * one table, {@link ACTION_SPECS}: a new member needs its row there and
 * a handler in each backend's handler table, which the compiler points out.
 */
export type Action =
  | 'disconnect' // network cut of a slave, no FIN
  | 'reconnect' // ends a cut
  | 'kill' // SIGKILL
  | 'stop' // SIGTERM, then SIGKILL after a grace period
  | 'start' // starts a killed or stopped slave again
  | 'restart' // stop then start
  | 'pause' // SIGSTOP / docker pause
  | 'unpause' // SIGCONT / docker unpause
  | 'master-restart' // stop and start the master (its target is `master`)
  | 'delay' // the slave's link delays what passes (`delay`, `jitter`, `direction`)
  | 'loss' // segments are lost and sent again (`percent`, `correlation`)
  | 'bandwidth' // the link passes at most `rate`
  | 'slice' // writes are cut into segments of `bytes`, `delay` apart
  | 'partition' // one way of the link drops everything (`direction`)
  | 'degrade' // delay, loss and rate together (`profile` or explicit keys)
  | 'reset' // the slave's connection is reset (RST both ways)
  | 'heal'; // ends a delay, loss, bandwidth, slice, partition or degrade

/** A slave's process as the scenario leaves it; a master-restart changes no slave's state. */
export type ProcessState = 'running' | 'paused' | 'killed' | 'stopped';

/**
 * A slave's link to the master as the scenario leaves it: `cut` both ways (a
 * disconnect), or `degraded` by a network action until its heal.
 */
export type LinkState = 'connected' | 'cut' | 'degraded';

/** Process states in which a slave runs no process: only a start applies. */
export const DOWN_STATES: ReadonlySet<ProcessState> = new Set(['killed', 'stopped']);

/** How an action changes its slave's process. */
export interface ProcessTransition {
  /** The states it may be applied in. */
  from: readonly ProcessState[];
  /** The state after it; unset: unchanged. */
  to?: ProcessState;
  /**
   * Why it cannot be applied in `state` (`since` says from when, e.g. `since
   * 3s`), unless that is a down state and the action needs a live process:
   * then the validator says to start it first.
   */
  refusal(state: ProcessState, since: string): string;
}

/** How an action changes its slave's link to the master. */
export interface LinkTransition {
  /** The states it may be applied in. */
  from: readonly LinkState[];
  /** The state after it; unset: unchanged (a reset). */
  to?: LinkState;
}

/**
 * The latency groups of the check report (`latency` of a report): how long
 * the master took to log the disconnect each fault of the group caused.
 */
export type LatencyGroup = 'killStop' | 'cutPause' | 'masterRestart' | 'network';

/** The `reason` of a master `disconnect` line a fault may cause. */
export type FaultDisconnectReason = Extract<DisconnectReason, 'closed' | 'reset' | 'timeout' | 'shutdown'>;

/** The disconnect a fault makes the master log for its node. */
export interface DisconnectEffect {
  /** The reasons the master may give. */
  reasons: readonly FaultDisconnectReason[];
  /**
   * How long after the fault's confirmation the master must have logged it;
   * unset for a master restart, whose disconnects come before the old
   * master's `shutdown` line.
   */
  bound?: (settings: BoundSettings) => Bound;
  /**
   * When the master must log it: `always`; `longer`: only when the fault
   * lasted longer than its bound (a cut, a pause: the master notices them by
   * its heartbeat timeout), allowed otherwise; `may`: allowed while the fault
   * lasts, never required (a degraded link that could stall past the timeout).
   */
  when: 'always' | 'longer' | 'may';
}

/** The node must be seen again after the fault (a `connect` and a `hello`). */
export interface RecoveryEffect {
  bound: (settings: BoundSettings) => Bound;
  /** A connection that outlived the fault counts too: a short cut or pause the master never noticed. */
  mayKeepConnection: boolean;
}

/** Everything an action means, but how a backend carries it out. */
export interface ActionSpec {
  /** Whom it acts on: one slave, or the master (target `master`, or none). */
  target: 'slave' | 'master';
  /** Its entry of the schema's `enumDescriptions`: what an editor shows for it. */
  description: string;
  process?: ProcessTransition;
  link?: LinkTransition;
  /** The action that ends the fault: a `disconnect` lasts until its `reconnect`. */
  endedBy?: Action;
  /** Where the check report counts the disconnect latencies of this action. */
  latencyGroup: LatencyGroup;
  /**
   * The disconnect it causes; unset when it causes none (a recovery). A
   * network action's depends on its link fault: undefined when that one
   * cannot cause a disconnect (a delay well under the heartbeat timeout).
   */
  disconnect?: DisconnectEffect | ((link: LinkFault, settings: BoundSettings) => DisconnectEffect | undefined);
  /** The node must be seen again once it is confirmed. */
  recovery?: RecoveryEffect;
  /**
   * The process ends with no chance to finish a write: the `sent` line of a
   * frame it wrote may be lost, and so may what was not acked yet.
   */
  abrupt: boolean;
}

const LIVE: readonly ProcessState[] = ['running', 'paused'];
const KILL_REASONS: readonly FaultDisconnectReason[] = ['closed', 'reset'];
const killDisconnect: DisconnectEffect = { reasons: KILL_REASONS, bound: killBound, when: 'always' };
const timeoutDisconnect: DisconnectEffect = { reasons: ['timeout'], bound: cutBound, when: 'longer' };
const seenAgain: RecoveryEffect = { bound: recoveryBound, mayKeepConnection: false };
const seenAgainOrKept: RecoveryEffect = { bound: recoveryBound, mayKeepConnection: true };
const liveOnly = (state: ProcessState): string => `it is ${state}`;

/**
 * A frame's size for judging what a degraded link does to it, in bytes: a
 * heartbeat or a message of a run is well under it.
 */
export const JUDGED_FRAME_BYTES = 512;

/**
 * How long one way of a degraded link may hold a frame up, in ms, at worst:
 * its delay and jitter, the time to pass it at the rate, its slices' spacing;
 * unbounded for a drop or any loss (TCP's retransmission backoff doubles with
 * every loss of the same segment).
 */
export function worstHoldUpMs(shape: LinkFault['shape'] | undefined): number {
  if (shape === undefined) return 0;
  if (shape.drop === true || (shape.lossPercent ?? 0) > 0) return Infinity;
  const slices = shape.sliceBytes === undefined ? 0 : Math.ceil(JUDGED_FRAME_BYTES / shape.sliceBytes);
  return (
    (shape.delayMs ?? 0) +
    (shape.jitterMs ?? 0) +
    (shape.rateBitsPerSecond === undefined ? 0 : Math.ceil((JUDGED_FRAME_BYTES * 8000) / shape.rateBitsPerSecond)) +
    slices * (shape.sliceDelayMs ?? 0)
  );
}

/**
 * The disconnect a degraded link may cause: the master's `timeout` when what
 * the slave sends may be held up past the heartbeat timeout (a frame an
 * interval late, then held up), the slave's own close (`closed`, or `reset`) when an ack's
 * round trip may outlast the slave's ack timeout. Undefined when neither can
 * happen: then a disconnect while the fault lasts is a failure.
 */
export function degradedDisconnect(link: LinkFault, settings: BoundSettings): DisconnectEffect | undefined {
  const toMaster = worstHoldUpMs(link.direction === 'from-master' ? undefined : link.shape);
  const fromMaster = worstHoldUpMs(link.direction === 'to-master' ? undefined : link.shape);
  const reasons: FaultDisconnectReason[] = [];
  if (toMaster + settings.heartbeatIntervalMs + SCHEDULING_SLACK_MS >= earliestTimeoutMs(settings)) {
    reasons.push('timeout');
  }
  if (toMaster + fromMaster + SCHEDULING_SLACK_MS >= defaultAckTimeoutMs(settings.heartbeatIntervalMs)) {
    // Through the fault proxy the slave's close reaches the master as a FIN, or as a reset when the
    // proxy's side toward the master still held bytes the fault kept back (seen in CI: a from-master
    // partition, the master's acks unread).
    reasons.push('closed', 'reset');
  }
  // A one-way cut to the master is a cut the master must notice by its timeout: the slave's FIN is dropped too.
  if (link.shape.drop === true && link.direction === 'to-master') {
    return { reasons: ['timeout'], bound: cutBound, when: 'longer' };
  }
  return reasons.length === 0 ? undefined : { reasons, bound: cutBound, when: 'may' };
}

/** A network fault degrades a connected link. */
const degrades = (): LinkTransition => ({ from: ['connected'], to: 'degraded' });

/** The network actions: each degrades its slave's link until a `heal`. */
const NETWORK_ACTION_SPECS = {
  delay: {
    target: 'slave',
    description: "Delay what passes the slave's link (`delay`, `jitter`, `direction`) until a heal.",
    link: degrades(),
    endedBy: 'heal',
    latencyGroup: 'network',
    disconnect: degradedDisconnect,
    abrupt: false,
  },
  loss: {
    target: 'slave',
    description: 'Lose a share of the segments on the link (`percent`, `correlation`); TCP sends them again.',
    link: degrades(),
    endedBy: 'heal',
    latencyGroup: 'network',
    disconnect: degradedDisconnect,
    abrupt: false,
  },
  bandwidth: {
    target: 'slave',
    description: 'Limit the rate of the link (`rate`: 64kbit) until a heal.',
    link: degrades(),
    endedBy: 'heal',
    latencyGroup: 'network',
    disconnect: degradedDisconnect,
    abrupt: false,
  },
  slice: {
    target: 'slave',
    description: 'Cut what passes the link into segments of `bytes`, `delay` apart, until a heal.',
    link: degrades(),
    endedBy: 'heal',
    latencyGroup: 'network',
    disconnect: degradedDisconnect,
    abrupt: false,
  },
  partition: {
    target: 'slave',
    description: 'Drop everything one way of the link (`direction: to-master` or `from-master`), no FIN, until a heal.',
    link: degrades(),
    endedBy: 'heal',
    latencyGroup: 'network',
    disconnect: degradedDisconnect,
    abrupt: false,
  },
  degrade: {
    target: 'slave',
    description: 'Delay, loss and rate together: a named `profile` (wifi-poor, 3g, …) or explicit keys.',
    link: degrades(),
    endedBy: 'heal',
    latencyGroup: 'network',
    disconnect: degradedDisconnect,
    abrupt: false,
  },
  reset: {
    target: 'slave',
    description: "Reset the slave's connection (RST both ways); it reconnects.",
    link: { from: ['connected', 'degraded'] },
    process: { from: LIVE, refusal: liveOnly },
    latencyGroup: 'network',
    disconnect: { reasons: ['reset'], bound: killBound, when: 'always' },
    recovery: seenAgain,
    abrupt: false,
  },
  heal: {
    target: 'slave',
    description: 'End a delay, loss, bandwidth, slice, partition or degrade.',
    link: { from: ['degraded'], to: 'connected' },
    latencyGroup: 'network',
    recovery: seenAgainOrKept,
    abrupt: false,
  },
} as const satisfies Record<string, ActionSpec>;

/** Every action's meaning. The order of the rows is the order of the schema's enum. */
export const ACTION_SPECS: Readonly<Record<Action, ActionSpec>> = {
  disconnect: {
    target: 'slave',
    description:
      "Cut the slave's network without closing its connection (no FIN): the master only notices by heartbeat timeout.",
    link: { from: ['connected'], to: 'cut' },
    process: { from: LIVE, refusal: liveOnly },
    endedBy: 'reconnect',
    latencyGroup: 'cutPause',
    disconnect: timeoutDisconnect,
    abrupt: false,
  },
  reconnect: {
    target: 'slave',
    description: 'Restore the network of a slave cut by an earlier disconnect.',
    link: { from: ['cut'], to: 'connected' },
    latencyGroup: 'killStop',
    recovery: seenAgainOrKept,
    abrupt: false,
  },
  kill: {
    target: 'slave',
    description: 'Kill the slave at once (SIGKILL).',
    process: { from: LIVE, to: 'killed', refusal: liveOnly },
    endedBy: 'start',
    latencyGroup: 'killStop',
    disconnect: killDisconnect,
    abrupt: true,
  },
  stop: {
    target: 'slave',
    description: 'Stop the slave gracefully (SIGTERM, then SIGKILL after a grace period).',
    process: { from: LIVE, to: 'stopped', refusal: liveOnly },
    endedBy: 'start',
    latencyGroup: 'killStop',
    disconnect: killDisconnect,
    abrupt: false,
  },
  start: {
    target: 'slave',
    description: 'Start a slave that was killed or stopped.',
    process: {
      from: ['killed', 'stopped'],
      to: 'running',
      refusal: (state) => `it is ${state}; start follows a kill or a stop`,
    },
    latencyGroup: 'killStop',
    recovery: seenAgain,
    abrupt: false,
  },
  restart: {
    target: 'slave',
    description: 'Stop the slave, then start it again.',
    process: { from: LIVE, to: 'running', refusal: liveOnly },
    latencyGroup: 'killStop',
    disconnect: killDisconnect,
    recovery: seenAgain,
    abrupt: false,
  },
  pause: {
    target: 'slave',
    description: 'Freeze the slave (SIGSTOP / docker pause): its connection stays open but it sends nothing.',
    process: { from: ['running'], to: 'paused', refusal: (state, since) => `it is already ${state} (${since})` },
    endedBy: 'unpause',
    latencyGroup: 'cutPause',
    disconnect: timeoutDisconnect,
    abrupt: false,
  },
  unpause: {
    target: 'slave',
    description: 'Resume a paused slave (SIGCONT / docker unpause).',
    process: { from: ['paused'], to: 'running', refusal: (state) => `it is ${state}, not paused` },
    latencyGroup: 'killStop',
    recovery: seenAgainOrKept,
    abrupt: false,
  },
  'master-restart': {
    target: 'master',
    description:
      'Stop the master and start it again; every slave must reconnect. Its target is `master`, or no target.',
    latencyGroup: 'masterRestart',
    disconnect: { reasons: ['shutdown'], when: 'always' },
    recovery: seenAgain,
    abrupt: false,
  },
  ...NETWORK_ACTION_SPECS,
};

/** Every action, in the order of {@link ACTION_SPECS}. */
export const ACTIONS: readonly Action[] = Object.keys(ACTION_SPECS) as Action[];

/** Whether `value` names an action. */
export function isAction(value: unknown): value is Action {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(ACTION_SPECS, value);
}

/** The actions whose fault `ending` ends (`reconnect` -> `disconnect`; `heal` -> `delay`, `loss`, …). */
export function actionsEndedBy(ending: Action): Action[] {
  return ACTIONS.filter((action) => ACTION_SPECS[action].endedBy === ending);
}

/** The schema's `action` property: the words of the table. */
export function actionSchema(): {
  description: string;
  type: 'string';
  enum: Action[];
  enumDescriptions: string[];
} {
  return {
    description:
      "What to do. disconnect/reconnect cut and restore a slave's network (no FIN is sent); kill, stop, start, " +
      "restart, pause and unpause act on a slave's process or container; master-restart stops and starts the master; " +
      "delay, loss, bandwidth, slice, partition and degrade degrade a slave's link until a heal; reset resets its connection.",
    type: 'string',
    enum: [...ACTIONS],
    enumDescriptions: ACTIONS.map((action) => ACTION_SPECS[action].description),
  };
}

/**
 * The checker's reading of an action, derived from its row: the fields of
 * the checker's fault rule (check/fault-rules.ts), so that table can be built
 * from this one rather than list every action a second time.
 */
export interface FaultRuleView {
  /**
   * What it does: `end-process` (the slave's process ends; `restartsProcess`
   * says whether a new one follows), `start` (a process starts), `cut` (the
   * connection is broken while the process lives on; `disruption`, `endedBy`),
   * `heal` (that break or degradation ends), `master-restart` (the master
   * stops and starts), `degrade` (the link is degraded: `disconnectOf` says
   * what it may cause), `reset` (the connection is reset, the process lives on).
   */
  kind: 'end-process' | 'start' | 'cut' | 'heal' | 'master-restart' | 'degrade' | 'reset';
  /** It targets the master: its target names no slave. */
  targetsMaster: boolean;
  /** Where the detection latency of its disconnects is summed up. */
  latencyGroup: LatencyGroup;
  /** The master's disconnect reasons that fit it (none: it causes no disconnect). */
  disconnectReasons: readonly FaultDisconnectReason[];
  /** Its disconnect's bound from the confirmation; a master restart's is the old master's shutdown line. */
  disconnectBound?: (settings: BoundSettings) => Bound;
  /** The slave flag a `cut` or a `degrade` sets and its `heal` clears. */
  disruption?: 'cut' | 'paused' | 'degraded';
  /** A `degrade`'s disconnect, from its link fault. */
  disconnectOf?: (link: LinkFault, settings: BoundSettings) => DisconnectEffect | undefined;
  /** The action that ends a `cut` or a `degrade`. */
  endedBy?: Action;
  /** How notes name a `cut`. */
  noun?: string;
  /** An `end-process` that starts the process again (restart). */
  restartsProcess: boolean;
  /** Its in-flight window excuses the messages of a slave that asked for acks too, whatever the state (kill). */
  alwaysUnclean: boolean;
  /** It may take a `sent` line with the process after its frame went out (SIGKILL). */
  losesSentLines: boolean;
  /** After it, a connection that outlived the fault shows the node again (a short cut or pause). */
  mayKeep: boolean;
  /** After it, the node must be seen again. */
  recovers: boolean;
}

function kindOf(spec: ActionSpec): FaultRuleView['kind'] {
  const { process, link, disconnect } = spec;
  if (spec.target === 'master') return 'master-restart';
  if (typeof disconnect === 'function') return 'degrade';
  if (disconnect !== undefined && disconnect.when === 'longer') return 'cut';
  if (disconnect !== undefined) return process?.to === undefined ? 'reset' : 'end-process';
  if (link?.to === 'connected' || (process !== undefined && !process.from.some((s) => DOWN_STATES.has(s)))) {
    return 'heal';
  }
  return 'start';
}

/** {@link FaultRuleView} of `action`. */
export function faultRuleOf(action: Action): FaultRuleView {
  const spec = ACTION_SPECS[action];
  const kind = kindOf(spec);
  const disconnect = typeof spec.disconnect === 'function' ? undefined : spec.disconnect;
  const view: FaultRuleView = {
    kind,
    targetsMaster: spec.target === 'master',
    latencyGroup: spec.latencyGroup,
    disconnectReasons: disconnect?.reasons ?? [],
    restartsProcess: kind === 'end-process' && spec.process?.to === 'running',
    alwaysUnclean: spec.abrupt,
    losesSentLines: spec.abrupt,
    mayKeep: spec.recovery?.mayKeepConnection ?? false,
    recovers: spec.recovery !== undefined,
  };
  if (disconnect?.bound !== undefined) view.disconnectBound = disconnect.bound;
  if (typeof spec.disconnect === 'function') view.disconnectOf = spec.disconnect;
  const disruption = disruptionOf(kind, spec);
  if (disruption !== undefined) view.disruption = disruption;
  if (kind === 'cut' || kind === 'degrade') {
    // A killed slave's `start` is judged as a start of its own, not as the end of the kill.
    view.endedBy = spec.endedBy;
    view.noun = kind === 'degrade' ? action : disruption === 'cut' ? 'cut' : 'pause';
  }
  return view;
}

function disruptionOf(kind: FaultRuleView['kind'], spec: ActionSpec): FaultRuleView['disruption'] {
  if (kind === 'degrade') return 'degraded';
  if (kind !== 'cut' && kind !== 'heal') return undefined;
  if (spec.link === undefined) return 'paused';
  return spec.link.from.includes('degraded') ? 'degraded' : 'cut';
}
