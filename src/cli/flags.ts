import { parseArgs } from 'node:util';
import { OptionError } from '../common';

interface FlagSpecBase<Name extends string> {
  flag: Name;
  env?: string;
  /** Shown in `--help`. */
  description: string;
  /** Shown in `--help` as the default. */
  defaultText?: string;
  valueName?: string;
}

/** An integer flag: its range usually spread from the option's range constant. */
export interface IntegerFlagSpec<Name extends string = string> extends FlagSpecBase<Name> {
  kind: 'integer';
  /** Default 0. */
  min?: number;
  /** Default: as far as integers stay exact ("no limit" in `--help`). */
  max?: number;
}

export interface StringFlagSpec<Name extends string = string> extends FlagSpecBase<Name> {
  kind: 'string';
  /** Longest accepted string. */
  maxLength?: number;
}

export interface ChoiceFlagSpec<
  Name extends string = string,
  Choice extends string = string,
> extends FlagSpecBase<Name> {
  kind: 'choice';
  choices: readonly Choice[];
}

/** A switch: true when given, or when its variable is `1` or `true`. */
export interface BooleanFlagSpec<Name extends string = string> extends FlagSpecBase<Name> {
  kind: 'boolean';
}

/** One command-line flag, with the environment variable it mirrors. */
export type FlagSpec = IntegerFlagSpec | StringFlagSpec | ChoiceFlagSpec | BooleanFlagSpec;

/** What one flag parses to; undefined when neither the flag nor its variable is set (a switch is then false). */
type FlagValue<Spec extends FlagSpec> = Spec extends BooleanFlagSpec
  ? boolean
  : | (Spec extends IntegerFlagSpec ? number : Spec extends ChoiceFlagSpec<string, infer Choice> ? Choice : string)
    | undefined;

/** The parsed values of a list of flags, by flag name: `values['max-frame-bytes']` is a number or undefined. */
export type FlagValues<Flags extends readonly FlagSpec[]> = {
  readonly [Spec in Flags[number] as Spec['flag']]: FlagValue<Spec>;
};

/**
 * Declares a list of flags, keeping each one's name, kind and choices in its
 * type, so that `FlagValues` can type what the parser returns.
 */
export function defineFlags<const Flags extends readonly FlagSpec[]>(flags: Flags): Flags {
  return flags;
}

export interface CommandSpec<Flags extends readonly FlagSpec[] = readonly FlagSpec[]> {
  name: string;
  summary: string;
  usage: string;
  flags: Flags;
  /** Extra text after the flag list. */
  notes?: string;
}

/** Declares a command, keeping its flags' types (see `defineFlags`). */
export function defineCommand<const Flags extends readonly FlagSpec[]>(
  command: CommandSpec<Flags>,
): CommandSpec<Flags> {
  return command;
}

export interface ParsedCommand<Flags extends readonly FlagSpec[] = readonly FlagSpec[]> {
  values: FlagValues<Flags>;
  positionals: string[];
  help: boolean;
}

/** A user error: one line on stderr, exit code 2. */
export class UsageError extends OptionError {}

function convert(spec: Exclude<FlagSpec, BooleanFlagSpec>, raw: string, source: string): string | number {
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
      if (!spec.choices.includes(raw)) {
        throw new UsageError(source, `${source} must be one of ${spec.choices.join(', ')}, got "${raw}"`);
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
export function parseCommand<Flags extends readonly FlagSpec[]>(
  command: CommandSpec<Flags>,
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  allowPositionals = false,
): ParsedCommand<Flags> {
  const options: Record<string, { type: 'string' | 'boolean' }> = { help: { type: 'boolean' } };
  for (const spec of command.flags) options[spec.flag] = { type: spec.kind === 'boolean' ? 'boolean' : 'string' };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...argv], options, allowPositionals, strict: true });
  } catch (err) {
    const text = (err as Error).message.split('\n')[0] ?? String(err);
    throw new UsageError('argv', `${text.replace(/\. To specify.*$/, '')}; see "picluster ${command.name} --help"`);
  }
  const values: Record<string, string | number | boolean> = {};
  for (const spec of command.flags) {
    const fromFlag = parsed.values[spec.flag];
    if (spec.kind === 'boolean') {
      values[spec.flag] = fromFlag === true || (spec.env !== undefined && ['1', 'true'].includes(env[spec.env] ?? ''));
      continue;
    }
    if (typeof fromFlag === 'string') {
      values[spec.flag] = convert(spec, fromFlag, `--${spec.flag}`);
    } else if (spec.env !== undefined) {
      const fromEnv = env[spec.env];
      if (fromEnv !== undefined && fromEnv !== '') values[spec.flag] = convert(spec, fromEnv, spec.env);
    }
  }
  // Built flag by flag from `command.flags`, with each kind's converter: the shape `FlagValues` describes.
  return { values: values as FlagValues<Flags>, positionals: parsed.positionals, help: parsed.values.help === true };
}

/**
 * The one run directory a command takes as its positional argument; a usage
 * error naming the count given, and the command's `--help`, otherwise.
 */
export function oneRunDirectory(command: Pick<CommandSpec, 'name'>, positionals: readonly string[]): string {
  const [dir, ...extra] = positionals;
  if (dir === undefined || extra.length > 0) {
    throw new UsageError(
      'argv',
      `expects exactly one run directory, got ${positionals.length}; see "picluster ${command.name} --help"`,
    );
  }
  return dir;
}

/**
 * The entries of `options` that are set: an option left out takes its
 * default when resolved, where one set to undefined would erase it.
 */
export function setOnly<Options extends object>(options: Options): Partial<Options> {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as Partial<Options>;
}

export function helpText(command: CommandSpec): string {
  const rows = command.flags.map((spec) => {
    const left = `  --${spec.flag}${spec.kind === 'boolean' ? '' : ` <${spec.valueName ?? (spec.kind === 'integer' ? 'n' : 'value')}>`}`;
    const range =
      spec.kind === 'integer'
        ? ` (${spec.min ?? 0}..${spec.max === undefined || spec.max >= Number.MAX_SAFE_INTEGER ? 'no limit' : spec.max})`
        : spec.kind === 'choice'
          ? ` (${spec.choices.join('|')})`
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
