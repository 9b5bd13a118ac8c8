/**
 * The shapes the orchestrator's parts share: a validated scenario, the run
 * directory's metadata and fault timeline. The scenario loader produces
 * `Scenario`; the runner writes `RunInfo` and `TimelineEntry` lines; the
 * checker reads all three.
 */
import type { LogSource, ParsedLogLine, ReadLogLine } from '../protocol';
import type { Action } from './actions';
import type { LinkFault } from './link-fault';
import type { DetectorSpec } from './scenario-detector';

/** Every fault or recovery a scenario can ask for, and every one in the table's order: see actions.ts. */
export { ACTIONS, type Action } from './actions';

/** One scheduled event, after validation: a single target, times in ms. */
export interface ScenarioEvent {
  /** Offset from the start of the run, in ms. */
  atMs: number;
  action: Action;
  /** `slave-1` … `slave-N`, or `master`. An event with a list of targets becomes one event per target. */
  target: string;
  /** A network action's degradation (`delay`, `loss`, `bandwidth`, `slice`, `partition`, `degrade`); unset otherwise. */
  link?: LinkFault;
  /** 1-based line of the event in the scenario file, for messages. */
  line?: number;
}

export interface Scenario {
  name: string;
  /** Path of the file it was loaded from. */
  file: string;
  slaves: number;
  heartbeatIntervalMs: number;
  /** The master's timeout for silent nodes; unset: 3 × the interval. */
  heartbeatTimeoutMs?: number;
  /** The master's failure detector (`detector:`); unset: `fixed`, the timeout alone. */
  detector?: DetectorSpec;
  durationMs: number;
  /** Ordered by `atMs`, then by position in the file; with `generate:`, its events merged in. */
  events: ScenarioEvent[];
  /** The seed `generate:` drew its events with (`--seed` or `generate.seed`); unset: no `generate:`. */
  seed?: number;
}

/** One event as `run.json` records it: a single target, time in ms. */
export interface RunEvent {
  atMs: number;
  action: Action;
  target: string;
  /** A network action's degradation; unset for other actions. */
  link?: LinkFault;
}

/** `run.json` in a run directory. */
export interface RunInfo {
  scenario: string;
  backend: 'local' | 'docker' | 'swarm';
  /** ISO timestamps. */
  startedAt: string;
  endedAt: string;
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  /** The master's failure detector; unset (a run before detectors could be chosen): `fixed`. */
  detector?: DetectorSpec;
  durationMs: number;
  /** Scenario name of each slave (`slave-3`) -> the node id it uses in the master's log. */
  nodes: Record<string, string>;
  /** Only for a scenario with `generate:`: the seed it was drawn with. */
  seed?: number;
  /** Only for a scenario with `generate:`: every event of the run, its own and the drawn ones, ordered by `atMs`. */
  events?: RunEvent[];
  /** Set when the run was stopped before its end (Ctrl-C, SIGTERM…): such a run cannot be judged. */
  interrupted?: RunInterruption;
  /** What went wrong in the backend that did not stop the run (a teardown step that failed); unset: nothing. */
  warnings?: string[];
  /** Peak memory of the node processes (local backend, Linux); unset where not measured. */
  peakRss?: PeakRss;
  /** Docker backend only: the containers' memory at the end of the run and how long they took to start. */
  containerMemory?: ContainerMemory;
}

/**
 * Peak resident memory (`VmHWM` of `/proc/<pid>/status`) of a run's node
 * processes, sampled as they are stopped at the end of the run, in bytes, and
 * the master's CPU time then. A process that had exited by then (a killed
 * slave) is not counted.
 */
export interface PeakRss {
  /** The master's last incarnation. */
  masterBytes: number;
  /**
   * CPU time (user + system, `/proc/<pid>/stat`, 10 ms resolution) the
   * master's last incarnation used until it was sampled, in ms; unset where
   * not read. Sampled with the peak RSS, before the slaves are stopped.
   */
  masterCpuMs?: number;
  /** Slave processes sampled; a process running many slaves (`--replicas`) counts once. */
  slaveProcesses: number;
  /** The largest one slave process reached. */
  slaveMaxBytes: number;
  /** The sum over the slave processes of each one's peak. */
  slaveTotalBytes: number;
}

/**
 * The memory of a docker run's containers, read from the engine (`docker
 * stats`) once the schedule is over, before they are stopped; and the
 * cluster's start-up time. Bytes are the cgroup's usage less its inactive
 * file cache, as `docker stats` shows it.
 */
export interface ContainerMemory {
  /** When the containers were read (ISO). */
  sampledAt: string;
  /** Slave containers read: those running at the end (a killed slave that was not started again has none). */
  slaves: number;
  /** Mean and largest memory of a slave container, in bytes. */
  slaveMeanBytes: number;
  slaveMaxBytes: number;
  /** The master container's memory, in bytes; unset when it could not be read. */
  masterBytes?: number;
  /**
   * The highest usage each container's cgroup saw during the run (cgroup v1's
   * `max_usage`, page cache included), mean and largest over the slaves and
   * the master's, in bytes; unset where the engine does not report it (cgroup v2).
   */
  slavePeakMeanBytes?: number;
  slavePeakMaxBytes?: number;
  masterPeakBytes?: number;
  /** From `docker compose create` to the end of `docker compose start`, in ms: every container created and started. */
  composeUpMs: number;
  /** The part of {@link composeUpMs} that `docker compose create` took, in ms. */
  composeCreateMs?: number;
  /** From `docker compose create` to the master's first `hello` of the last slave to say one, in ms; unset if one never did. */
  allHellosMs?: number;
}

/** Why and when a run was stopped before its end. */
export interface RunInterruption {
  /** The signal that stopped it (`SIGINT`), or `abort` when the caller aborted it otherwise. */
  signal: string;
  /** When (ISO). */
  at: string;
}

/**
 * One line of `timeline.jsonl`: a fault the runner carried out, with its three
 * times. Its effect (a disconnect, a hello) may come at any time from the
 * request to the confirmation plus the fault's bound: the harness cannot know
 * when, between the two, the engine or the kernel made it happen.
 */
export interface TimelineEntry {
  action: Action;
  target: string;
  /** A network action's degradation, as carried out; unset for other actions. */
  link?: LinkFault;
  /** Scheduled offset, in ms from the start of the run. */
  atMs: number;
  /**
   * When the schedule called for it (ISO): the runner reached `atMs`. Later
   * runs always write it; a run directory without it is read with `startedAt`.
   */
  requestedAt?: string;
  /** When the harness began applying it (ISO): after the previous event on the same node was confirmed. */
  startedAt: string;
  /** When it was confirmed to have taken effect (ISO): container state, proxy state, process state; unset when it failed. */
  confirmedAt?: string;
  /** Why it failed, when it did. */
  error?: string;
}

/** One parsed JSON line of a node's log; `timestamp` is ISO. */
export interface RunLogLine {
  timestamp: string;
  event: string;
  [field: string]: unknown;
}

/**
 * One line of `source`'s log as the checker reads it, through the log
 * contract: `line` is the typed view when the event is one this version knows
 * (`kind: 'line'`), undefined otherwise (`kind: 'unknown'`); `record` is the
 * object as read, every field included.
 */
export type RunLogEntry<S extends LogSource> = Extract<ParsedLogLine<ReadLogLine<S>>, { kind: 'line' | 'unknown' }>;

/**
 * A node's log read through the log contract, each line parsed once per
 * reading: `lines()` may be iterated as often as wanted, each time from the
 * first line.
 */
export interface RunLog<S extends LogSource> {
  readonly source: S;
  lines(): Iterable<RunLogEntry<S>>;
}

/** Everything a run directory holds that the checker needs, each slave's log read once, in order. */
export interface RunSource {
  info: RunInfo;
  /** In the order the runner carried the faults out. */
  timeline: TimelineEntry[];
  /**
   * Every line the master wrote, all incarnations, in order; iterated twice, each time from its first line.
   * Raw lines (a run in memory) are read through the log contract by the checker.
   */
  master: RunLog<'master'> | Iterable<RunLogLine>;
  /** Scenario name (`slave-3`) -> every line that slave wrote, all incarnations, in order. */
  slaves: Record<string, RunLog<'slave'> | Iterable<RunLogLine>>;
}

/** A run with every line in memory. */
export interface RunRecord extends RunSource {
  master: RunLogLine[];
  slaves: Record<string, RunLogLine[]>;
}
