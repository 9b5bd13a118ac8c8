import { PROTOCOL_ERROR_CODES, type ProtocolErrorCode } from '../common/errors';
import { DETECTOR_KINDS, type DetectorKind } from './phi';

/**
 * The log contract: every line the master and the slaves write, as data.
 * One table per process ({@link MASTER_LOG_EVENTS}, {@link SLAVE_LOG_EVENTS})
 * names each event, its levels and its fields in the order they are written;
 * the types are derived from the tables, so a table and its types cannot
 * drift, and `docs/log-contract.md` is checked against the tables by a test.
 * Pure: no I/O.
 */

/** Why a connection ended; a master's `disconnect` line carries exactly one. */
export const DISCONNECT_REASONS = [
  'closed',
  'reset',
  'timeout',
  'protocol_error',
  'replaced',
  'shutdown',
  /** Handling the peer's input threw: a bug of ours, which costs that connection only. */
  'internal_error',
  /** More frames than `maxFramesPerSecond` allows. */
  'rate_limited',
  /** A master with a token got something else first than a hello that proves it; `code` says what ({@link AuthFailure}). */
  'auth_failed',
] as const;
export type DisconnectReason = (typeof DISCONNECT_REASONS)[number];

/**
 * Why an `auth_failed` connection failed: `auth_required`, its first frame
 * was no hello with a proof (or no frame at all could be read); `bad_proof`,
 * a hello's proof was malformed or not of this connection's nonce, node and
 * boot under the master's token.
 */
export type AuthFailure = 'auth_required' | 'bad_proof';

export { PROTOCOL_ERROR_CODES, type ProtocolErrorCode };

/** The code of a slave's `protocol_error` line: the master acked, or asked for a resend after, a seq never sent. */
export const BAD_ACK_CODE = 'PICLUSTER_ERR_BAD_ACK';

/** What a master's `limit` line says was limited. */
export const LIMIT_KINDS = ['heartbeat_timeout', 'connections', 'descriptors', 'ledger'] as const;
export type LimitKind = (typeof LIMIT_KINDS)[number];

/** Why a master's `recovered` line says a ledger checkpoint was there and not used. */
export const CHECKPOINT_REJECTIONS = ['unreadable', 'torn', 'version', 'log_truncated', 'log_replaced'] as const;
export type CheckpointRejection = (typeof CHECKPOINT_REJECTIONS)[number];

/** What each kind of field holds. */
interface KindValues {
  string: string;
  number: number;
  boolean: boolean;
  /** Written as `true` or left out. */
  true: true;
  /** How many of each: `{ "code": n }`. */
  counts: Readonly<Record<string, number>>;
  /** `token` when a token is used; never the token. */
  auth: 'token';
  reason: DisconnectReason;
  protocol_code: ProtocolErrorCode;
  bad_ack: typeof BAD_ACK_CODE;
  limit: LimitKind;
  checkpoint_rejection: CheckpointRejection;
  detector: DetectorKind;
}
type Kind = keyof KindValues;

function oneOf(values: readonly string[]): (value: unknown) => boolean {
  const set = new Set<unknown>(values);
  return (value) => set.has(value);
}

/** How a reader checks each kind: the compiler asks for one per kind. */
const KIND_CHECKS: { readonly [K in Kind]: (value: unknown) => boolean } = {
  string: (value) => typeof value === 'string',
  number: (value) => typeof value === 'number',
  boolean: (value) => typeof value === 'boolean',
  true: (value) => value === true,
  counts: (value) =>
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    Object.values(value).every((n) => typeof n === 'number'),
  auth: (value) => value === 'token',
  reason: oneOf(DISCONNECT_REASONS),
  protocol_code: oneOf(PROTOCOL_ERROR_CODES),
  bad_ack: (value) => value === BAD_ACK_CODE,
  limit: oneOf(LIMIT_KINDS),
  checkpoint_rejection: oneOf(CHECKPOINT_REJECTIONS),
  detector: oneOf(DETECTOR_KINDS),
};

/** A field's kind; with `?`, the field is left out when it has no value. */
type FieldSpec = Kind | `${Kind}?`;

/** The levels of the contract's lines (the logger also knows `debug`, which no event uses). */
export const LOG_LEVELS = ['error', 'warn', 'info'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** One event: the levels its lines have, and its fields in the order they are written. */
export interface LogEventSpec {
  readonly levels: readonly LogLevel[];
  readonly fields: Readonly<Record<string, FieldSpec>>;
}

/** Lines both processes may write: the CLI's start-up failure, the logger's own. */
const SHARED_EVENTS = {
  /** The process cannot start: a TLS file it cannot use, a port it cannot listen on. */
  error: { levels: ['error'], fields: { code: 'string?', file: 'string?' } },
  /** With a log file, lines stdout's reader fell too far behind to get; written once stdout caught up. */
  log_dropped: { levels: ['warn'], fields: { destination: 'string', lines: 'number' } },
} as const satisfies Record<string, LogEventSpec>;

/** Every line of the master's log. */
export const MASTER_LOG_EVENTS = {
  listening: {
    levels: ['info'],
    fields: {
      port: 'number',
      host: 'string',
      health_port: 'number?',
      metrics_port: 'number?',
      auth: 'auth?',
      tls: 'true?',
      detector: 'detector?',
      phi_threshold: 'number?',
      phi_min_std_dev_ms: 'number?',
      phi_acceptable_pause_ms: 'number?',
    },
  },
  connect: { levels: ['info'], fields: { conn: 'number', remote: 'string', node: 'string' } },
  message: {
    levels: ['info'],
    fields: { node: 'string', seq: 'number?', type: 'string', conn: 'number', acks: 'boolean?', boot: 'string?' },
  },
  disconnect: {
    levels: ['info'],
    fields: {
      node: 'string',
      seq: 'number?',
      reason: 'reason',
      conn: 'number',
      duplicates: 'number?',
      ahead: 'number?',
      silent_ms: 'number?',
      detector: 'detector?',
      phi: 'number?',
      errors: 'number?',
      replaced_by: 'number?',
      code: 'string?',
      error: 'string?',
      max_frames_per_second: 'number?',
    },
  },
  gap: {
    levels: ['warn'],
    fields: { node: 'string', boot: 'string?', from: 'number', to: 'number', conn: 'number' },
  },
  protocol_error: {
    levels: ['warn'],
    fields: {
      code: 'protocol_code',
      excerpt: 'string',
      node: 'string',
      conn: 'number',
      repeated: 'number?',
      codes: 'counts?',
    },
  },
  limit: {
    levels: ['warn'],
    fields: {
      limit: 'limit',
      node: 'string?',
      conn: 'number?',
      asked_ms: 'number?',
      applied_ms: 'number?',
      refused: 'number?',
      open: 'number?',
      max_connections: 'number?',
      evicted: 'number?',
      nodes: 'number?',
      applied: 'number?',
      open_files: 'number?',
    },
  },
  recovered: {
    levels: ['info', 'warn'],
    fields: {
      file: 'string',
      nodes: 'number',
      lines: 'number',
      unreadable: 'number',
      checkpoint: 'boolean',
      checkpoint_ignored: 'checkpoint_rejection?',
      offset: 'number',
      ms: 'number',
    },
  },
  checkpoint_failed: { levels: ['warn'], fields: { file: 'string', code: 'string?' } },
  shutdown: { levels: ['info'], fields: { connections: 'number', signal: 'string?' } },
  server_error: { levels: ['error'], fields: { code: 'string?' } },
  tls_error: {
    levels: ['warn'],
    fields: { code: 'string', remote: 'string?', count: 'number', codes: 'counts?' },
  },
  ...SHARED_EVENTS,
} as const satisfies Record<string, LogEventSpec>;

/** Every line of a slave's log. Each one names the slave: `node` comes right after `message`. */
export const SLAVE_LOG_EVENTS = {
  starting: {
    levels: ['info'],
    fields: {
      node: 'string',
      master: 'string',
      interval_ms: 'number',
      id_source: 'string?',
      acks: 'boolean',
      boot: 'string?',
      auth: 'auth?',
      tls: 'true?',
    },
  },
  connecting: { levels: ['info'], fields: { node: 'string', attempt: 'number' } },
  connected: { levels: ['info'], fields: { node: 'string', local_port: 'number?' } },
  sent: {
    levels: ['info'],
    fields: { node: 'string', seq: 'number?', type: 'string', acks: 'true?', boot: 'string?' },
  },
  resent: { levels: ['info'], fields: { node: 'string', seq: 'number', type: 'string' } },
  held: { levels: ['warn'], fields: { node: 'string', seq: 'number', buffered_bytes: 'number' } },
  resumed: { levels: ['info'], fields: { node: 'string', held: 'number', held_ms: 'number' } },
  write_stalled: {
    levels: ['warn'],
    fields: { node: 'string', stalled_ms: 'number', buffered_bytes: 'number' },
  },
  protocol_error: {
    levels: ['warn'],
    fields: { node: 'string', code: 'bad_ack', excerpt: 'string', seq: 'number', last_seq: 'number' },
  },
  skipped: { levels: ['warn'], fields: { node: 'string', from: 'number', to: 'number' } },
  disconnected: {
    levels: ['info'],
    fields: {
      node: 'string',
      reason: 'string',
      code: 'string?',
      error: 'string?',
      unacked: 'number?',
      held: 'number?',
      ignored_resends: 'number?',
    },
  },
  reconnecting: { levels: ['info'], fields: { node: 'string', attempt: 'number', delay_ms: 'number' } },
  ack_timeout: { levels: ['warn'], fields: { node: 'string', timeout_ms: 'number', unacked: 'number' } },
  dropped: { levels: ['warn'], fields: { node: 'string', seq: 'number' } },
  stopped: { levels: ['info'], fields: { node: 'string', sent: 'number', unacked: 'number?' } },
  ...SHARED_EVENTS,
} as const satisfies Record<string, LogEventSpec>;

/** The process whose log a line is of. */
export type LogSource = 'master' | 'slave';

/** The tables by process. */
export const LOG_EVENTS = { master: MASTER_LOG_EVENTS, slave: SLAVE_LOG_EVENTS } as const satisfies Record<
  LogSource,
  Record<string, LogEventSpec>
>;

type Tables = typeof LOG_EVENTS;
export type MasterEvent = keyof Tables['master'];
export type SlaveEvent = keyof Tables['slave'];
export type LogEventOf<S extends LogSource> = keyof Tables[S] & string;

type Simplify<T> = { [K in keyof T]: T[K] } & {};
type ValueOf<F> = F extends `${infer K extends Kind}?` ? KindValues[K] : F extends Kind ? KindValues[F] : never;
type Fields<S extends LogEventSpec> = S['fields'];
type RequiredKeys<S extends LogEventSpec> = {
  [F in keyof Fields<S>]: Fields<S>[F] extends `${string}?` ? never : F;
}[keyof Fields<S>];
type OptionalKeys<S extends LogEventSpec> = Exclude<keyof Fields<S>, RequiredKeys<S>>;
type LevelOf<S extends LogEventSpec> = S['levels'][number];

/** A line of `event` as the process writes it: the lead fields, then the event's own. */
type WrittenLine<E extends string, S extends LogEventSpec> = Simplify<
  { timestamp: string; level: LevelOf<S>; event: E; message: string } & {
    [F in RequiredKeys<S>]: ValueOf<Fields<S>[F]>;
  } & { [F in OptionalKeys<S>]?: ValueOf<Fields<S>[F]> }
>;

/**
 * What a writer hands the logger for `event`: no timestamp; `level` may be
 * left out when `info` is one of the event's levels; a field without a
 * value may be `undefined` (it is then left out of the line).
 */
type LineToWrite<E extends string, S extends LogEventSpec> = Simplify<
  { event: E; message: string } & ('info' extends LevelOf<S> ? { level?: LevelOf<S> } : { level: LevelOf<S> }) & {
      [F in RequiredKeys<S>]: ValueOf<Fields<S>[F]>;
    } & { [F in OptionalKeys<S>]?: ValueOf<Fields<S>[F]> | undefined }
>;

/**
 * A line as a reader gets it from a file: the event is known, each field
 * that is there has the documented type, but any may be missing (a log of
 * another version, a doctored log in a test).
 */
type ReadLine<E extends string, S extends LogEventSpec> = Simplify<
  { event: E } & { [F in keyof WrittenLine<E, S> as F extends 'event' ? never : F]?: WrittenLine<E, S>[F] }
>;

type Union<S extends LogSource, Shape extends 'written' | 'write' | 'read'> = {
  [E in LogEventOf<S>]: Tables[S][E] extends infer Spec extends LogEventSpec
    ? Shape extends 'written'
      ? WrittenLine<E, Spec>
      : Shape extends 'write'
        ? LineToWrite<E, Spec>
        : ReadLine<E, Spec>
    : never;
}[LogEventOf<S>];

/** Every line of the master's log as the master writes it, keyed on `event`. */
export type WrittenMasterLine = Union<'master', 'written'>;
/** Every line of a slave's log as the slave writes it, keyed on `event`. */
export type WrittenSlaveLine = Union<'slave', 'written'>;
/** What the master hands its logger: a misspelt event or a field of the wrong type does not compile. */
export type MasterLogWrite = Union<'master', 'write'>;
/** What a slave hands its logger. */
export type SlaveLogWrite = Union<'slave', 'write'>;
/** A line of `source`'s log as read back: see {@link parseLogLine}. */
export type ReadLogLine<S extends LogSource> = Union<S, 'read'>;
export type ReadMasterLine = ReadLogLine<'master'>;
export type ReadSlaveLine = ReadLogLine<'slave'>;
/** One event's line as the master writes it, e.g. `MasterLine<'disconnect'>`. */
export type MasterLine<E extends MasterEvent> = Extract<WrittenMasterLine, { event: E }>;
/** One event's line as a slave writes it. */
export type SlaveLine<E extends SlaveEvent> = Extract<WrittenSlaveLine, { event: E }>;

/** A JSON line that is an object with an `event`, whatever the event. */
export type LogRecord = Record<string, unknown> & { event: string };

/** Why a line is no log line at all. */
export type NotALogLine = 'not_json' | 'not_an_object' | 'no_event';

/**
 * What {@link parseLogLine} made of a line. `line` is set only for an event
 * this version knows; a reader ignores the rest, as it must ignore the events
 * of a later version.
 */
export type ParsedLogLine<L> =
  | {
      readonly kind: 'line';
      readonly line: L;
      /** The object as read, every field included. */
      readonly record: LogRecord;
      /** Fields of the event that had another type than the documented one: left out of `line`. */
      readonly invalidFields: readonly string[];
    }
  /** An object with an `event` this version does not know. */
  | { readonly kind: 'unknown'; readonly line?: undefined; readonly record: LogRecord }
  | {
      readonly kind: 'not_a_log_line';
      readonly line?: undefined;
      readonly record?: undefined;
      readonly why: NotALogLine;
    };

type Check = (value: unknown) => boolean;

/** What a reader checks of one event's lines: its levels, and each field's kind. */
interface EventChecks {
  readonly level: Check;
  readonly fields: ReadonlyMap<string, Check>;
}

/** The tables as checks, made once: reading a large log checks every line. */
const CHECKS: Readonly<Record<LogSource, ReadonlyMap<string, EventChecks>>> = {
  master: checksOf(MASTER_LOG_EVENTS),
  slave: checksOf(SLAVE_LOG_EVENTS),
};

function checksOf(table: Readonly<Record<string, LogEventSpec>>): ReadonlyMap<string, EventChecks> {
  const checks = new Map<string, EventChecks>();
  for (const [event, spec] of Object.entries(table)) {
    const fields = new Map<string, Check>([
      ['timestamp', KIND_CHECKS.string],
      ['message', KIND_CHECKS.string],
    ]);
    for (const [name, kind] of Object.entries(spec.fields)) fields.set(name, KIND_CHECKS[kindOf(kind)]);
    checks.set(event, { level: oneOf(spec.levels), fields });
  }
  return checks;
}

function kindOf(spec: FieldSpec): Kind {
  return (spec.endsWith('?') ? spec.slice(0, -1) : spec) as Kind;
}

/**
 * The typed view of a value read from `source`'s log (from `JSON.parse`).
 * Tolerant as a reader of a file must be: unknown fields are kept, a field
 * of the wrong type is left out of `line` as if it were missing (and named in
 * `invalidFields`), and an unknown event is `unknown`, not an error.
 */
export function readLogRecord<S extends LogSource>(value: unknown, source: S): ParsedLogLine<ReadLogLine<S>> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { kind: 'not_a_log_line', why: 'not_an_object' };
  }
  const record = value as LogRecord;
  const { event } = record;
  if (typeof event !== 'string') return { kind: 'not_a_log_line', why: 'no_event' };
  const checks = CHECKS[source].get(event);
  if (checks === undefined) return { kind: 'unknown', record };
  let invalid: string[] | undefined;
  for (const key in record) {
    if (key === 'event') continue;
    const check = key === 'level' ? checks.level : checks.fields.get(key);
    if (check !== undefined && !check(record[key])) (invalid ??= []).push(key);
  }
  const line = invalid === undefined ? record : withoutFields(record, invalid);
  return { kind: 'line', line: line as ReadLogLine<S>, record, invalidFields: invalid ?? [] };
}

/** {@link readLogRecord} of one line of text, e.g. a line of `master.jsonl`. */
export function parseLogLine<S extends LogSource>(text: string, source: S): ParsedLogLine<ReadLogLine<S>> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { kind: 'not_a_log_line', why: 'not_json' };
  }
  return readLogRecord(value, source);
}

/** The typed view of a record already parsed, or `undefined` for an event this version does not know. */
export function logLineOf<S extends LogSource>(record: LogRecord, source: S): ReadLogLine<S> | undefined {
  return readLogRecord(record, source).line;
}

function withoutFields(record: Record<string, unknown>, fields: readonly string[]): Record<string, unknown> {
  const copy = { ...record };
  for (const field of fields) delete copy[field];
  return copy;
}

/** The field names of `event` in `source`'s log, in the order they are written, `?` marking those left out without a value. */
export function fieldsOf(source: LogSource, event: string): string[] {
  const table: Readonly<Record<string, LogEventSpec>> = LOG_EVENTS[source];
  const spec = Object.hasOwn(table, event) ? table[event] : undefined;
  if (spec === undefined) return [];
  return Object.entries(spec.fields).map(([name, kind]) => (kind.endsWith('?') ? `${name}?` : name));
}

/**
 * Whether a master's `message` line, or a slave's `sent` line, is of a hello
 * that asked for acks: it opens a connection (the master acks from then on)
 * and is no numbered message, so it has no seq.
 */
export function opensConnection(
  line:
    { readonly type?: unknown; readonly acks?: unknown; readonly seq?: unknown } | Readonly<Record<string, unknown>>,
): boolean {
  return line.type === 'hello' && line.acks === true && line.seq === undefined;
}
