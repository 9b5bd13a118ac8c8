/**
 * The checker: decides from a recorded run whether the master logged every
 * message and every disconnect it should have.
 *
 * Ground truth is what the slaves wrote (their `sent` lines) and what the
 * runner did (the timeline); the master's log is only ever what is checked.
 * A message is keyed by (slave, incarnation, seq): a slave process numbers its
 * messages 1, 2, 3 … across reconnects, and a process started again (after a
 * kill, a stop, a restart) is a new incarnation that starts again at 1.
 *
 * A slave that asks for acks (its hello says `acks: true`) resends what was
 * not acked after any reconnect, and the master logs each message once: for
 * it, nothing is excused as in flight but what a `kill` took with the process
 * and what a fault still active at the run's end kept from being resent.
 *
 * No clock, and no I/O of its own: it reads the logs through the `RunSource`
 * it is given, either in memory (`readRunDirectory`) or streamed from the
 * files (`openRunDirectory`, run-directory.ts), reading the master's log
 * twice; report.ts formats the output.
 *
 * The checks are pure phases in check/, each from readonly input to its own
 * result; this module composes them. Findings keep the order of the phases
 * below: failures by phase, then within each phase in its own order.
 */
import type { CheckReport, ExpectationResult } from './check-result';
import {
  attributeMessages,
  checkConnections,
  checkLatency,
  checkRecoveries,
  judgeMessages,
  judgeUnexplained,
  judgeUnmatchedDisconnects,
  latencyOf,
  matchDisconnects,
  modelFaults,
  modelMaster,
  modelSlaves,
  nodeRow,
  planExpectations,
  runContext,
  verdictOf,
  type Expectation,
  type Outcome,
} from './check';
import { readRunLog } from './run-logs';
import type { RunLogEntry, RunSource } from './types';

export {
  CLOCK_SKEW_MS,
  CUT_RECOVERY_SLACK_MS,
  DELAY_CHECK_MIN_MESSAGES,
  DELAY_CHECK_MIN_MS,
  DELAY_TOLERANCE,
  DELAY_WINDOW_RULES,
  IN_FLIGHT_SLACK_MS,
  seqRanges,
  type DelayWindowRules,
} from './check';
export { KILL_DETECT_MS } from './bounds';
export type { RunLog, RunLogEntry, RunLogLine, RunRecord, RunSource } from './types';

/** The report's types live apart from the checks; importers of the checker get them here too. */
export * from './check-result';

/**
 * Checks a recorded run. Odd content that can be judged becomes a failure
 * (`invalid_run` when the run cannot be judged); a log line that is not JSON,
 * met while streaming, throws `RunDirectoryError` as reading it would have.
 */
export function checkRun(input: RunSource): CheckReport {
  const { info } = input;
  const run = runContext(info);
  const { ctx } = run;
  const slaveLogs: Record<string, Iterable<RunLogEntry<'slave'>>> = {};
  for (const [name, log] of Object.entries(input.slaves)) slaveLogs[name] = readRunLog(log, 'slave');
  const masterLog = readRunLog(input.master, 'master');
  const { slaves, ...slaveModel } = modelSlaves(info, slaveLogs);
  const { master, ...masterModel } = modelMaster(masterLog, slaves);
  const { faults, ...faultModel } = modelFaults(input.timeline, slaves);
  const { expectations, windows } = planExpectations(ctx, faults, slaves, master);
  const attribution = attributeMessages(ctx, masterLog, slaves, master, expectations);
  const unexplained = judgeUnexplained(ctx, attribution.unexplained, windows);
  const disconnects = matchDisconnects(ctx, slaves, master, expectations);
  const connections = checkConnections(ctx, slaves, master, expectations, disconnects.outcomes);
  const recoveries = checkRecoveries(ctx, expectations, attribution.sightings);
  const { tallies, conns } = attribution;
  const messages = judgeMessages({ ctx, slaves, master, windows, tallies, conns });
  const unmatched = judgeUnmatchedDisconnects(ctx, slaves, master, disconnects.matched);
  const latency = checkLatency({ ctx, slaves, tallies, timeline: input.timeline, disruptions: windows });

  const failures = [
    ...attribution.failures,
    ...unexplained.failures,
    ...disconnects.failures,
    ...connections,
    ...recoveries.failures,
    ...messages.failures,
    ...unmatched.failures,
    ...latency.failures,
  ];
  const inconclusive = [
    ...run.inconclusive,
    ...slaveModel.inconclusive,
    ...masterModel.inconclusive,
    ...faultModel.inconclusive,
    ...disconnects.inconclusive,
    ...recoveries.inconclusive,
  ];
  const judged = expectations.map((e) => ({
    group: e.group,
    result: resultOf(e, disconnects.outcomes.get(e) ?? recoveries.outcomes.get(e)),
  }));
  const results = judged.map((e) => e.result);
  const { excused } = messages;
  const { unexpectedByName } = unexplained;
  return {
    verdict: verdictOf(failures, inconclusive),
    scenario: info.scenario,
    backend: info.backend,
    ...(info.seed !== undefined ? { seed: info.seed } : {}),
    startedAt: info.startedAt,
    endedAt: info.endedAt,
    heartbeatIntervalMs: ctx.intervalMs,
    heartbeatTimeoutMs: ctx.timeoutMs,
    ...(info.detector !== undefined ? { detector: info.detector } : {}),
    nodes: slaves.list.map((slave) => nodeRow(slave, { results, failures, excused, tallies, unexpectedByName })),
    expectations: results,
    failures,
    inconclusive,
    interrupted: info.interrupted,
    excused: [...excused],
    sentLinesLost: [...unexplained.sentLinesLost],
    latency: latencyOf(judged),
    messageLatency: latency.messageLatency,
    delayChecks: [...latency.delayChecks],
    otherConnections: unmatched.otherConnections,
    endOfRunDisconnects: unmatched.endOfRunDisconnects,
    ...(info.warnings !== undefined && info.warnings.length > 0 ? { warnings: [...info.warnings] } : {}),
  };
}

/** An expectation as reported: as planned, with what a check found of it. */
function resultOf(e: Expectation, outcome: Outcome | undefined): ExpectationResult {
  const result: ExpectationResult = { ...e.base, status: outcome?.status ?? e.base.status };
  if (outcome?.seen !== undefined) result.seen = outcome.seen;
  return result;
}
