export { checkRun } from './judge';
export { CLOCK_SKEW_MS, CUT_RECOVERY_SLACK_MS, IN_FLIGHT_SLACK_MS } from './context';
export { END_OF_RUN_REASONS, FAULT_RULES, RUN_END_LOSSY_REASONS, type CheckerActionRule } from './fault-rules';
export { seqRanges } from './rows';
