/**
 * The semantic checks of a scenario's `generate:` key (what the schema
 * cannot say), and its expansion into events (generate.ts).
 */
import { formatDuration, showValue } from '../common/duration';
import { ACTION_SPECS } from './actions';
import {
  DEFAULT_GENERATE_MAX_CONCURRENT,
  DEFAULT_GENERATE_MIN_GAP_MS,
  generatedTargets,
  generateEvents,
  type GenerateSpec,
} from './generate';
import type { Problem } from './scenario-problems';
import type { Action, ScenarioEvent } from './types';

/** What the scenario's checks found before `generate:` is looked at. */
export interface GenerateContext {
  /** The `generate:` value, as parsed. */
  raw: unknown;
  /** Whether the schema accepted the value at this JSON pointer (and everything under it). */
  valid: (pointer: string) => boolean;
  /** Parses the duration at `pointer` (key `key`), reporting a bad one; undefined then. */
  duration: (key: string, pointer: string, value: unknown, minMs: number) => number | undefined;
  slaves: number | undefined;
  heartbeatIntervalMs: number | undefined;
  heartbeatTimeoutMs: number;
  durationMs: number | undefined;
  /** The scenario's own events, validated. */
  events: readonly ScenarioEvent[];
  /** `--seed`: replaces `generate.seed`. */
  seedOverride: number | undefined;
  /** Most events a scenario may hold. */
  maxEvents: number;
  problems: Problem[];
}

/** The seed used and the events drawn. */
export interface Generated {
  seed: number;
  events: ScenarioEvent[];
}

type Raw = Record<string, unknown>;

/** The spec and seed of `generate:`, or undefined when something is wrong (reported in `context.problems`). */
function checkSpec(context: GenerateContext): { spec: GenerateSpec; seed: number } | undefined {
  const { valid, problems } = context;
  const raw = context.raw as Raw;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
  const before = problems.length;
  const seed = context.seedOverride ?? (raw.seed as number | undefined);
  if (seed === undefined && valid('/generate/seed')) {
    problems.push({
      path: ['generate', 'seed'],
      message: 'is required (or give --seed): an integer from 0 to 4294967295',
    });
  }
  const slaves = context.slaves;
  const targets = valid('/generate/targets') ? (raw.targets as string[] | undefined) : undefined;
  targets?.forEach((name, index) => {
    if (slaves !== undefined && Number(name.slice('slave-'.length)) > slaves) {
      const range = slaves === 1 ? 'slave-1' : `slave-1 … slave-${slaves}`;
      problems.push({
        path: ['generate', 'targets', index],
        message: `no such slave: this scenario has ${range}; got "${name}"`,
      });
    }
  });
  const weights = valid('/generate/weights') ? (raw.weights as Record<string, number> | undefined) : undefined;
  const faults = Array.isArray(raw.faults) ? (raw.faults as unknown[]) : [];
  for (const action of Object.keys(weights ?? {})) {
    if (!faults.includes(action)) {
      problems.push({
        path: ['generate', 'weights', action],
        atKey: true,
        message: `is not among generate.faults (${faults.join(', ')}): give it there or drop its weight`,
      });
    }
  }
  const minGapMs =
    raw.min_gap === undefined
      ? DEFAULT_GENERATE_MIN_GAP_MS
      : context.duration('generate.min_gap', '/generate/min_gap', raw.min_gap, 0);
  if (!valid('/generate') || problems.length > before || seed === undefined || minGapMs === undefined) {
    return undefined;
  }
  const spec: GenerateSpec = {
    faults: raw.faults as Action[],
    ratePerMinute: raw.rate as number,
    minGapMs,
    maxConcurrent: (raw.max_concurrent as number | undefined) ?? DEFAULT_GENERATE_MAX_CONCURRENT,
  };
  if (targets !== undefined) spec.targets = targets;
  if (weights !== undefined) spec.weights = weights;
  return { spec, seed };
}

/**
 * Checks `generate:` and expands it: undefined when it is wrong, or when
 * the rest of the scenario is (problems already reported).
 */
export function expandGenerate(context: GenerateContext): Generated | undefined {
  const checked = checkSpec(context);
  const { slaves, heartbeatIntervalMs, durationMs, problems } = context;
  if (checked === undefined || slaves === undefined || heartbeatIntervalMs === undefined || durationMs === undefined) {
    return undefined;
  }
  const { spec, seed } = checked;
  const base = {
    slaves,
    heartbeatIntervalMs,
    heartbeatTimeoutMs: context.heartbeatTimeoutMs,
    durationMs,
    events: context.events,
  };
  const slaveFaults = spec.faults.filter((action) => ACTION_SPECS[action].target === 'slave');
  if (slaveFaults.length > 0 && generatedTargets(spec, base).length === 0) {
    problems.push({
      path: ['generate'],
      message: 'has no slave to target: events: act on every slave; give generate.targets or more slaves',
    });
    return undefined;
  }
  // Every attempt draws at least half the mean gap and makes at most two events: a bound known before drawing.
  const halfGapMs = Math.max(1, Math.ceil(Math.floor(60_000 / spec.ratePerMinute) / 2));
  const mostEvents = 2 * Math.floor(durationMs / halfGapMs) + context.events.length;
  if (mostEvents > context.maxEvents) {
    problems.push({
      path: ['generate', 'rate'],
      message:
        `could make up to ${mostEvents} events over ${formatDuration(durationMs)}, more than the limit of ` +
        `${context.maxEvents}; got ${showValue(spec.ratePerMinute)}`,
    });
    return undefined;
  }
  return { seed, events: generateEvents(spec, base, seed) };
}
