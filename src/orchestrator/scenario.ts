import { closeSync, constants, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import { isSeq, LineCounter, parseDocument } from 'yaml';
import { MAX_DURATION_MS, PiclusterError, escapeControl, fileKind, type ErrorCode } from '../common';
import { defaultHeartbeatTimeoutMs } from '../protocol';
import { DURATION_FORMS, formatDuration, parseDuration, showValue } from '../common/duration';
import { formatPath, formatProblems, offsetOf, type PathSegment, type Problem } from './scenario-problems';
import { readDetector } from './scenario-detector';
import { checkTransitions, readEvents, type PendingEvent, type Raw } from './scenario-events';
import { expandGenerate, type GenerateContext, type Generated } from './scenario-generate';
import type { Scenario } from './types';

/** How a scenario is read. */
export interface ScenarioOptions {
  /** Replaces `generate.seed` (`--seed`); ignored when the scenario has no `generate:`. */
  seed?: number;
}

/** The JSON Schema of scenario files; editors find it through each file's `yaml-language-server` comment. */
export const SCENARIO_SCHEMA_FILE = join(__dirname, '..', '..', 'scenarios', 'scenario.schema.json');

/** `heartbeat_interval` when a scenario gives none, in ms. */
export const DEFAULT_SCENARIO_HEARTBEAT_INTERVAL_MS = 1000;

/** Most slaves a scenario may start. */
export const MAX_SCENARIO_SLAVES = 10_000;

/**
 * Largest scenario file, in bytes. Shipped scenarios are under 2 KiB; parsing
 * and validating cost about 120 bytes of memory per byte of YAML, so this
 * bounds a scenario's cost to some 120 MB.
 */
export const MAX_SCENARIO_BYTES = 1024 * 1024;

/**
 * Most events a scenario may list (a list target counts once). The shipped
 * ones have at most 20; a day-long soak with a fault a minute needs 1,440.
 */
export const MAX_SCENARIO_EVENTS = 10_000;

/** Longest `heartbeat_interval`, `heartbeat_timeout` and `duration`, in ms (one day, the slave's own limit). */
export const MAX_SCENARIO_DURATION_MS = MAX_DURATION_MS;

/**
 * A scenario file that cannot be read or is invalid. `errors` holds every
 * problem found, one line each, as `file:line:column: key.path: what is wrong`;
 * `message` is those lines joined.
 */
export class ScenarioError extends PiclusterError {
  override readonly name = 'ScenarioError';

  constructor(
    code: ErrorCode,
    /** The scenario file as it was named. */
    readonly file: string,
    errors: readonly string[],
    options?: { cause?: unknown },
  ) {
    // Every line echoes the file name and often YAML keys and values: escaped here, once for all.
    const safe = errors.map(escapeControl);
    super(code, safe.join('\n'), options);
    this.errors = safe;
  }

  /** One line per problem, controls and bidirectional characters escaped. */
  readonly errors: readonly string[];
}

/**
 * Reads a scenario file of at most {@link MAX_SCENARIO_BYTES}. Opened without
 * blocking (a FIFO's open would otherwise wait for a writer forever) and
 * checked with `fstat` on that very descriptor, so nothing can swap the file
 * between the check and the read; only a regular file is read.
 */
function readScenarioText(file: string): string {
  const unreadable = (why: string, cause?: unknown): ScenarioError =>
    new ScenarioError('PICLUSTER_ERR_SCENARIO_UNREADABLE', file, [`${file}: cannot read scenario: ${why}`], { cause });
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    const error = err as NodeJS.ErrnoException;
    throw unreadable(error.code === 'ENOENT' ? 'no such file' : error.message, err);
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) throw unreadable(`is ${fileKind(stats)}, not a regular file`);
    if (stats.size > MAX_SCENARIO_BYTES) {
      throw unreadable(`${stats.size} bytes, more than the limit of ${MAX_SCENARIO_BYTES} bytes`);
    }
    // One byte more than the limit: a file that grew since the fstat is caught too.
    const buffer = Buffer.alloc(MAX_SCENARIO_BYTES + 1);
    let length = 0;
    let n = -1;
    while (n !== 0 && length < buffer.length) {
      n = readSync(fd, buffer, length, buffer.length - length, null);
      length += n;
    }
    if (length > MAX_SCENARIO_BYTES) throw unreadable(`more than the limit of ${MAX_SCENARIO_BYTES} bytes`);
    return buffer.toString('utf8', 0, length);
  } catch (err) {
    if (err instanceof ScenarioError) throw err;
    throw unreadable((err as Error).message, err);
  } finally {
    closeSync(fd);
  }
}

/** Reads and validates a scenario file; throws a `ScenarioError` listing every problem. */
export function loadScenario(file: string, options: ScenarioOptions = {}): Scenario {
  return parseScenario(readScenarioText(file), file, options);
}

let compiled: ValidateFunction | undefined;

function schemaValidator(): ValidateFunction {
  if (compiled) return compiled;
  let schema: unknown;
  try {
    schema = JSON.parse(readFileSync(SCENARIO_SCHEMA_FILE, 'utf8'));
  } catch (err) {
    throw new ScenarioError(
      'PICLUSTER_ERR_SCENARIO_UNREADABLE',
      SCENARIO_SCHEMA_FILE,
      [`${SCENARIO_SCHEMA_FILE}: cannot read the scenario schema: ${(err as Error).message}`],
      { cause: err },
    );
  }
  const ajv = new Ajv({ allErrors: true, verbose: true, allowUnionTypes: true });
  // Editor hints (yaml-language-server): ajv must know them, but they check nothing.
  ajv.addVocabulary(['enumDescriptions']);
  compiled = ajv.compile(schema as object);
  return compiled;
}

/**
 * Parses and validates a scenario from its text. `file` only names it in
 * messages and in the result. Throws a `ScenarioError`
 * (`PICLUSTER_ERR_INVALID_SCENARIO`) that lists every problem of the file:
 * YAML syntax, the schema (scenarios/scenario.schema.json), then what the
 * schema cannot say — targets that exist, times within `duration`, and the
 * state of each slave over time (no reconnect without a cut, no start of a
 * running slave, …). Events come back ordered by `at`, file order breaking
 * ties, with a list target expanded to one event per node, merged with
 * those `generate:` draws (generate.ts).
 */
export function parseScenario(text: string, file: string, options: ScenarioOptions = {}): Scenario {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter });
  const problems: Problem[] = doc.errors.map((err) => ({
    path: [],
    offset: err.pos[0],
    message: `invalid YAML: ${err.message.replace(/ at line \d+, column \d+:[\s\S]*$/, '')}`,
  }));
  let result: Scenario | undefined;
  // After a syntax error the tree is a guess: checking it would only add noise.
  if (problems.length === 0) {
    // Before anything is validated: validation's cost grows with the events, far faster than parsing's.
    const events = doc.get('events', true);
    if (isSeq(events) && events.items.length > MAX_SCENARIO_EVENTS) {
      throw new ScenarioError('PICLUSTER_ERR_INVALID_SCENARIO', file, [
        `${file}: ${events.items.length} events, more than the limit of ${MAX_SCENARIO_EVENTS}`,
      ]);
    }
    let data: unknown;
    try {
      data = doc.toJS();
    } catch (err) {
      // E.g. an alias bomb: yaml refuses to expand it.
      throw new ScenarioError(
        'PICLUSTER_ERR_INVALID_SCENARIO',
        file,
        [`${file}:1:1: invalid YAML: ${(err as Error).message}`],
        {
          cause: err,
        },
      );
    }
    const validate = schemaValidator();
    const schemaErrors = validate(data) ? [] : (validate.errors ?? []);
    // A loop, not push(...): thousands of events can make more schema errors than a call takes arguments.
    // A bad key under propertyNames is reported by its enum error, which names the key: not twice.
    const reported = schemaErrors.filter((err) => err.keyword !== 'propertyNames');
    for (const problem of dedupe(reported.map((err) => schemaProblem(err, data)))) problems.push(problem);
    const lineOfEvent = (index: number): number => lineCounter.linePos(offsetOf(doc, ['events', index], false)).line;
    const generateLine = lineCounter.linePos(offsetOf(doc, ['generate'], true)).line;
    result = checkSemantics(data, file, schemaErrors, problems, lineOfEvent, { ...options, generateLine });
  }
  if (problems.length > 0 || result === undefined) {
    throw new ScenarioError('PICLUSTER_ERR_INVALID_SCENARIO', file, formatProblems(problems, doc, lineCounter, file));
  }
  return result;
}

// ---------------------------------------------------------------------------
// Schema errors

function toPath(instancePath: string, data: unknown): PathSegment[] {
  const path: PathSegment[] = [];
  let current = data;
  for (const raw of instancePath.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    const segment = Array.isArray(current) ? Number(key) : key;
    path.push(segment);
    current = (current as Record<PathSegment, unknown> | undefined)?.[segment];
  }
  return path;
}

const TYPE_NAMES: Readonly<Record<string, string>> = {
  object: 'a mapping',
  array: 'a list',
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'true or false',
  null: 'null',
};

// Patterns in the schema, said in words.
const PATTERN_TEXTS: Readonly<Record<string, string>> = {
  '#/properties/name/pattern': `1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit`,
  '#/definitions/event/properties/target/pattern': 'a node name: slave-<n> (e.g. slave-1) or master',
  '#/definitions/slaveName/pattern': 'a slave name: slave-<n> (e.g. slave-1)',
};

function schemaProblem(err: ErrorObject, data: unknown): Problem {
  const path = toPath(err.instancePath, data);
  const got = `got ${showValue(err.data)}`;
  if (err.schemaPath.startsWith('#/definitions/duration/'))
    return { path, message: `must be ${DURATION_FORMS}; ${got}` };
  switch (err.keyword) {
    case 'additionalProperties': {
      const allowed = Object.keys((err.parentSchema?.properties as object | undefined) ?? {});
      const key = (err.params as { additionalProperty: string }).additionalProperty;
      return { path: [...path, key], atKey: true, message: `unknown key; expected one of ${allowed.join(', ')}` };
    }
    case 'required':
      return { path: [...path, (err.params as { missingProperty: string }).missingProperty], message: 'is required' };
    case 'enum':
      if (err.propertyName !== undefined) {
        const allowed = (err.params as { allowedValues: unknown[] }).allowedValues.join(', ');
        return { path: [...path, err.propertyName], atKey: true, message: `unknown key; expected one of ${allowed}` };
      }
      return {
        path,
        message: `must be one of ${(err.params as { allowedValues: unknown[] }).allowedValues.join(', ')}; ${got}`,
      };
    case 'type': {
      const types = ([] as string[]).concat((err.params as { type: string | string[] }).type);
      return { path, message: `must be ${types.map((type) => TYPE_NAMES[type] ?? type).join(' or ')}; ${got}` };
    }
    case 'minimum':
    case 'maximum': {
      const { minimum, maximum } = err.parentSchema as { minimum?: number; maximum?: number };
      return { path, message: `must be from ${minimum ?? '-∞'} to ${maximum ?? '∞'}; ${got}` };
    }
    case 'pattern':
      return { path, message: `must be ${PATTERN_TEXTS[err.schemaPath] ?? `a string matching ${err.schema}`}; ${got}` };
    case 'minItems':
      return { path, message: 'must not be an empty list' };
    case 'uniqueItems': {
      const { i, j } = err.params as { i: number; j: number };
      return { path: [...path, i], message: `repeats ${path.at(-1)}[${j}], ${showValue((err.data as unknown[])[i])}` };
    }
    default:
      return { path, message: `${err.message ?? 'is invalid'}; ${got}` };
  }
}

function dedupe(problems: Problem[]): Problem[] {
  const seen = new Set<string>();
  return problems.filter((problem) => {
    const key = `${formatPath(problem.path)}\0${problem.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

// ---------------------------------------------------------------------------
// Semantic checks (the events: scenario-events.ts)

function checkSemantics(
  data: unknown,
  file: string,
  schemaErrors: ErrorObject[],
  problems: Problem[],
  lineOfEvent: (index: number) => number,
  options: ScenarioOptions & { generateLine: number },
): Scenario | undefined {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return undefined;
  const raw = data as Raw;
  // A value the schema refused was reported already: semantics skip it rather than repeat it.
  const valid = (pointer: string): boolean =>
    !schemaErrors.some((err) => err.instancePath === pointer || err.instancePath.startsWith(`${pointer}/`));

  const slaves = valid('/slaves') && typeof raw.slaves === 'number' ? raw.slaves : undefined;
  const duration = (key: string, pointer: string, value: unknown, minMs: number): number | undefined => {
    if (value === undefined || !valid(pointer)) return undefined;
    let ms: number;
    try {
      ms = parseDuration(value, key);
    } catch {
      problems.push({ path: toPath(pointer, data), message: `must be ${DURATION_FORMS}; got ${showValue(value)}` });
      return undefined;
    }
    if (ms < minMs || ms > MAX_SCENARIO_DURATION_MS) {
      const range = `from ${formatDuration(minMs)} to ${formatDuration(MAX_SCENARIO_DURATION_MS)}`;
      problems.push({ path: toPath(pointer, data), message: `must be ${range}; got ${showValue(value)}` });
      return undefined;
    }
    return ms;
  };

  const intervalMs =
    raw.heartbeat_interval === undefined
      ? DEFAULT_SCENARIO_HEARTBEAT_INTERVAL_MS
      : duration('heartbeat_interval', '/heartbeat_interval', raw.heartbeat_interval, 1);
  const timeoutMs = duration('heartbeat_timeout', '/heartbeat_timeout', raw.heartbeat_timeout, 1);
  if (intervalMs !== undefined && timeoutMs !== undefined && timeoutMs <= intervalMs) {
    problems.push({
      path: ['heartbeat_timeout'],
      message: `must be longer than heartbeat_interval (${formatDuration(intervalMs)}); got ${formatDuration(timeoutMs)}`,
    });
  }
  const durationMs = duration('duration', '/duration', raw.duration, 1);
  const detector = readDetector(raw.detector, { valid, duration }, problems);

  const events = readEvents(raw, { valid, duration, slaves, durationMs }, problems, lineOfEvent);
  // Array.prototype.sort is stable: events at the same `at` keep file order.
  events.sort((a, b) => a.atMs - b.atMs);
  const known = { valid, duration, slaves, intervalMs, timeoutMs, durationMs };
  const generated = mergeGenerated(raw, known, events, problems, options);
  checkTransitions(events, problems);

  if (problems.length > 0 || slaves === undefined || intervalMs === undefined || durationMs === undefined) {
    return undefined;
  }
  const scenario: Scenario = {
    name: typeof raw.name === 'string' ? raw.name : basename(file, extname(file)),
    file,
    slaves,
    heartbeatIntervalMs: intervalMs,
    durationMs,
    events: events.map(({ atMs, action, target, line, link }) => ({
      atMs,
      action,
      target,
      line,
      ...(link === undefined ? {} : { link }),
    })),
  };
  if (generated !== undefined) scenario.seed = generated.seed;
  if (timeoutMs !== undefined) scenario.heartbeatTimeoutMs = timeoutMs;
  if (detector !== undefined) scenario.detector = detector;
  return scenario;
}

/**
 * Expands `generate:`, when there is one, and merges its events into
 * `events`, kept ordered by `at` (the file's own first at the same time).
 */
function mergeGenerated(
  raw: Raw,
  known: Pick<GenerateContext, 'valid' | 'duration' | 'slaves' | 'durationMs'> & {
    intervalMs: number | undefined;
    timeoutMs: number | undefined;
  },
  events: PendingEvent[],
  problems: Problem[],
  options: ScenarioOptions & { generateLine: number },
): Generated | undefined {
  if (raw.generate === undefined) return undefined;
  const { intervalMs, timeoutMs, ...rest } = known;
  const generated = expandGenerate({
    ...rest,
    raw: raw.generate,
    heartbeatIntervalMs: intervalMs,
    heartbeatTimeoutMs: timeoutMs ?? defaultHeartbeatTimeoutMs(intervalMs ?? 1),
    events,
    seedOverride: options.seed,
    maxEvents: MAX_SCENARIO_EVENTS,
    problems,
  });
  if (generated === undefined) return undefined;
  for (const event of generated.events) events.push({ ...event, line: options.generateLine, index: -1 });
  events.sort((a, b) => a.atMs - b.atMs);
  return generated;
}
