import { OptionError } from './errors';
import type { IntegerRange } from './limits';

/** Checks an integer option against its accepted range; `name` is how the user wrote it. */
export function checkInteger(name: string, value: number, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new OptionError(name, `${name} must be an integer from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}

/** `checkInteger` against a range constant. */
export function checkInRange(name: string, value: number, range: IntegerRange): number {
  return checkInteger(name, value, range.min, range.max);
}
