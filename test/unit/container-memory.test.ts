import type Docker from 'dockerode';
import {
  COMPOSE_MS_PER_CONTAINER,
  composeTimeoutFor,
  DEFAULT_DOCKER_COMPOSE_TIMEOUT_MS,
  memorySampleOf,
  summarizeMemory,
} from '../../src/orchestrator/docker';

const MiB = 1024 * 1024;

/** A stats answer with only the memory fields the engine fills in. */
function stats(memory: Record<string, unknown>): Pick<Docker.ContainerStats, 'memory_stats'> {
  return { memory_stats: memory as unknown as Docker.MemoryStats };
}

describe('memorySampleOf', () => {
  it('takes the inactive file cache off the usage, as docker stats does, on cgroup v1 and v2', () => {
    const v1 = stats({ usage: 40 * MiB, max_usage: 52 * MiB, stats: { total_inactive_file: 25 * MiB } });
    expect(memorySampleOf(v1)).toEqual({ usageBytes: 15 * MiB, peakBytes: 52 * MiB });
    const v2 = stats({ usage: 30 * MiB, stats: { inactive_file: 12 * MiB } });
    expect(memorySampleOf(v2)).toEqual({ usageBytes: 18 * MiB, peakBytes: undefined });
  });

  it('keeps the usage when the cache figure is missing or not below it', () => {
    expect(memorySampleOf(stats({ usage: 9 * MiB }))?.usageBytes).toBe(9 * MiB);
    expect(memorySampleOf(stats({ usage: 9 * MiB, stats: { total_inactive_file: 9 * MiB } }))?.usageBytes).toBe(
      9 * MiB,
    );
  });

  it('gives nothing for a container that does not run (the engine sends empty memory stats)', () => {
    expect(memorySampleOf(stats({}))).toBeUndefined();
  });
});

describe('summarizeMemory', () => {
  const times = {
    sampledAt: '2026-12-01T18:00:00.000Z',
    composeUpMs: 95_000,
    composeCreateMs: 80_000,
    allHellosMs: 97_500,
  };

  it('gives the mean and largest slave, the master, and the peaks when every slave has one', () => {
    const slaves = [
      { usageBytes: 10 * MiB, peakBytes: 20 * MiB },
      { usageBytes: 14 * MiB, peakBytes: 30 * MiB },
    ];
    expect(summarizeMemory({ usageBytes: 17 * MiB, peakBytes: 40 * MiB }, slaves, times)).toEqual({
      sampledAt: times.sampledAt,
      slaves: 2,
      slaveMeanBytes: 12 * MiB,
      slaveMaxBytes: 14 * MiB,
      masterBytes: 17 * MiB,
      slavePeakMeanBytes: 25 * MiB,
      slavePeakMaxBytes: 30 * MiB,
      masterPeakBytes: 40 * MiB,
      composeUpMs: 95_000,
      composeCreateMs: 80_000,
      allHellosMs: 97_500,
    });
  });

  it('leaves out the peaks when only some slaves report one, and what was not read', () => {
    const slaves = [
      { usageBytes: 10 * MiB, peakBytes: 20 * MiB },
      { usageBytes: 14 * MiB, peakBytes: undefined },
    ];
    const summary = summarizeMemory(undefined, slaves, {
      ...times,
      composeCreateMs: undefined,
      allHellosMs: undefined,
    });
    expect(summary).toEqual({
      sampledAt: times.sampledAt,
      slaves: 2,
      slaveMeanBytes: 12 * MiB,
      slaveMaxBytes: 14 * MiB,
      composeUpMs: 95_000,
    });
  });

  it('counts no slave as zero bytes, not NaN', () => {
    const summary = summarizeMemory({ usageBytes: MiB, peakBytes: undefined }, [], times);
    expect(summary.slaves).toBe(0);
    expect(summary.slaveMeanBytes).toBe(0);
    expect(summary.slaveMaxBytes).toBe(0);
  });
});

describe('composeTimeoutFor', () => {
  it('grows with the number of containers from the fixed base', () => {
    expect(composeTimeoutFor(0)).toBe(DEFAULT_DOCKER_COMPOSE_TIMEOUT_MS);
    expect(composeTimeoutFor(201)).toBe(DEFAULT_DOCKER_COMPOSE_TIMEOUT_MS + 201 * COMPOSE_MS_PER_CONTAINER);
  });
});
