import { MASTER_COMMAND } from '../../src/cli/master-command';
import { SLAVE_COMMAND } from '../../src/cli/slave-command';
import { UsageError, defineCommand, helpText, oneRunDirectory, parseCommand, setOnly } from '../../src/cli/flags';
import { MAX_DURATION_MS, OptionError } from '../../src/common';
import { defaultHeartbeatTimeoutMs, HEARTBEAT_TIMEOUT_FACTOR } from '../../src/protocol';
import { MASTER_OPTION_RANGES, resolveMasterOptions } from '../../src/master';
import { SLAVE_OPTION_RANGES, defaultAckTimeoutMs, resolveSlaveOptions } from '../../src/slave';

const DEMO = defineCommand({
  name: 'demo',
  usage: 'picluster demo [options]',
  summary: 'A command for the tests.',
  flags: [
    { flag: 'size', env: 'DEMO_SIZE', kind: 'integer', ...MASTER_OPTION_RANGES.maxFrameDepth, description: 'A size' },
    { flag: 'count', kind: 'integer', min: 0, description: 'A count' },
    { flag: 'mode', env: 'DEMO_MODE', kind: 'choice', choices: ['on', 'off'], description: 'A mode' },
    { flag: 'name', env: 'DEMO_NAME', kind: 'string', maxLength: 4, description: 'A name' },
    { flag: 'loud', env: 'DEMO_LOUD', kind: 'boolean', description: 'A switch' },
  ],
});

/** The message of the usage error `run` throws. */
function usageError(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error('no usage error');
}

describe('parseCommand', () => {
  it('types each value by its flag: numbers, choices, strings and switches, without casts', () => {
    const { values } = parseCommand(DEMO, ['--size', '7', '--mode', 'off', '--name', 'abc', '--loud'], {});
    const size: number | undefined = values.size;
    const mode: 'on' | 'off' | undefined = values.mode;
    const name: string | undefined = values.name;
    const loud: boolean = values.loud;
    expect({ size, mode, name, loud, count: values.count }).toEqual({
      size: 7,
      mode: 'off',
      name: 'abc',
      loud: true,
      count: undefined,
    });
    // @ts-expect-error: no such flag
    expect(values.nope).toBeUndefined();
    // @ts-expect-error: an integer flag is no string
    const wrong: string | undefined = values.size;
    expect(wrong).toBe(7);
  });

  it('takes a variable when the flag is absent, the flag when both are set, and ignores an empty variable', () => {
    const env = { DEMO_SIZE: '3', DEMO_MODE: 'on', DEMO_NAME: '', DEMO_LOUD: 'true' };
    expect(parseCommand(DEMO, [], env).values).toEqual({ size: 3, mode: 'on', loud: true });
    expect(parseCommand(DEMO, ['--size', '4'], env).values.size).toBe(4);
    expect(parseCommand(DEMO, [], { DEMO_LOUD: '0' }).values.loud).toBe(false);
  });

  it('rejects a value out of the range the option resolver uses, naming the flag or variable and the range', () => {
    const { min, max } = MASTER_OPTION_RANGES.maxFrameDepth;
    expect(usageError(() => parseCommand(DEMO, ['--size', String(max + 1)], {}))).toBe(
      `--size must be an integer from ${min} to ${max}, got "${max + 1}"`,
    );
    expect(usageError(() => parseCommand(DEMO, [], { DEMO_SIZE: 'abc' }))).toBe(
      'DEMO_SIZE must be an integer from 1 to 1000, got "abc"',
    );
    expect(usageError(() => parseCommand(DEMO, ['--count=-1'], {}))).toBe(
      '--count must be an integer from 0 to 9007199254740991, got "-1"',
    );
  });

  it('rejects a choice not listed and a string too long or empty', () => {
    expect(usageError(() => parseCommand(DEMO, ['--mode', 'maybe'], {}))).toBe(
      '--mode must be one of on, off, got "maybe"',
    );
    expect(usageError(() => parseCommand(DEMO, ['--name', 'abcde'], {}))).toBe(
      '--name must be 1 to 4 characters, got "abcde"',
    );
    expect(usageError(() => parseCommand(DEMO, ['--name', ''], {}))).toBe('--name must be 1 to 4 characters, got ""');
  });

  it('rejects an unknown flag and points to --help', () => {
    expect(usageError(() => parseCommand(DEMO, ['--bogus'], {}))).toMatch(/'--bogus'.*; see "picluster demo --help"$/);
  });
});

describe('the CLI and the option resolvers share their ranges', () => {
  const masterFlags = new Map(MASTER_COMMAND.flags.map((spec) => [spec.flag, spec]));
  const slaveFlags = new Map(SLAVE_COMMAND.flags.map((spec) => [spec.flag, spec]));

  it.each([
    ['port', masterFlags.get('port'), MASTER_OPTION_RANGES.port],
    ['heartbeat-timeout-ms', masterFlags.get('heartbeat-timeout-ms'), MASTER_OPTION_RANGES.heartbeatTimeoutMs],
    ['max-ledger-nodes', masterFlags.get('max-ledger-nodes'), MASTER_OPTION_RANGES.maxLedgerNodes],
    ['checkpoint-interval-ms', masterFlags.get('checkpoint-interval-ms'), MASTER_OPTION_RANGES.checkpointIntervalMs],
    ['heartbeat-interval-ms', slaveFlags.get('heartbeat-interval-ms'), SLAVE_OPTION_RANGES.heartbeatIntervalMs],
    ['reconnect-max-delay-ms', slaveFlags.get('reconnect-max-delay-ms'), SLAVE_OPTION_RANGES['backoff.maxDelayMs']],
    ['ack-timeout-ms', slaveFlags.get('ack-timeout-ms'), SLAVE_OPTION_RANGES.ackTimeoutMs],
  ])('--%s has the range of its option', (_flag, spec, range) => {
    expect(spec).toMatchObject({ kind: 'integer', min: range.min, max: range.max });
  });

  it('the resolvers reject the same bounds, naming the option', () => {
    expect(() => resolveMasterOptions({ checkpointIntervalMs: MAX_DURATION_MS + 1 })).toThrow(
      new OptionError(
        'checkpointIntervalMs',
        'checkpointIntervalMs must be an integer from 1 to 86400000, got 86400001',
      ),
    );
    expect(() => resolveSlaveOptions({ node: 'n', heartbeatIntervalMs: 0 })).toThrow(
      'heartbeatIntervalMs must be an integer from 1 to 86400000, got 0',
    );
    expect(resolveMasterOptions({ heartbeatTimeoutMs: MAX_DURATION_MS }).heartbeatTimeoutMs).toBe(MAX_DURATION_MS);
  });

  it('the master flag list types every value: no flag of another command', () => {
    const { values } = parseCommand(MASTER_COMMAND, ['--max-frame-bytes', '64'], {});
    const bytes: number | undefined = values['max-frame-bytes'];
    expect(bytes).toBe(64);
    // @ts-expect-error: a slave flag
    expect(values['ack-timeout-ms']).toBeUndefined();
  });
});

describe('defaults named once', () => {
  it('the default heartbeat timeout is the factor times the interval; the ack timeout is its own rule', () => {
    expect(defaultHeartbeatTimeoutMs(1000)).toBe(HEARTBEAT_TIMEOUT_FACTOR * 1000);
    expect(resolveMasterOptions().heartbeatTimeoutFactor).toBe(HEARTBEAT_TIMEOUT_FACTOR);
    expect(defaultAckTimeoutMs(100)).toBe(1000);
    expect(defaultAckTimeoutMs(5000)).toBe(15_000);
  });

  it('--help shows each range and default from the shared constants, and "no limit" for an unbounded count', () => {
    const help = helpText(MASTER_COMMAND);
    expect(help).toContain('(1..86400000)');
    expect(help).toContain('default 3 × the interval its hello announced (5000 ms if none)');
    expect(helpText(SLAVE_COMMAND)).toContain('Stop cleanly after this many heartbeats (0..no limit)');
    expect(helpText(SLAVE_COMMAND)).toContain('default 3 × the heartbeat interval, at least 1000');
  });
});

describe('setOnly', () => {
  it('drops the options left unset, so that the resolver gives them their defaults', () => {
    expect(setOnly({ a: 1, b: undefined, c: false })).toEqual({ a: 1, c: false });
    expect(Object.keys(setOnly({ a: undefined }))).toEqual([]);
  });
});

describe('oneRunDirectory', () => {
  it('returns the one positional, and refuses none or two with the count and the command', () => {
    expect(oneRunDirectory(DEMO, ['runs/a'])).toBe('runs/a');
    expect(usageError(() => oneRunDirectory(DEMO, []))).toBe(
      'expects exactly one run directory, got 0; see "picluster demo --help"',
    );
    expect(usageError(() => oneRunDirectory(DEMO, ['a', 'b']))).toBe(
      'expects exactly one run directory, got 2; see "picluster demo --help"',
    );
  });
});
