import { parseArgs } from 'node:util';
import { OptionError } from '../common';

/** One command-line flag, with the environment variable it mirrors. */
export interface FlagSpec {
  flag: string;
  env?: string;
  kind: 'integer' | 'string' | 'choice' | 'boolean';
  min?: number;
  max?: number;
  choices?: readonly string[];
  /** Longest accepted string. */
  maxLength?: number;
  /** Shown in `--help`. */
  description: string;
  /** Shown in `--help` as the default. */
  defaultText?: string;
  valueName?: string;
}

export type FlagValues = Record<string, string | number | boolean | undefined>;

export interface CommandSpec {
  name: string;
  summary: string;
  usage: string;
  flags: readonly FlagSpec[];
  /** Extra text after the flag list. */
  notes?: string;
}

export interface ParsedCommand {
  values: FlagValues;
  positionals: string[];
  help: boolean;
}

/** A user error: one line on stderr, exit code 2. */
export class UsageError extends OptionError {}

function convert(spec: FlagSpec, raw: string, source: string): string | number {
  switch (spec.kind) {
    case 'integer': {
      const min = spec.min ?? 0;
      const max = spec.max ?? Number.MAX_SAFE_INTEGER;
      const value = /^-?\d+$/.test(raw.trim()) ? Number(raw) : NaN;
      if (!Number.isSafeInteger(value) || value < min || value > max) {
        throw new UsageError(source, `${source} must be an integer from ${min} to ${max}, got "${raw}"`);
      }
      return value;
    }
    case 'choice':
      if (!spec.choices?.includes(raw)) {
        throw new UsageError(source, `${source} must be one of ${spec.choices?.join(', ')}, got "${raw}"`);
      }
      return raw;
    default:
      if (raw === '' || raw.length > (spec.maxLength ?? Infinity)) {
        const shown = raw.length > 40 ? `${raw.slice(0, 40)}…` : raw;
        throw new UsageError(
          source,
          `${source} must be 1 to ${spec.maxLength ?? 'any number of'} characters, got "${shown}"`,
        );
      }
      return raw;
  }
}

/**
 * Parses argv for one command. A flag wins over its environment variable; a
 * value outside its range names the flag (or variable) and the range.
 */
export function parseCommand(
  command: CommandSpec,
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  allowPositionals = false,
): ParsedCommand {
  const options: Record<string, { type: 'string' | 'boolean' }> = { help: { type: 'boolean' } };
  for (const spec of command.flags) options[spec.flag] = { type: spec.kind === 'boolean' ? 'boolean' : 'string' };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...argv], options, allowPositionals, strict: true });
  } catch (err) {
    const text = (err as Error).message.split('\n')[0] ?? String(err);
    throw new UsageError('argv', `${text.replace(/\. To specify.*$/, '')}; see "picluster ${command.name} --help"`);
  }
  const values: FlagValues = {};
  for (const spec of command.flags) {
    const fromFlag = parsed.values[spec.flag];
    if (spec.kind === 'boolean') {
      values[spec.flag] = fromFlag === true || (spec.env !== undefined && ['1', 'true'].includes(env[spec.env] ?? ''));
      continue;
    }
    if (typeof fromFlag === 'string') {
      values[spec.flag] = convert(spec, fromFlag, `--${spec.flag}`);
    } else if (spec.env !== undefined && env[spec.env] !== undefined && env[spec.env] !== '') {
      values[spec.flag] = convert(spec, env[spec.env] as string, spec.env);
    }
  }
  return { values, positionals: parsed.positionals, help: parsed.values.help === true };
}

export function helpText(command: CommandSpec): string {
  const rows = command.flags.map((spec) => {
    const left = `  --${spec.flag}${spec.kind === 'boolean' ? '' : ` <${spec.valueName ?? (spec.kind === 'integer' ? 'n' : 'value')}>`}`;
    const range =
      spec.kind === 'integer'
        ? ` (${spec.min ?? 0}..${spec.max ?? 'no limit'})`
        : spec.kind === 'choice'
          ? ` (${spec.choices?.join('|')})`
          : '';
    const extras = [spec.env && `env ${spec.env}`, spec.defaultText && `default ${spec.defaultText}`]
      .filter(Boolean)
      .join('; ');
    return [left, `${spec.description}${range}${extras ? ` [${extras}]` : ''}`] as const;
  });
  rows.push(['  --help', 'Show this help'] as const);
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  return [
    `Usage: ${command.usage}`,
    '',
    command.summary,
    '',
    'Options:',
    ...rows.map(([left, right]) => left.padEnd(width) + right),
    ...(command.notes ? ['', command.notes] : []),
    '',
  ].join('\n');
}
