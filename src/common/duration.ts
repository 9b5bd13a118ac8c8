import { OptionError, escapeControl } from './errors';

/** What a duration may look like, for messages: completes "must be …". */
export const DURATION_FORMS =
  'a duration: a number with a unit ms, s, m or h ("250ms", "2s", "1.5s", "1m", "1h"), or a plain number of ms (250)';

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

// Anchored and without exponents, signs or inner spaces, so "1e3s", "-2s" and "2 s" stay errors.
const DURATION_PATTERN = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)?$/;

/**
 * Shows a rejected value in a message: strings quoted, cut short and with
 * invisible or bidirectional characters escaped, other values as JSON.
 */
export function showValue(value: unknown): string {
  if (typeof value === 'string') {
    return escapeControl(JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value));
  }
  if (value === undefined) return 'nothing';
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  return Array.isArray(value) ? 'a list' : 'a mapping';
}

/**
 * Reads a duration, in ms: `"250ms"`, `"2s"`, `"1.5s"`, `"1m"`, `"1h"`, a
 * plain non-negative number of ms (`250`), or such a number as a string
 * (`"250"`). Fractions of a ms are rounded to the nearest ms. Anything else
 * throws an `OptionError` that names `name` and lists the accepted forms.
 */
export function parseDuration(value: unknown, name = 'duration'): number {
  let ms = NaN;
  if (typeof value === 'number') {
    ms = value;
  } else if (typeof value === 'string') {
    const match = DURATION_PATTERN.exec(value.trim());
    if (match) ms = Number(match[1]) * (UNIT_MS[match[2] ?? 'ms'] ?? NaN);
  }
  if (!Number.isFinite(ms) || ms < 0 || Math.round(ms) > Number.MAX_SAFE_INTEGER) {
    throw new OptionError(name, `${name} must be ${DURATION_FORMS}; got ${showValue(value)}`);
  }
  return Math.round(ms);
}

/** Writes ms as the shortest duration `parseDuration` reads back: `250ms`, `1.5s`, `15s`, `2m`, `1h`. */
export function formatDuration(ms: number): string {
  if (ms !== 0 && ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms !== 0 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  return ms >= 1000 ? `${ms / 1000}s` : `${ms}ms`;
}
