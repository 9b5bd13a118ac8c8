/**
 * The scenario keys of the network actions (`delay: 300ms`, `percent: 20`,
 * `rate: 64kbit`, `bytes: 3`, `direction: to-master`, `profile: wifi-poor`):
 * which action takes which key, how each is read into a {@link LinkFault},
 * how it is written back, and the named `degrade` profiles. The scenario
 * loader, the schema writer, the YAML printer and the generator read it.
 *
 * Pure: no I/O.
 */
import { formatDuration, parseDuration, showValue } from '../common/duration';
import { LINK_DIRECTIONS, type LinkDirection, type LinkFault, type LinkShape } from './link-fault';

/** The kinds of value a parameter takes. */
type ParamKind = 'duration' | 'percent' | 'rate' | 'bytes' | 'direction' | 'profile';

/** One scenario key of a network action. */
interface ParamSpec {
  readonly kind: ParamKind;
  /** The field of the shape it sets (unset: `direction`, `profile`). */
  readonly field?: keyof LinkShape;
  readonly required?: boolean;
}

/** The network actions whose events carry a {@link LinkFault}. */
export type LinkAction = 'delay' | 'loss' | 'bandwidth' | 'slice' | 'partition' | 'degrade';

/** How one network action reads its keys. */
interface LinkActionParams {
  readonly keys: Readonly<Record<string, ParamSpec>>;
  /** `direction` when the event gives none; unset: `direction` is required. */
  readonly defaultDirection?: LinkDirection;
  /** Directions it accepts (partition: one way only). */
  readonly directions: readonly LinkDirection[];
  /** What it always does, whatever its keys (partition: drop). */
  readonly fixed?: LinkShape;
}

const ONE_WAY: readonly LinkDirection[] = ['to-master', 'from-master'];

/** An action with `keys` and an optional `direction`, both ways by default. */
function anyWay(keys: Record<string, ParamSpec>): LinkActionParams {
  return { keys: { ...keys, direction: { kind: 'direction' } }, defaultDirection: 'both', directions: LINK_DIRECTIONS };
}

/** Every network action's keys. `for` (any action with an ending) is read by the scenario loader. */
export const LINK_ACTION_PARAMS: Readonly<Record<LinkAction, LinkActionParams>> = {
  delay: anyWay({
    delay: { kind: 'duration', field: 'delayMs', required: true },
    jitter: { kind: 'duration', field: 'jitterMs' },
  }),
  loss: anyWay({
    percent: { kind: 'percent', field: 'lossPercent', required: true },
    correlation: { kind: 'percent', field: 'lossCorrelationPercent' },
  }),
  bandwidth: anyWay({ rate: { kind: 'rate', field: 'rateBitsPerSecond', required: true } }),
  slice: anyWay({
    bytes: { kind: 'bytes', field: 'sliceBytes', required: true },
    delay: { kind: 'duration', field: 'sliceDelayMs' },
  }),
  partition: { keys: { direction: { kind: 'direction', required: true } }, directions: ONE_WAY, fixed: { drop: true } },
  degrade: anyWay({
    profile: { kind: 'profile' },
    delay: { kind: 'duration', field: 'delayMs' },
    jitter: { kind: 'duration', field: 'jitterMs' },
    loss: { kind: 'percent', field: 'lossPercent' },
    rate: { kind: 'rate', field: 'rateBitsPerSecond' },
  }),
};

/** Whether `action` is a network action with keys of its own. */
export function isLinkAction(action: string): action is LinkAction {
  return Object.prototype.hasOwnProperty.call(LINK_ACTION_PARAMS, action);
}

/**
 * The named `degrade` profiles, after Comcast's and the figures commonly
 * quoted for such links: delay and jitter one way, loss per segment, rate.
 */
export const DEGRADE_PROFILES: Readonly<Record<string, LinkShape>> = {
  wifi: { delayMs: 40, jitterMs: 10, lossPercent: 0.2, rateBitsPerSecond: 30_000_000 },
  'wifi-poor': { delayMs: 150, jitterMs: 50, lossPercent: 2, rateBitsPerSecond: 1_000_000 },
  'dsl-poor': { delayMs: 70, jitterMs: 10, lossPercent: 2, rateBitsPerSecond: 2_000_000 },
  '3g': { delayMs: 250, jitterMs: 50, lossPercent: 1.5, rateBitsPerSecond: 750_000 },
  edge: { delayMs: 300, jitterMs: 100, lossPercent: 1.5, rateBitsPerSecond: 250_000 },
  gprs: { delayMs: 500, jitterMs: 100, lossPercent: 2, rateBitsPerSecond: 50_000 },
};

/** Longest delay or jitter, in ms. */
export const MAX_LINK_DELAY_MS = 60_000;
/** Largest slice, in bytes. */
export const MAX_SLICE_BYTES = 65_536;
/** Slowest and fastest rate, in bits per second. */
export const MIN_RATE_BPS = 1000;
export const MAX_RATE_BPS = 10_000_000_000;

const RATE_UNITS: Readonly<Record<string, number>> = { bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9 };
const RATE_PATTERN = /^([0-9]+(?:\.[0-9]+)?)(bit|kbit|mbit|gbit)$/;

/** What each kind accepts, for messages: completes "must be …". */
const FORMS: Readonly<Record<ParamKind, string>> = {
  duration: `a duration from 0 to ${formatDuration(MAX_LINK_DELAY_MS)} ("200ms", "1.5s")`,
  percent: 'a number from 0 to 100',
  rate: `a rate from 1kbit to 10gbit: a number with a unit bit, kbit, mbit or gbit ("64kbit", "1.5mbit")`,
  bytes: `a whole number of bytes from 1 to ${MAX_SLICE_BYTES}`,
  direction: LINK_DIRECTIONS.join(', '),
  profile: Object.keys(DEGRADE_PROFILES).join(', '),
};

/** Reads one value of `kind`; undefined when it is not one. */
function readValue(kind: ParamKind, value: unknown): number | string | undefined {
  switch (kind) {
    case 'duration': {
      try {
        const ms = parseDuration(value);
        return ms <= MAX_LINK_DELAY_MS ? ms : undefined;
      } catch {
        return undefined;
      }
    }
    case 'percent':
      return typeof value === 'number' && value >= 0 && value <= 100 ? value : undefined;
    case 'rate': {
      const match = typeof value === 'string' ? RATE_PATTERN.exec(value.trim()) : null;
      const bps = match === null ? NaN : Math.round(Number(match[1]) * (RATE_UNITS[match[2]!] ?? NaN));
      return bps >= MIN_RATE_BPS && bps <= MAX_RATE_BPS ? bps : undefined;
    }
    case 'bytes':
      return Number.isInteger(value) && (value as number) >= 1 && (value as number) <= MAX_SLICE_BYTES
        ? (value as number)
        : undefined;
    case 'direction':
      return LINK_DIRECTIONS.includes(value as LinkDirection) ? (value as string) : undefined;
    case 'profile':
      return typeof value === 'string' && Object.prototype.hasOwnProperty.call(DEGRADE_PROFILES, value)
        ? value
        : undefined;
  }
}

/** A problem with one key of an event: the key and what is wrong. */
export interface ParamProblem {
  key: string;
  message: string;
}

/** Keys of an event that are not parameters of any action. */
const EVENT_KEYS = new Set(['at', 'action', 'target', 'for']);

/** Every key any network action takes, for the schema. */
export const LINK_PARAM_KEYS: readonly string[] = [
  ...new Set(Object.values(LINK_ACTION_PARAMS).flatMap((params) => Object.keys(params.keys))),
];

/**
 * Reads the keys of an event of `action` into its {@link LinkFault}; every
 * problem goes to `problems`. Undefined for an action without keys (a key
 * given to one is a problem) or when a key is wrong.
 */
export function readLinkFault(
  action: string,
  event: Readonly<Record<string, unknown>>,
  problems: ParamProblem[],
): LinkFault | undefined {
  const params = isLinkAction(action) ? LINK_ACTION_PARAMS[action] : undefined;
  const extra = Object.keys(event).filter((key) => !EVENT_KEYS.has(key) && params?.keys[key] === undefined);
  for (const key of extra) {
    const accepted = params === undefined ? 'none' : Object.keys(params.keys).join(', ');
    problems.push({ key, message: `is not a parameter of ${action} (its parameters: ${accepted})` });
  }
  if (params === undefined) return undefined;
  const before = problems.length;
  const shape: LinkShape = { ...params.fixed };
  let direction = params.defaultDirection;
  let profile: string | undefined;
  for (const [key, spec] of Object.entries(params.keys)) {
    const raw = event[key];
    if (raw === undefined) {
      if (spec.required === true)
        problems.push({ key, message: `is required for action ${action}: ${FORMS[spec.kind]}` });
      continue;
    }
    const value = readValue(spec.kind, raw);
    if (value === undefined) {
      problems.push({ key, message: `must be ${FORMS[spec.kind]}; got ${showValue(raw)}` });
    } else if (spec.kind === 'direction') {
      direction = value as LinkDirection;
    } else if (spec.kind === 'profile') {
      profile = value as string;
    } else if (spec.field !== undefined) {
      (shape as Record<string, number>)[spec.field] = value as number;
    }
  }
  checkCombination(action as LinkAction, params, { direction, profile, shape }, problems);
  if (problems.length > before || direction === undefined) return undefined;
  const fault: LinkFault = {
    direction,
    shape: profile === undefined ? shape : { ...DEGRADE_PROFILES[profile], ...shape },
  };
  if (profile !== undefined) fault.profile = profile;
  return fault;
}

function checkCombination(
  action: LinkAction,
  params: LinkActionParams,
  read: { direction: LinkDirection | undefined; profile: string | undefined; shape: LinkShape },
  problems: ParamProblem[],
): void {
  const { direction, profile, shape } = read;
  if (direction !== undefined && !params.directions.includes(direction)) {
    problems.push({
      key: 'direction',
      message: `must be ${params.directions.join(' or ')} for ${action} (both ways: use disconnect); got "${direction}"`,
    });
  }
  if (action === 'degrade' && profile === undefined && Object.keys(shape).length === 0) {
    problems.push({
      key: 'profile',
      message: `is required for action degrade unless delay, jitter, loss or rate is given: ${FORMS.profile}`,
    });
  }
  if (shape.jitterMs !== undefined && shape.jitterMs > (shape.delayMs ?? 0) && profile === undefined) {
    problems.push({ key: 'jitter', message: `must be at most delay (${formatDuration(shape.delayMs ?? 0)})` });
  }
}

/** The keys of `fault` as an event of `action` writes them: `delay: 300ms, direction: both`. */
export function linkFaultKeys(action: LinkAction, fault: LinkFault): string[] {
  const params = LINK_ACTION_PARAMS[action];
  const keys: string[] = [];
  const fromProfile = fault.profile === undefined ? undefined : DEGRADE_PROFILES[fault.profile];
  if (fault.profile !== undefined) keys.push(`profile: ${fault.profile}`);
  for (const [key, spec] of Object.entries(params.keys)) {
    if (spec.field === undefined) continue;
    const value = fault.shape[spec.field] as number | undefined;
    if (value === undefined || fromProfile?.[spec.field] === value) continue;
    keys.push(`${key}: ${showParam(spec.kind, value)}`);
  }
  keys.push(`direction: ${fault.direction}`);
  return keys;
}

function showParam(kind: ParamKind, value: number): string {
  if (kind === 'duration') return formatDuration(value);
  if (kind !== 'rate') return String(value);
  for (const unit of ['gbit', 'mbit', 'kbit'] as const) {
    const per = RATE_UNITS[unit]!;
    if (value >= per && value % (per / 1000) === 0) return `${value / per}${unit}`;
  }
  return `${value}bit`;
}

/** The schema's properties for the network actions' keys, for scripts/write-scenario-schema.mjs. */
export function linkParamSchemas(): Record<string, object> {
  const kinds = new Map<string, ParamKind>();
  for (const params of Object.values(LINK_ACTION_PARAMS)) {
    for (const [key, spec] of Object.entries(params.keys)) kinds.set(key, spec.kind);
  }
  const usedBy = (key: string): string =>
    (Object.keys(LINK_ACTION_PARAMS) as LinkAction[]).filter((a) => key in LINK_ACTION_PARAMS[a].keys).join(', ');
  const schemaOf = (kind: ParamKind): object => {
    switch (kind) {
      case 'duration':
        return { allOf: [{ $ref: '#/definitions/duration' }] };
      case 'percent':
        return { type: 'number', minimum: 0, maximum: 100 };
      case 'rate':
        return { type: 'string', pattern: RATE_PATTERN.source };
      case 'bytes':
        return { type: 'integer', minimum: 1, maximum: MAX_SLICE_BYTES };
      case 'direction':
        return { type: 'string', enum: [...LINK_DIRECTIONS] };
      case 'profile':
        return { type: 'string', enum: Object.keys(DEGRADE_PROFILES) };
    }
  };
  return Object.fromEntries(
    [...kinds].map(([key, kind]) => [key, { description: `For ${usedBy(key)}: ${FORMS[kind]}.`, ...schemaOf(kind) }]),
  );
}
