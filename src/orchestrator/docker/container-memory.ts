import type Docker from 'dockerode';
import type { ContainerMemory } from '../types';
import { DEFAULT_ENGINE_CONCURRENCY, mapBounded } from './bounded';

/** One container's memory as the engine reports it, in bytes. */
export interface MemorySample {
  /** The cgroup's usage less its inactive file cache, as `docker stats` shows it. */
  usageBytes: number;
  /** The cgroup's highest usage so far (cgroup v1 `max_usage`); undefined where the engine gives none. */
  peakBytes: number | undefined;
}

/**
 * The memory `docker stats` shows for one stats answer: usage less the
 * inactive file cache (`total_inactive_file` on cgroup v1, `inactive_file` on
 * v2), which the kernel reclaims first; undefined for a container that does
 * not run (no usage reported).
 */
export function memorySampleOf(stats: Pick<Docker.ContainerStats, 'memory_stats'>): MemorySample | undefined {
  const memory = stats.memory_stats as Partial<Docker.MemoryStats> | undefined;
  const usage = memory?.usage;
  if (typeof usage !== 'number') return undefined;
  const detail = memory?.stats as Partial<Docker.MemoryStats['stats']> | undefined;
  const inactive = detail?.total_inactive_file ?? detail?.inactive_file ?? 0;
  const peak = memory?.max_usage;
  return {
    usageBytes: inactive < usage ? usage - inactive : usage,
    peakBytes: typeof peak === 'number' && peak > 0 ? peak : undefined,
  };
}

/** What {@link summarizeMemory} takes besides the samples. */
export interface StartUpTimes {
  sampledAt: string;
  composeUpMs: number;
  composeCreateMs: number | undefined;
  allHellosMs: number | undefined;
}

/** The run's {@link ContainerMemory} from the master's sample and the slaves' (those that answered). */
export function summarizeMemory(
  master: MemorySample | undefined,
  slaves: readonly MemorySample[],
  times: StartUpTimes,
): ContainerMemory {
  const usage = slaves.map((sample) => sample.usageBytes);
  const peaks = slaves.map((sample) => sample.peakBytes).filter((peak): peak is number => peak !== undefined);
  const mean = (values: readonly number[]): number =>
    values.length === 0 ? 0 : Math.round(values.reduce((sum, value) => sum + value, 0) / values.length);
  return {
    sampledAt: times.sampledAt,
    slaves: slaves.length,
    slaveMeanBytes: mean(usage),
    slaveMaxBytes: Math.max(0, ...usage),
    ...(master === undefined ? {} : { masterBytes: master.usageBytes }),
    // Only when every slave read gave one: a mean over some would mislead.
    ...(peaks.length === 0 || peaks.length !== slaves.length
      ? {}
      : { slavePeakMeanBytes: mean(peaks), slavePeakMaxBytes: Math.max(...peaks) }),
    ...(master?.peakBytes === undefined ? {} : { masterPeakBytes: master.peakBytes }),
    composeUpMs: times.composeUpMs,
    ...(times.composeCreateMs === undefined ? {} : { composeCreateMs: times.composeCreateMs }),
    ...(times.allHellosMs === undefined ? {} : { allHellosMs: times.allHellosMs }),
  };
}

/**
 * Reads the memory of each container from the engine (one-shot stats, a few
 * requests at a time); undefined for one that does not run or did not answer.
 */
export async function readMemory(containers: readonly Docker.Container[]): Promise<(MemorySample | undefined)[]> {
  return mapBounded(containers, DEFAULT_ENGINE_CONCURRENCY, async (container) => {
    try {
      return memorySampleOf(await container.stats({ stream: false, 'one-shot': true }));
    } catch {
      // Gone or stopped since: a run's figures are about the containers that ran to the end.
      return undefined;
    }
  });
}
