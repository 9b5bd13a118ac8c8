import type { Clock, TimerHandle } from '../../src/common';
import { DeadlineQueue } from '../../src/master/deadline-queue';
import { FixedTimeoutDetector } from '../../src/master/failure-detector';
import { HeartbeatMonitor } from '../../src/master/heartbeat-monitor';
import { FakeClock } from '../helpers/fake-clock';

/** A fake clock that counts the timers armed on it and how many are pending. */
class CountingClock extends FakeClock {
  armed = 0;
  pending = new Set<TimerHandle>();

  override setTimeout(callback: () => void, delayMs: number): TimerHandle {
    this.armed += 1;
    const handle = super.setTimeout(() => {
      this.pending.delete(handle);
      callback();
    }, delayMs);
    this.pending.add(handle);
    return handle;
  }

  override clearTimeout(handle: TimerHandle): void {
    this.pending.delete(handle);
    super.clearTimeout(handle);
  }
}

describe('DeadlineQueue', () => {
  it('fires deadlines in time order, the same ms in the order they were armed, behind one timer', () => {
    const clock = new CountingClock();
    const queue = new DeadlineQueue(clock);
    const fired: string[] = [];
    for (const [name, delay] of [
      ['c', 30],
      ['a', 10],
      ['b', 20],
      ['a2', 10],
    ] as const) {
      queue.setTimeout(() => fired.push(`${name}@${clock.now()}`), delay);
    }
    expect(clock.pending.size).toBe(1);
    clock.advance(100);
    expect(fired).toEqual(['a@10', 'a2@10', 'b@20', 'c@30']);
    expect(queue.size).toBe(0);
    expect(clock.pending.size).toBe(0);
  });

  it('forgets a cleared deadline, wherever it is in the heap', () => {
    const clock = new CountingClock();
    const queue = new DeadlineQueue(clock);
    const fired: number[] = [];
    const handles = Array.from({ length: 50 }, (_, i) => queue.setTimeout(() => fired.push(i), 10 + ((i * 37) % 50)));
    const cleared = new Set([0, 7, 13, 21, 49, 33]);
    for (const i of cleared) queue.clearTimeout(handles[i]!);
    queue.clearTimeout(handles[7]!);
    clock.advance(1000);
    const expected = Array.from({ length: 50 }, (_, i) => i)
      .filter((i) => !cleared.has(i))
      .sort((a, b) => 10 + ((a * 37) % 50) - (10 + ((b * 37) % 50)) || a - b);
    expect(fired).toEqual(expected);
  });

  it('agrees with one timer per deadline on a random schedule of arms and clears', () => {
    let seed = 7;
    const random = (): number => (seed = (seed * 16807) % 2147483647) / 2147483647;
    const clock = new CountingClock();
    const reference = new CountingClock();
    const queue = new DeadlineQueue(clock);
    const log: string[] = [];
    const logRef: string[] = [];
    const live: Array<[TimerHandle, TimerHandle]> = [];
    for (let step = 0; step < 2000; step += 1) {
      const r = random();
      if (r < 0.6 || live.length === 0) {
        const delay = 1 + Math.floor(random() * 500);
        const id = step;
        live.push([
          queue.setTimeout(() => log.push(`${id}@${clock.now()}`), delay),
          reference.setTimeout(() => logRef.push(`${id}@${reference.now()}`), delay),
        ]);
      } else if (r < 0.8) {
        const [mine, theirs] = live.splice(Math.floor(random() * live.length), 1)[0]!;
        queue.clearTimeout(mine);
        reference.clearTimeout(theirs);
      } else {
        const ms = Math.floor(random() * 50);
        clock.advance(ms);
        reference.advance(ms);
      }
    }
    clock.advance(1000);
    reference.advance(1000);
    expect(log.length).toBeGreaterThan(500);
    expect(log).toEqual(logRef);
    expect(clock.armed).toBeLessThan(reference.armed);
  });

  it('runs a deadline a callback arms for now on the next turn, and goes on after a callback throws', () => {
    const clock = new CountingClock();
    const queue = new DeadlineQueue(clock);
    const fired: string[] = [];
    queue.setTimeout(() => {
      fired.push('first');
      queue.setTimeout(() => fired.push('armed for now'), 0);
      throw new Error('boom');
    }, 10);
    queue.setTimeout(() => fired.push('second'), 20);
    expect(() => clock.advance(10)).toThrow('boom');
    expect(fired).toEqual(['first']);
    clock.advance(10);
    expect(fired).toEqual(['first', 'armed for now', 'second']);
  });

  it('drives heartbeat monitors as a clock: 1000 sessions, one timer', () => {
    const clock = new CountingClock();
    const queue: Clock = new DeadlineQueue(clock);
    const silent: number[] = [];
    const monitors = Array.from(
      { length: 1000 },
      (_, i) => new HeartbeatMonitor(queue, new FixedTimeoutDetector(0, 300), () => silent.push(i)),
    );
    for (let t = 100; t <= 1000; t += 100) {
      clock.advance(100);
      // Every session beats but the last ten.
      monitors.slice(0, 990).forEach((monitor) => monitor.touch(clock.now()));
      expect(clock.pending.size).toBeLessThanOrEqual(1);
    }
    expect(silent.sort((a, b) => a - b)).toEqual(Array.from({ length: 10 }, (_, i) => 990 + i));
    for (const monitor of monitors) monitor.stop();
    clock.advance(1000);
    expect(silent).toHaveLength(10);
  });
});

describe('DeadlineQueue with a resolution', () => {
  it('fires each deadline at the next multiple of the resolution, never early, in batches', () => {
    const clock = new CountingClock();
    const queue = new DeadlineQueue(clock, 10);
    const fired: string[] = [];
    for (const delay of [1, 4, 9, 10, 11, 25]) queue.setTimeout(() => fired.push(`${delay}@${clock.now()}`), delay);
    clock.advance(100);
    expect(fired).toEqual(['1@10', '4@10', '9@10', '10@10', '11@20', '25@30']);
    // One timer for each multiple that had deadlines: three, not six.
    expect(clock.armed).toBe(3);
  });
});
