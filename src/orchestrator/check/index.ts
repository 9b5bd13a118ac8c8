export { attributeMessages } from './attribution';
export { checkConnections, judgeUnmatchedDisconnects } from './connections';
export { CLOCK_SKEW_MS, CUT_RECOVERY_SLACK_MS, IN_FLIGHT_SLACK_MS, runContext } from './context';
export { matchDisconnects } from './disconnects';
export { planExpectations } from './expectations';
export {
  disconnectBoundOf,
  END_OF_RUN_REASONS,
  FAULT_RULES,
  RUN_END_LOSSY_REASONS,
  type CheckerActionRule,
  type Disruption,
  type LatencyGroup,
} from './fault-rules';
export { modelFaults } from './faults';
export {
  checkLatency,
  DELAY_CHECK_MIN_MESSAGES,
  DELAY_CHECK_MIN_MS,
  DELAY_TOLERANCE,
  DELAY_WINDOW_RULES,
  delayWindows,
  type DelayWindow,
  type DelayWindowRules,
} from './latency';
export { modelMaster } from './master';
export { judgeMessages, judgeUnexplained } from './messages';
export type { Expectation } from './plan';
export { checkRecoveries } from './recoveries';
export { latencyOf, nodeRow, seqRanges, verdictOf } from './rows';
export { modelSlaves } from './slaves';
export type { Outcome } from './timing';
