export {
  DEFAULT_SCENARIO_HEARTBEAT_INTERVAL_MS,
  MAX_SCENARIO_DURATION_MS,
  MAX_SCENARIO_SLAVES,
  SCENARIO_SCHEMA_FILE,
  ScenarioError,
  loadScenario,
  parseScenario,
} from './scenario';
export { ACTIONS, type Action, type RunInfo, type Scenario, type ScenarioEvent, type TimelineEntry } from './types';
