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
import { cutBound, killBound, recoveryBound, type Bound, type BoundSettings } from './bounds';

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
  | 'master-restart'; // stop and start the master (its target is `master`)

/** A slave's process as the scenario leaves it; a master-restart changes no slave's state. */
export type ProcessState = 'running' | 'paused' | 'killed' | 'stopped';

/** A slave's link to the master as the scenario leaves it. */
export type LinkState = 'connected' | 'cut';

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
  from: LinkState;
  to: LinkState;
}

/**
 * The latency groups of the check report (`latency` of a report): how long
 * the master took to log the disconnect each fault of the group caused.
 */
export type LatencyGroup = 'killStop' | 'cutPause' | 'masterRestart';

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
   * Only when the fault lasted longer than its bound (a cut, a pause: the
   * master notices them by its heartbeat timeout); otherwise always.
   */
  onlyWhenLonger: boolean;
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
  /** The disconnect it causes; unset when it causes none (a recovery). */
  disconnect?: DisconnectEffect;
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
const killDisconnect: DisconnectEffect = { reasons: KILL_REASONS, bound: killBound, onlyWhenLonger: false };
const timeoutDisconnect: DisconnectEffect = { reasons: ['timeout'], bound: cutBound, onlyWhenLonger: true };
const seenAgain: RecoveryEffect = { bound: recoveryBound, mayKeepConnection: false };
const seenAgainOrKept: RecoveryEffect = { bound: recoveryBound, mayKeepConnection: true };
const liveOnly = (state: ProcessState): string => `it is ${state}`;

/** Every action's meaning. The order of the rows is the order of the schema's enum. */
export const ACTION_SPECS: Readonly<Record<Action, ActionSpec>> = {
  disconnect: {
    target: 'slave',
    description:
      "Cut the slave's network without closing its connection (no FIN): the master only notices by heartbeat timeout.",
    link: { from: 'connected', to: 'cut' },
    process: { from: LIVE, refusal: liveOnly },
    endedBy: 'reconnect',
    latencyGroup: 'cutPause',
    disconnect: timeoutDisconnect,
    abrupt: false,
  },
  reconnect: {
    target: 'slave',
    description: 'Restore the network of a slave cut by an earlier disconnect.',
    link: { from: 'cut', to: 'connected' },
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
    disconnect: { reasons: ['shutdown'], onlyWhenLonger: false },
    recovery: seenAgain,
    abrupt: false,
  },
};

/** Every action, in the order of {@link ACTION_SPECS}. */
export const ACTIONS: readonly Action[] = Object.keys(ACTION_SPECS) as Action[];

/** Whether `value` names an action. */
export function isAction(value: unknown): value is Action {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(ACTION_SPECS, value);
}

/** The action whose fault `ending` ends (`reconnect` -> `disconnect`), if any. */
export function actionEndedBy(ending: Action): Action | undefined {
  return ACTIONS.find((action) => ACTION_SPECS[action].endedBy === ending);
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
      "restart, pause and unpause act on a slave's process or container; master-restart stops and starts the master.",
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
   * `heal` (that break ends), `master-restart` (the master stops and starts).
   */
  kind: 'end-process' | 'start' | 'cut' | 'heal' | 'master-restart';
  /** It targets the master: its target names no slave. */
  targetsMaster: boolean;
  /** Where the detection latency of its disconnects is summed up. */
  latencyGroup: LatencyGroup;
  /** The master's disconnect reasons that fit it (none: it causes no disconnect). */
  disconnectReasons: readonly FaultDisconnectReason[];
  /** Its disconnect's bound from the confirmation; a master restart's is the old master's shutdown line. */
  disconnectBound?: (settings: BoundSettings) => Bound;
  /** The slave flag a `cut` sets and its `heal` clears. */
  disruption?: 'cut' | 'paused';
  /** The action that ends a `cut`. */
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
  const { process, link } = spec;
  if (spec.target === 'master') return 'master-restart';
  if (spec.disconnect !== undefined && spec.disconnect.onlyWhenLonger) return 'cut';
  if (spec.disconnect !== undefined) return 'end-process';
  if (link?.to === 'connected' || (process !== undefined && !process.from.some((s) => DOWN_STATES.has(s)))) {
    return 'heal';
  }
  return 'start';
}

/** {@link FaultRuleView} of `action`. */
export function faultRuleOf(action: Action): FaultRuleView {
  const spec = ACTION_SPECS[action];
  const kind = kindOf(spec);
  const disruption =
    kind !== 'cut' && kind !== 'heal' ? undefined : spec.link !== undefined ? 'cut' : ('paused' as const);
  const view: FaultRuleView = {
    kind,
    targetsMaster: spec.target === 'master',
    latencyGroup: spec.latencyGroup,
    disconnectReasons: spec.disconnect?.reasons ?? [],
    restartsProcess: kind === 'end-process' && spec.process?.to === 'running',
    alwaysUnclean: spec.abrupt,
    losesSentLines: spec.abrupt,
    mayKeep: spec.recovery?.mayKeepConnection ?? false,
    recovers: spec.recovery !== undefined,
  };
  if (spec.disconnect?.bound !== undefined) view.disconnectBound = spec.disconnect.bound;
  if (disruption !== undefined) view.disruption = disruption;
  if (kind === 'cut') {
    // A killed slave's `start` is judged as a start of its own, not as the end of the kill.
    view.endedBy = spec.endedBy;
    view.noun = disruption === 'cut' ? 'cut' : 'pause';
  }
  return view;
}
