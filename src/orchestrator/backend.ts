import { defaultHeartbeatTimeoutMs, parseLogLine as parseContractLine, type LogRecord } from '../protocol';
import { RunError } from './errors';
import type { RunDirectory } from './run-directory';
import { DEFAULT_DETECTOR, detectorEnv, detectorFlags, type DetectorSpec } from './scenario-detector';
import type { ContainerMemory, PeakRss, RunInfo, Scenario, ScenarioEvent } from './types';

/** The master's heartbeat timeout a scenario runs with, in ms: its own, or 3 × its heartbeat interval. */
export function heartbeatTimeoutOf(scenario: Scenario): number {
  return scenario.heartbeatTimeoutMs ?? defaultHeartbeatTimeoutMs(scenario.heartbeatIntervalMs);
}

/**
 * The slaves' reconnect backoff cap in a run: at most 1 s (4 intervals when
 * shorter), so a node is back within about a second of its recovery and the
 * checker's recovery bounds hold.
 */
export function reconnectMaxDelayOf(scenario: Scenario): number {
  return Math.min(1000, 4 * scenario.heartbeatIntervalMs);
}

/**
 * What every node of a run is started with, derived once from the scenario:
 * the local backend renders it as flags ({@link masterFlags},
 * {@link slaveFlags}), the container backends as the Compose file's
 * variables ({@link nodeSettingsEnv}).
 */
export interface NodeSettings {
  slaves: number;
  heartbeatIntervalMs: number;
  /** The master's timeout for silent nodes ({@link heartbeatTimeoutOf}). */
  heartbeatTimeoutMs: number;
  /** The master's failure detector: the scenario's, or `fixed`. */
  detector: DetectorSpec;
  /** The slaves' reconnect backoff cap ({@link reconnectMaxDelayOf}). */
  reconnectMaxDelayMs: number;
  /** The log is parsed: always JSON, whatever the caller's environment says. */
  logFormat: 'json';
}

/** The settings of the nodes of a run of `scenario`. */
export function nodeSettingsOf(scenario: Scenario): NodeSettings {
  return {
    slaves: scenario.slaves,
    heartbeatIntervalMs: scenario.heartbeatIntervalMs,
    heartbeatTimeoutMs: heartbeatTimeoutOf(scenario),
    detector: scenario.detector ?? DEFAULT_DETECTOR,
    reconnectMaxDelayMs: reconnectMaxDelayOf(scenario),
    logFormat: 'json',
  };
}

/** The settings as the variables `compose.yaml` is interpolated with (Compose and stack deploys). */
export function nodeSettingsEnv(settings: NodeSettings): Record<string, string> {
  return {
    SLAVES: String(settings.slaves),
    HEARTBEAT_INTERVAL_MS: String(settings.heartbeatIntervalMs),
    HEARTBEAT_TIMEOUT_MS: String(settings.heartbeatTimeoutMs),
    ...detectorEnv(settings.detector),
    RECONNECT_MAX_DELAY_MS: String(settings.reconnectMaxDelayMs),
    LOG_FORMAT: settings.logFormat,
  };
}

/** The master's share of the settings as `picluster master` flags. */
export function masterFlags(settings: NodeSettings): string[] {
  return [
    '--heartbeat-timeout-ms',
    String(settings.heartbeatTimeoutMs),
    ...detectorFlags(settings.detector),
    '--log-format',
    settings.logFormat,
  ];
}

/** A slave's share of the settings as `picluster slave` flags. */
export function slaveFlags(settings: NodeSettings): string[] {
  return [
    '--heartbeat-interval-ms',
    String(settings.heartbeatIntervalMs),
    '--reconnect-max-delay-ms',
    String(settings.reconnectMaxDelayMs),
    '--log-format',
    settings.logFormat,
  ];
}

/**
 * A line of the master's log, parsed: the documented fields plus the event's
 * own, whatever the event (a later version's too). Its typed view is
 * `logLineOf(line, 'master')` (protocol).
 */
export type MasterLogLine = LogRecord;

/** Where a backend reports what its nodes do while the cluster runs. */
export interface BackendSinks {
  /** Every line the master writes that parses as a JSON object, as it arrives (any incarnation). */
  onMasterLine(line: MasterLogLine): void;
}

/** A cluster a backend brought up: a master and the scenario's slaves. */
export interface StartedCluster {
  /** Scenario name of each slave (`slave-3`) -> the node id it uses in the master's log. */
  readonly nodes: Record<string, string>;
  /**
   * Carries out one fault and resolves only once it is confirmed to have taken
   * effect; rejects with a {@link RunError} (`PICLUSTER_ERR_FAULT_FAILED`) otherwise.
   */
  apply(event: ScenarioEvent): Promise<void>;
  /**
   * Stops the slaves (SIGTERM or its equivalent), then the master, so both
   * write their last lines; kills whatever is left after a grace period.
   * Idempotent. Rejects only after stopping everything, and only when a
   * node's log could not be written (`PICLUSTER_ERR_RUN_DIR`) or what the
   * backend runs beside the nodes failed during the run
   * (`PICLUSTER_ERR_BACKEND_UNAVAILABLE`: the local backend's fault
   * proxies); any other trouble while stopping goes to {@link warnings}.
   */
  down(): Promise<void>;
  /**
   * What went wrong that did not stop the run: a teardown step that failed, a
   * log stream that broke and was followed again. The runner writes them to
   * `run.json` and the report.
   */
  readonly warnings: readonly string[];
  /** Peak memory of the node processes, once `down()` has resolved; unset where the backend does not measure it. */
  readonly peakRss?: PeakRss;
  /** Docker backend: its containers' memory and start-up time, read by `down()` before it stops them. */
  readonly containerMemory?: ContainerMemory;
}

/**
 * What the runner drives to start a cluster and inject faults. A backend
 * appends each node's raw stdout lines to its log in the run directory
 * ({@link RunDirectory.openNodeLog}) as they arrive, across restarts.
 */
export interface Backend {
  readonly name: RunInfo['backend'];
  /**
   * Starts the master, then the slaves. When start-up fails half-way, stops
   * what was started, then rejects. Resolves once every node runs; the slaves
   * may not have said hello yet.
   */
  up(scenario: Scenario, runDir: RunDirectory, sinks: BackendSinks): Promise<StartedCluster>;
  /**
   * Why this backend cannot carry out one of the scenario's events here (an
   * action it has no mechanism for, a kernel without the qdisc it needs), in
   * one line naming the action; undefined when it can. Asked before anything
   * starts: the run is refused rather than run with a fault that does nothing.
   */
  refusal(scenario: Scenario): Promise<string | undefined>;
}

export { RunError };

/**
 * A log line from a node's stdout, when it is a JSON object with an `event`
 * (of any node, any event); anything else is left to the log file, nobody
 * waits for it.
 */
export function parseLogLine(raw: string): MasterLogLine | undefined {
  return parseContractLine(raw, 'master').record;
}

/** The error of a fault that was not carried out or not confirmed, naming the event and its line in the scenario. */
export function faultFailed(event: ScenarioEvent, why: string, cause?: unknown): RunError {
  const where = event.line === undefined ? '' : ` (line ${event.line})`;
  return new RunError('PICLUSTER_ERR_FAULT_FAILED', `${event.action} ${event.target}${where}: ${why}`, { cause });
}

/**
 * The first of the scenario's events `why` refuses, as one line naming the
 * backend, the action, its target and its line in the scenario; undefined
 * when it refuses none.
 */
export function firstRefusal(
  scenario: Scenario,
  backend: RunInfo['backend'],
  why: (event: ScenarioEvent) => string | undefined,
): string | undefined {
  for (const event of scenario.events) {
    const reason = why(event);
    if (reason === undefined) continue;
    const where = event.line === undefined ? '' : ` (line ${event.line})`;
    return `the ${backend} backend cannot ${event.action} ${event.target}${where}: ${reason}`;
  }
  return undefined;
}
