/**
 * The faults, from the timeline: each one the runner carried out and
 * confirmed, with its times parsed, in the order they began.
 */
import { CONFIRM_LIMIT_MS } from '../bounds';
import type { FaultRef, Inconclusive } from '../check-result';
import type { LinkFault } from '../link-fault';
import type { Action, TimelineEntry } from '../types';
import { parseTime } from './context';
import { FAULT_RULES } from './fault-rules';
import type { SlavesModel } from './slaves';

export interface Fault {
  readonly ref: FaultRef;
  readonly action: Action;
  /** When the schedule called for it. */
  readonly requested: number;
  /** When the harness began applying it. */
  readonly started: number;
  readonly confirmed: number;
  /** Confirmed beyond {@link CONFIRM_LIMIT_MS} after its request: its timing cannot be judged. */
  readonly slow: boolean;
  /** A network action's degradation. */
  readonly link?: LinkFault;
}

/** The timeline's faults that can be judged; the others are inconclusive. */
export function modelFaults(
  timeline: readonly TimelineEntry[],
  slaves: SlavesModel,
): { faults: Fault[]; inconclusive: Inconclusive[] } {
  const faults: Fault[] = [];
  const inconclusive: Inconclusive[] = [];
  timeline.forEach((entry, index) => {
    const requestedAt = entry.requestedAt ?? entry.startedAt;
    const ref: FaultRef = {
      index,
      action: entry.action,
      target: entry.target,
      atMs: entry.atMs,
      requestedAt,
      confirmedAt: entry.confirmedAt,
    };
    if (!FAULT_RULES[entry.action].targetsMaster && !slaves.byName.has(entry.target)) {
      inconclusive.push({
        node: entry.target,
        kind: 'invalid_run',
        fault: index,
        detail: `timeline entry ${index + 1} (${entry.action}) targets "${entry.target}", which is not in run.json nodes`,
      });
      return;
    }
    if (entry.error !== undefined || entry.confirmedAt === undefined) {
      inconclusive.push({
        node: entry.target,
        kind: 'fault_not_confirmed',
        fault: index,
        detail: `${entry.action} of ${entry.target} at ${entry.atMs} ms was not carried out: ${entry.error ?? 'never confirmed'}`,
      });
      return;
    }
    const where = `timeline.jsonl line ${index + 1}`;
    const requested = parseTime(requestedAt, `${where} requestedAt`, inconclusive);
    const started = parseTime(entry.startedAt, `${where} startedAt`, inconclusive);
    const confirmed = parseTime(entry.confirmedAt, `${where} confirmedAt`, inconclusive);
    faults.push({
      ref,
      action: entry.action,
      requested,
      started,
      confirmed,
      slow: confirmed - requested > CONFIRM_LIMIT_MS,
      ...(entry.link === undefined ? {} : { link: entry.link }),
    });
  });
  // The runner records a fault when it is confirmed; a slow one (a master restart) may be
  // recorded after one that began later. The model walks them in the order they began.
  faults.sort((a, b) => a.started - b.started || a.ref.index - b.ref.index);
  return { faults, inconclusive };
}

/** `kill of slave-2 at 3000 ms`. */
export function faultText(fault: Fault): string {
  const { action, target, atMs } = fault.ref;
  return `${action} of ${FAULT_RULES[fault.action].targetsMaster ? 'the master' : target} at ${atMs} ms`;
}
