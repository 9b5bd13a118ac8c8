/**
 * A scenario's `events:`: each read into one event per target (and its
 * `for:` ending), each target checked against the run's slaves, and each
 * slave's process and link walked through the events to refuse the
 * transitions that cannot happen. Part of scenario.ts's semantic checks.
 */
import { formatDuration, showValue } from '../common/duration';
import { ACTION_SPECS, ACTIONS, actionsEndedBy, DOWN_STATES, type LinkState, type ProcessState } from './actions';
import { readLinkFault, type ParamProblem } from './link-params';
import type { PathSegment, Problem } from './scenario-problems';
import type { Action, ScenarioEvent } from './types';

/** A mapping of the scenario file, as parsed. */
export type Raw = Record<string, unknown>;

/** Reads a duration at `pointer`: its ms, or undefined (and a problem) when it is not one from `minMs` up. */
export type DurationReader = (key: string, pointer: string, value: unknown, minMs: number) => number | undefined;

/** What a slave is doing at some point of the run, as far as the scenario says. */
interface SlaveState {
  process: ProcessState;
  processSinceMs: number;
  link: LinkState;
  /** Since when its link is in that state. */
  linkSinceMs: number;
}

export interface PendingEvent extends ScenarioEvent {
  /** Its index in `events:`; -1: drawn by `generate:`. */
  index: number;
}

/** What reading the events needs of the rest of the file. */
export interface EventContext {
  valid: (pointer: string) => boolean;
  duration: DurationReader;
  slaves: number | undefined;
  durationMs: number | undefined;
}

/** The file's `events:`, one per target, each `for:` followed by its ending, in file order. */
export function readEvents(
  raw: Raw,
  known: EventContext,
  problems: Problem[],
  lineOfEvent: (index: number) => number,
): PendingEvent[] {
  const { valid, duration, slaves, durationMs } = known;
  const events: PendingEvent[] = [];
  // Not valid('/events'): one bad event must not hide the problems of the others.
  const rawEvents = Array.isArray(raw.events) ? (raw.events as unknown[]) : [];
  rawEvents.forEach((item, index) => {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) return;
    const event = item as Raw;
    const base = `/events/${index}`;
    const atMs = duration('at', `${base}/at`, event.at, 0);
    if (atMs !== undefined && durationMs !== undefined && atMs > durationMs) {
      problems.push({
        path: ['events', index, 'at'],
        message: `must be at most duration (${formatDuration(durationMs)}); got ${showValue(event.at)}`,
      });
    }
    const action = valid(`${base}/action`) && typeof event.action === 'string' ? (event.action as Action) : undefined;
    if (action === undefined || !valid(`${base}/target`)) return;
    const targets = checkTargets(event.target, action, index, slaves, problems);
    const paramProblems: ParamProblem[] = [];
    const link = readLinkFault(action, event, paramProblems);
    for (const { key, message } of paramProblems) {
      // A value the schema refused is reported already.
      if (valid(`${base}/${key}`)) problems.push({ path: ['events', index, key], message });
    }
    const ending = endingOf(event, action, atMs, { index, durationMs, duration }, problems);
    if (atMs === undefined || targets === undefined || paramProblems.length > 0) return;
    const line = lineOfEvent(index);
    for (const target of targets) {
      events.push({ atMs, action, target, line, index, ...(link === undefined ? {} : { link }) });
      if (ending !== undefined) events.push({ ...ending, target, line, index });
    }
  });

  return events;
}

/**
 * The ending an event's `for:` schedules (a `heal` for a delay, a `start` for
 * a kill), or undefined when it has none; a `for:` on an action that nothing
 * ends, or that ends after the duration, is a problem.
 */
function endingOf(
  event: Raw,
  action: Action,
  atMs: number | undefined,
  known: {
    index: number;
    durationMs: number | undefined;
    duration: DurationReader;
  },
  problems: Problem[],
): Omit<ScenarioEvent, 'target'> | undefined {
  if (event.for === undefined) return undefined;
  const path: PathSegment[] = ['events', known.index, 'for'];
  const endedBy = ACTION_SPECS[action].endedBy;
  if (endedBy === undefined) {
    const lasting = ACTIONS.filter((a) => ACTION_SPECS[a].endedBy !== undefined).join(', ');
    problems.push({ path, message: `is only for an action that lasts until its ending (${lasting}); got ${action}` });
    return undefined;
  }
  const forMs = known.duration('for', `/events/${known.index}/for`, event.for, 1);
  if (forMs === undefined || atMs === undefined) return undefined;
  if (known.durationMs !== undefined && atMs + forMs > known.durationMs) {
    problems.push({
      path,
      message: `must end by duration (${formatDuration(known.durationMs)}): at ${formatDuration(atMs)} + ${formatDuration(forMs)} is later`,
    });
    return undefined;
  }
  return { atMs: atMs + forMs, action: endedBy };
}

/** The targets of one event, or undefined when one of them is wrong (reported in `problems`). */
function checkTargets(
  target: unknown,
  action: Action,
  index: number,
  slaves: number | undefined,
  problems: Problem[],
): string[] | undefined {
  const path: PathSegment[] = ['events', index, 'target'];
  if (ACTION_SPECS[action].target === 'master') {
    if (target === undefined || target === 'master') return ['master'];
    problems.push({
      path,
      message: `${action} acts on the master: target must be master or omitted; got ${showValue(target)}`,
    });
    return undefined;
  }
  if (target === undefined) {
    problems.push({ path, message: `is required for action ${action}: a slave name or a list of them` });
    return undefined;
  }
  const names = typeof target === 'string' ? [target] : (target as string[]);
  let ok = true;
  names.forEach((name, position) => {
    const at = typeof target === 'string' ? path : [...path, position];
    if (name === 'master') {
      problems.push({
        path: at,
        message: `${action} acts on slaves only (master has ${MASTER_ACTIONS}); got "master"`,
      });
      ok = false;
      return;
    }
    const number = Number(name.slice('slave-'.length));
    if (slaves !== undefined && number > slaves) {
      const range = slaves === 1 ? 'slave-1' : `slave-1 … slave-${slaves}`;
      problems.push({ path: at, message: `no such slave: this scenario has ${range}; got "${name}"` });
      ok = false;
    }
  });
  return ok ? names : undefined;
}

/** The actions on the master, for messages: `master-restart`. */
const MASTER_ACTIONS = ACTIONS.filter((action) => ACTION_SPECS[action].target === 'master').join(', ');

/**
 * Why `action` cannot be applied to a slave in `state`, by the transitions of
 * its {@link ACTION_SPECS} row; undefined when it can.
 */
function refusalOf(action: Action, state: SlaveState): string | undefined {
  const { link, process } = ACTION_SPECS[action];
  const since = (ms: number): string => (ms === 0 ? 'from the start' : `since ${formatDuration(ms)}`);
  if (link !== undefined && !link.from.includes(state.link)) {
    return link.from.includes('connected')
      ? `it is ${state.link} (${since(state.linkSinceMs)})`
      : `it is not ${link.from.join(' or ')} (a ${action} must follow a ${actionsEndedBy(action).join(', a ')})`;
  }
  if (process === undefined || process.from.includes(state.process)) return undefined;
  if (DOWN_STATES.has(state.process) && process.from.includes('running')) {
    return `it is ${state.process} (${since(state.processSinceMs)}); start it first`;
  }
  return process.refusal(state.process, since(state.processSinceMs));
}

/** Walks each slave's state through the (sorted) events and reports the transitions that cannot happen. */
export function checkTransitions(events: PendingEvent[], problems: Problem[]): void {
  const states = new Map<string, SlaveState>();
  for (const event of events) {
    const spec = ACTION_SPECS[event.action];
    if (spec.target === 'master') continue;
    const state: SlaveState = states.get(event.target) ?? {
      process: 'running',
      processSinceMs: 0,
      link: 'connected',
      linkSinceMs: 0,
    };
    states.set(event.target, state);
    const why = refusalOf(event.action, state);
    if (why !== undefined) {
      problems.push({
        path: event.index < 0 ? ['generate'] : ['events', event.index, 'action'],
        message: `cannot ${event.action} ${event.target} at ${formatDuration(event.atMs)}: ${why}`,
      });
      continue;
    }
    if (spec.link?.to !== undefined) {
      state.link = spec.link.to;
      state.linkSinceMs = event.atMs;
    }
    if (spec.process?.to !== undefined) {
      state.process = spec.process.to;
      state.processSinceMs = event.atMs;
    }
  }
}
