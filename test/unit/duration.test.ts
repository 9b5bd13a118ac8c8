import { OptionError } from '../../src/common';
import { formatDuration, parseDuration } from '../../src/common/duration';

describe('parseDuration', () => {
  it.each([
    ['250ms', 250],
    ['2s', 2000],
    ['1.5s', 1500],
    ['1m', 60_000],
    ['1h', 3_600_000],
    ['0s', 0],
    ['0.5ms', 1],
    [' 3s ', 3000],
    ['250', 250],
    ['0', 0],
    [250, 250],
    [0, 0],
    [12.4, 12],
  ])('reads %j as %d ms', (value, ms) => {
    expect(parseDuration(value)).toBe(ms);
  });

  it.each([
    ['-1s'],
    [-5],
    ['2 s'],
    ['2sec'],
    ['1S'],
    ['1e3'],
    ['.5s'],
    ['1.s'],
    ['s'],
    [''],
    ['fast'],
    [NaN],
    [Infinity],
    [null],
    [undefined],
    [true],
    [[2]],
    [{ s: 2 }],
    ['9007199254740992h'],
  ])('refuses %j with a message listing the accepted forms', (value) => {
    let error: unknown;
    try {
      parseDuration(value, 'heartbeat_interval');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(OptionError);
    expect((error as OptionError).code).toBe('PICLUSTER_ERR_INVALID_OPTION');
    expect((error as OptionError).option).toBe('heartbeat_interval');
    expect((error as OptionError).message).toMatch(/^heartbeat_interval must be a duration: .*"250ms".*"1h".*; got /);
  });

  it('shows the rejected value', () => {
    expect(() => parseDuration('fast')).toThrow('got "fast"');
    expect(() => parseDuration(-5)).toThrow('got -5');
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0ms'],
    [250, '250ms'],
    [1000, '1s'],
    [1500, '1.5s'],
    [15_000, '15s'],
    [60_000, '1m'],
    [90_000, '90s'],
    [7_200_000, '2h'],
  ])('writes %d ms as %s, which parseDuration reads back', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
    expect(parseDuration(text)).toBe(ms);
  });
});
