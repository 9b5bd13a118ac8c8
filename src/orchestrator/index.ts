export { RunError, heartbeatTimeoutOf, type Backend, type BackendSinks, type StartedCluster } from './backend';
export {
  ACTION_SPECS,
  DOWN_STATES,
  actionsEndedBy,
  isAction,
  type ActionSpec,
  type FaultDisconnectReason,
  type LatencyGroup,
  type ProcessState,
} from './actions';
export { checkRun, type CheckReport, type RunLog, type RunLogEntry, type RunSource, type Verdict } from './checker';
export { DEFAULT_DOCKER_IMAGE, DOCKER_PROJECT_PREFIX, DockerBackend, removeRunResources } from './docker';
export { LocalBackend } from './local/local-backend';
export { SWARM_STACK_PREFIX, SwarmBackend, removeStackResources } from './swarm';
export { formatTable } from './report';
export { REPORT_FILES, writeHtmlReport, writeReports } from './report-files';
export { toJUnitXml } from './junit';
export { RunDirectory, RunDirectoryError, openRunDirectory, readRunDirectory } from './run-directory';
export {
  DEFAULT_GENERATE_MAX_CONCURRENT,
  DEFAULT_GENERATE_MIN_GAP_MS,
  GENERATABLE_ACTIONS,
  MAX_GENERATE_RATE,
  MAX_GENERATE_SEED,
  generateEvents,
  mulberry32,
  type GenerateBase,
  type GenerateSpec,
} from './generate';
export { runScenario, type RunOptions, type RunResult } from './runner';
export {
  DEFAULT_SCENARIO_HEARTBEAT_INTERVAL_MS,
  MAX_SCENARIO_BYTES,
  MAX_SCENARIO_DURATION_MS,
  MAX_SCENARIO_EVENTS,
  MAX_SCENARIO_SLAVES,
  SCENARIO_SCHEMA_FILE,
  ScenarioError,
  loadScenario,
  parseScenario,
  type ScenarioOptions,
} from './scenario';
export { scenarioToYaml } from './scenario-yaml';
export {
  shrinkSchedule,
  type ShrinkOptions,
  type ShrinkResult,
  type ShrinkRun,
  type ShrinkVerdict,
  type ShrinkableEvent,
} from './shrink';
export {
  DEFAULT_SHRINK_MAX_RUNS,
  MAX_SHRINK_MAX_RUNS,
  SHRINK_FILES,
  failureKindOf,
  shrinkRunDirectory,
  type ShrinkRunOptions,
  type ShrinkRunResult,
} from './shrink-run';
export {
  ACTIONS,
  type Action,
  type PeakRss,
  type ContainerMemory,
  type RunEvent,
  type RunInfo,
  type Scenario,
  type ScenarioEvent,
  type TimelineEntry,
} from './types';
