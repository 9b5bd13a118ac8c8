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
 * twice; report.ts formats the output. The checks themselves are pure phases
 * in check/ (check/judge.ts composes them); this module is their public face.
 */
export { checkRun, CLOCK_SKEW_MS, CUT_RECOVERY_SLACK_MS, IN_FLIGHT_SLACK_MS, seqRanges } from './check';
export { KILL_DETECT_MS } from './bounds';
export type { RunLogLine, RunRecord, RunSource } from './types';

/** The report's types live apart from the checks; importers of the checker get them here too. */
export * from './check-result';
