/**
 * The checker as a composition of pure phases over an immutable record: each
 * phase reads the models and earlier phases' results and returns its own;
 * none changes what another one holds. The master's log is read twice (the
 * model, then attribution), every other log once.
 */
import type { CheckReport, ExpectationResult } from '../check-result';
import type { RunSource } from '../types';
import { attributeMessages } from './attribution';
import { checkConnections, judgeUnmatchedDisconnects } from './connections';
import { runContext } from './context';
import { matchDisconnects } from './disconnects';
import { planExpectations } from './expectations';
import { modelFaults } from './faults';
import { modelMaster } from './master';
import { judgeMessages, judgeUnexplained } from './messages';
import type { Expectation } from './plan';
import { checkRecoveries } from './recoveries';
import { latencyOf, nodeRow, verdictOf } from './rows';
import { modelSlaves } from './slaves';
import type { Outcome } from './timing';

/**
 * Checks a recorded run. Odd content that can be judged becomes a failure
 * (`invalid_run` when the run cannot be judged); a log line that is not JSON,
 * met while streaming, throws `RunDirectoryError` as reading it would have.
 */
export function checkRun(input: RunSource): CheckReport {
  const { info } = input;
  const run = runContext(info);
  const { ctx } = run;
  const { slaves, ...slaveModel } = modelSlaves(info, input.slaves);
  const { master, ...masterModel } = modelMaster(input.master, slaves);
  const { faults, ...faultModel } = modelFaults(input.timeline, slaves);
  const { expectations, windows } = planExpectations(ctx, faults, slaves, master);
  const attribution = attributeMessages(ctx, input.master, slaves, master, expectations);
  const unexplained = judgeUnexplained(ctx, attribution.unexplained, windows);
  const disconnects = matchDisconnects(ctx, slaves, master, expectations);
  const connections = checkConnections(ctx, slaves, master, expectations, disconnects.outcomes);
  const recoveries = checkRecoveries(ctx, expectations, attribution.sightings);
  const { tallies, conns } = attribution;
  const messages = judgeMessages({ ctx, slaves, master, windows, tallies, conns });
  const unmatched = judgeUnmatchedDisconnects(ctx, slaves, master, disconnects.matched);

  const failures = [
    ...attribution.failures,
    ...unexplained.failures,
    ...disconnects.failures,
    ...connections,
    ...recoveries.failures,
    ...messages.failures,
    ...unmatched.failures,
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
    startedAt: info.startedAt,
    endedAt: info.endedAt,
    heartbeatIntervalMs: ctx.intervalMs,
    heartbeatTimeoutMs: ctx.timeoutMs,
    nodes: slaves.list.map((slave) => nodeRow(slave, { results, failures, excused, tallies, unexpectedByName })),
    expectations: results,
    failures,
    inconclusive,
    interrupted: info.interrupted,
    excused: [...excused],
    sentLinesLost: [...unexplained.sentLinesLost],
    latency: latencyOf(judged),
    otherConnections: unmatched.otherConnections,
    endOfRunDisconnects: unmatched.endOfRunDisconnects,
  };
}

/** An expectation as reported: as planned, with what a check found of it. */
function resultOf(e: Expectation, outcome: Outcome | undefined): ExpectationResult {
  const result: ExpectationResult = { ...e.base, status: outcome?.status ?? e.base.status };
  if (outcome?.seen !== undefined) result.seen = outcome.seen;
  return result;
}
