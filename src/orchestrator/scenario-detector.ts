/**
 * A scenario's `detector:`: which failure detector the master runs with, read
 * from YAML, written back, and rendered as the master's flags or variables.
 *
 *   detector: fixed
 *   detector: phi
 *   detector: { kind: phi, threshold: 8, min_std_dev: 100ms, acceptable_pause: 0ms }
 *
 * Pure: no I/O.
 */
import { formatDuration, showValue } from '../common/duration';
import { DEFAULT_PHI_PARAMS, DETECTOR_KINDS, PHI_PARAM_RANGES, type DetectorKind, type PhiParams } from '../protocol';
import type { Problem } from './scenario-problems';

/** The master's failure detector in a run: `fixed` (its heartbeat timeout), or phi accrual with its parameters. */
export type DetectorSpec = { kind: 'fixed' } | ({ kind: 'phi' } & PhiParams);

/** A scenario without `detector:` runs with this one: today's. */
export const DEFAULT_DETECTOR: DetectorSpec = { kind: 'fixed' };

/** The YAML keys of phi's parameters, and their option. */
const PHI_KEYS = [
  ['threshold', 'threshold'],
  ['min_std_dev', 'minStdDevMs'],
  ['acceptable_pause', 'acceptablePauseMs'],
] as const satisfies ReadonlyArray<readonly [string, keyof PhiParams]>;

/** What reading `detector:` needs of the scenario reader: its schema check and duration parser. */
export interface DetectorContext {
  valid: (pointer: string) => boolean;
  duration: (key: string, pointer: string, value: unknown, minMs: number) => number | undefined;
}

function isKind(value: unknown): value is DetectorKind {
  return (DETECTOR_KINDS as readonly unknown[]).includes(value);
}

/** The scenario's `detector:`, or undefined when it has none or it is wrong (then `problems` say why). */
export function readDetector(value: unknown, known: DetectorContext, problems: Problem[]): DetectorSpec | undefined {
  // The schema reported a value of another type; the object's keys are judged one by one below.
  if (value === undefined || (typeof value !== 'string' && (typeof value !== 'object' || value === null))) {
    return undefined;
  }
  const kinds = DETECTOR_KINDS.join(' or ');
  if (typeof value === 'string') {
    if (isKind(value)) return value === 'phi' ? { kind: 'phi', ...DEFAULT_PHI_PARAMS } : { kind: 'fixed' };
    problems.push({ path: ['detector'], message: `must be ${kinds}; got ${showValue(value)}` });
    return undefined;
  }
  const raw = value as Record<string, unknown>;
  if (!isKind(raw.kind)) return undefined;
  if (raw.kind === 'fixed') {
    const extra = PHI_KEYS.find(([key]) => raw[key] !== undefined);
    if (extra === undefined) return { kind: 'fixed' };
    problems.push({ path: ['detector', extra[0]], message: 'is a parameter of kind phi only; this detector is fixed' });
    return undefined;
  }
  const params: PhiParams = { ...DEFAULT_PHI_PARAMS };
  let ok = true;
  for (const [key, option] of PHI_KEYS) {
    const pointer = `/detector/${key}`;
    if (raw[key] === undefined || !known.valid(pointer)) continue;
    const range = PHI_PARAM_RANGES[option];
    const read = key === 'threshold' ? (raw[key] as number) : known.duration(key, pointer, raw[key], range.min);
    if (read === undefined) {
      ok = false;
    } else if (read < range.min || read > range.max) {
      const shown =
        key === 'threshold'
          ? `${range.min} to ${range.max}`
          : `${formatDuration(range.min)} to ${formatDuration(range.max)}`;
      problems.push({ path: ['detector', key], message: `must be from ${shown}; got ${showValue(raw[key])}` });
      ok = false;
    } else {
      params[option] = read;
    }
  }
  return ok ? { kind: 'phi', ...params } : undefined;
}

/** `detector:` as scenario YAML; nothing for the default. */
export function detectorYaml(spec: DetectorSpec | undefined): string[] {
  if (spec === undefined || spec.kind === 'fixed') return [];
  return [
    `detector: { kind: phi, threshold: ${spec.threshold}, min_std_dev: ${formatDuration(spec.minStdDevMs)}, ` +
      `acceptable_pause: ${formatDuration(spec.acceptablePauseMs)} }`,
  ];
}

/** The detector as `picluster master` flags. */
export function detectorFlags(spec: DetectorSpec): string[] {
  if (spec.kind === 'fixed') return ['--detector', 'fixed'];
  return [
    '--detector',
    'phi',
    '--phi-threshold',
    String(spec.threshold),
    '--phi-min-std-dev-ms',
    String(spec.minStdDevMs),
    '--phi-acceptable-pause-ms',
    String(spec.acceptablePauseMs),
  ];
}

/** The detector as the master container's variables (`compose.yaml`); empty ones leave the master's defaults. */
export function detectorEnv(spec: DetectorSpec): Record<string, string> {
  const phi = spec.kind === 'phi' ? spec : undefined;
  return {
    DETECTOR: spec.kind,
    PHI_THRESHOLD: phi === undefined ? '' : String(phi.threshold),
    PHI_MIN_STD_DEV_MS: phi === undefined ? '' : String(phi.minStdDevMs),
    PHI_ACCEPTABLE_PAUSE_MS: phi === undefined ? '' : String(phi.acceptablePauseMs),
  };
}

/** Whether `value` (run.json's `detector`) is a detector as a run records it. */
export function isDetectorSpec(value: unknown): value is DetectorSpec {
  if (typeof value !== 'object' || value === null) return false;
  const spec = value as Record<string, unknown>;
  if (spec.kind === 'fixed') return true;
  return spec.kind === 'phi' && PHI_KEYS.every(([, option]) => typeof spec[option] === 'number');
}
