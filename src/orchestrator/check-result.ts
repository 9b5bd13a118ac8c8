/**
 * What the checker reports: its verdict and findings, as `report.json` holds
 * them (report.ts formats them). Kept apart from the checks themselves.
 */
import type { DetectorSpec } from './scenario-detector';
import type { Action, RunInfo } from './types';

/** `inconclusive`: the run cannot be judged (interrupted, a fault not confirmed in time, an unusable record). */
export type Verdict = 'pass' | 'fail' | 'inconclusive';

export type FailureKind =
  | 'missing'
  | 'duplicated'
  | 'out_of_order'
  | 'unexpected'
  /** A message the master logged under the right node and seq, but with another text or type than the slave sent. */
  | 'wrong_content'
  | 'missing_disconnect'
  /** More than one `disconnect` line for one connection (master incarnation + `conn`). */
  | 'duplicated_disconnect'
  | 'wrong_reason'
  | 'late_disconnect'
  | 'spurious_disconnect'
  | 'not_seen_again'
  /** The master refused a connection that did not prove the run's token: never expected of our own slaves. */
  | 'auth_failed'
  /** An injected delay towards the master that the messages sent under it did not show (or too few to tell). */
  | 'delay_not_seen';

/** Why something cannot be judged: the master is neither right nor wrong about it. */
export type InconclusiveKind =
  /** The record itself is unusable (e.g. a slave without a log, a master that never listened). */
  | 'invalid_run'
  /** The run was stopped before its end (`run.json` `interrupted`). */
  | 'interrupted'
  /** A fault the runner could not carry out or confirm: what followed cannot be told from it. */
  | 'fault_not_confirmed'
  /** A fault confirmed beyond {@link CONFIRM_LIMIT_MS} after its request, whose effect came late or not at all. */
  | 'slow_confirmation';

/** Inconclusive kinds that make the whole run unjudgeable, whatever else it shows; the others concern one check. */
export const RUN_INCONCLUSIVE_KINDS: readonly InconclusiveKind[] = [
  'invalid_run',
  'interrupted',
  'fault_not_confirmed',
];

/** Whether an inconclusive finding makes the whole run unjudgeable (one of {@link RUN_INCONCLUSIVE_KINDS}). */
export function isRunLevel(x: Pick<Inconclusive, 'kind'>): boolean {
  return RUN_INCONCLUSIVE_KINDS.includes(x.kind);
}

export interface MessageRef {
  /** 1-based: the slave's first process is incarnation 1. */
  incarnation: number;
  seq: number;
}

/** A timeline entry, the end of the run (index -1), or the slave's own outbox (index -2). */
export interface FaultRef {
  /** 0-based index in timeline.jsonl; -1 for `run-end`; -2 for `dropped`. */
  index: number;
  /** `dropped`: the slave dropped it unacked from a full outbox, and the master logged the gap. */
  action: Action | 'run-end' | 'dropped';
  target: string;
  atMs: number;
  /** A timeline entry's times (ISO): requested by the schedule, and confirmed in effect. */
  requestedAt?: string;
  confirmedAt?: string;
}

export interface NodeRow {
  /** Scenario name, e.g. `slave-2`. */
  name: string;
  /** The node id the master logs it under. */
  node: string;
  incarnations: number;
  /** Messages its `sent` lines record. */
  sent: number;
  /** Sent messages the master logged at least once. `sent = logged + missing + inFlight`. */
  logged: number;
  missing: MessageRef[];
  duplicated: MessageRef[];
  outOfOrder: MessageRef[];
  /** Messages the master logged under this node that no incarnation of it sent. */
  unexpected: number;
  /** Missing messages excused as in flight at a fault. */
  inFlight: MessageRef[];
  /** Disconnects that must be logged. */
  disconnectsExpected: number;
  /** Disconnects that may be logged (a cut shorter than the bound). */
  disconnectsOptional: number;
  /** Disconnects matched to a fault of this node (right or wrong). */
  disconnectsSeen: number;
  /** Disconnect timestamp − fault start, per matched disconnect. */
  detectionLatenciesMs: number[];
  /** When it sent its first message (ISO, its `sent` lines' clock); unset when it sent none. */
  firstSentAt?: string;
  /** When the master last logged one of its messages (ISO, the master's clock); unset when it logged none. */
  lastLoggedAt?: string;
}

export interface Failure<Kind extends string = FailureKind> {
  /** Scenario name of the slave (`slave-2`); the logged node id when it is no slave's. */
  node: string;
  kind: Kind;
  seq?: number;
  incarnation?: number;
  /** Timeline index of the fault this is about. */
  fault?: number;
  detail: string;
}

/** Something the checker cannot judge, and why. */
export type Inconclusive = Failure<InconclusiveKind>;

export interface TimeWindow {
  from: string;
  to: string;
  /** How `from` and `to` follow from the fault's times. */
  bound: string;
}

export interface ExcusedMessage extends MessageRef {
  node: string;
  nodeId: string;
  sentAt: string;
  fault: FaultRef;
  window: TimeWindow;
}

/** A message the master logged whose `sent` line a kill took with the slave process (see the checker). */
export interface SentLineLost extends MessageRef {
  node: string;
  fault: FaultRef;
}

/** One thing a fault makes the checker look for in the master's log. */
export interface ExpectationResult {
  fault: FaultRef;
  node: string;
  nodeId: string;
  /** `disconnect`: the fault breaks the connection; `recovery`: the node must be seen again. */
  check: 'disconnect' | 'recovery';
  /** `must`: a failure if absent; `may`: either is fine; `none`: nothing expected (`note` says why). */
  expect: 'must' | 'may' | 'none';
  /** Disconnect reasons that fit. */
  reasons?: string[];
  /** What is looked at: from (ISO) … deadline (ISO). */
  from: string;
  deadline: string;
  /** How the deadline follows from the fault's confirmation (or, at a master restart, the old master's shutdown line). */
  bound: string;
  seen?: { at: string; latencyMs: number; reason?: string; conn?: number };
  /** `not_applicable` for `expect: none`; `inconclusive` never counts as passed. */
  status: 'pass' | 'fail' | 'inconclusive' | 'not_applicable';
  note?: string;
}

export interface LatencySummary {
  count: number;
  p50Ms: number | null;
  maxMs: number | null;
}

/** Send-to-log latency of logged messages: master `message` line − slave `sent` line, whole ms, nearest rank. */
export interface MessageLatencySummary extends LatencySummary {
  p99Ms: number | null;
}

export interface MessageLatency {
  /** Every node's messages together. */
  all: MessageLatencySummary;
  /** Per scenario name (`slave-1`), every slave of the run. */
  nodes: Record<string, MessageLatencySummary>;
}

/** One injected delay towards the master, and what the messages sent under it took. */
export interface DelayCheck {
  /** Scenario name of the slave. */
  node: string;
  /** The timeline entry that put the delay on. */
  fault: FaultRef;
  /** The window (ISO): from the delay's confirmation to the request of what ended it. */
  from: string;
  to: string;
  /**
   * The messages judged are those sent from `from` to this (ISO): `to` less
   * the delay and its jitter, since what is still on its way when the delay
   * is lifted may arrive sooner.
   */
  judgedUntil: string;
  /** What ended it: `#7 heal requested`, or `the run's end`. */
  closedBy: string;
  delayMs: number;
  /** The fault's jitter (0 for none): each delay is drawn from `delayMs ± jitterMs`. */
  jitterMs: number;
  /** Messages sent from `from` to `judgedUntil` that the master logged, but the disrupted ones. */
  count: number;
  /**
   * Messages sent then and logged, but within another fault's in-flight
   * window of the node (a cut, a pause, a kill: they may have waited for a
   * resend): not judged.
   */
  disrupted: number;
  p50Ms: number | null;
  /** The node's p50 over its messages sent outside every delay window (request to end); null when there were none. */
  baselineP50Ms: number | null;
  /** The span p50 must lie in, inclusive; null when not checked. */
  withinMs: [number, number] | null;
  /** `not_applicable`: a delay too small to check (`note` says why). */
  status: 'pass' | 'fail' | 'not_applicable';
  note?: string;
}

export interface CheckReport {
  verdict: Verdict;
  scenario: string;
  backend: string;
  /** The seed `generate:` drew the run's events with (`run.json` `seed`); unset when the scenario has no `generate:`. */
  seed?: number;
  startedAt: string;
  endedAt: string;
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  /** The master's failure detector (`run.json` `detector`); unset: `fixed`, the timeout alone. */
  detector?: DetectorSpec;
  nodes: NodeRow[];
  expectations: ExpectationResult[];
  failures: Failure[];
  /** What cannot be judged: the run as a whole (interrupted, unusable, a fault not confirmed), or single checks. */
  inconclusive: Inconclusive[];
  /** Set when the run was stopped before its end. */
  interrupted?: RunInfo['interrupted'];
  excused: ExcusedMessage[];
  /** Logged messages of a killed process whose `sent` lines died with it: not unexpected. */
  sentLinesLost: SentLineLost[];
  /** Detection latency of matched disconnects, by kind of fault. */
  latency: {
    killStop: LatencySummary;
    cutPause: LatencySummary;
    masterRestart: LatencySummary;
    network: LatencySummary;
  };
  /** How long the logged messages took from the slave to the master's log. */
  messageLatency: MessageLatency;
  /** Each delay put on a slave's link towards the master, in the order the delays began. */
  delayChecks: DelayCheck[];
  /** Disconnects of connections that never named a slave node (a probe, a stray client): not checked. */
  otherConnections: number;
  /** Disconnects of the run's end: the last master's `shutdown` ones and the runner's teardown (closed/reset/shutdown). */
  endOfRunDisconnects: number;
  /**
   * What the backend warned of while it ran the cluster (`run.json`
   * `warnings`: e.g. a teardown step that failed); not judged. Unset when
   * there was none.
   */
  warnings?: string[];
}
