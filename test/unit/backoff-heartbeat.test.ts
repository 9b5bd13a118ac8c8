import { Backoff } from '../../src/common';
import { FixedTimeoutDetector } from '../../src/master/failure-detector';
import { HeartbeatMonitor } from '../../src/master/heartbeat-monitor';
import { FakeClock } from '../helpers/fake-clock';

describe('Backoff', () => {
  it('grows exponentially, is capped, jitters within [ceiling/2, ceiling] and resets', () => {
    const low = new Backoff({ initialDelayMs: 100, maxDelayMs: 1000, factor: 2 }, () => 0);
    const high = new Backoff({ initialDelayMs: 100, maxDelayMs: 1000, factor: 2 }, () => 1);
    const lows = Array.from({ length: 6 }, () => low.next().delayMs);
    const highs = Array.from({ length: 6 }, () => high.next().delayMs);
    expect(lows).toEqual([50, 100, 200, 400, 500, 500]);
    expect(highs).toEqual([100, 200, 400, 800, 1000, 1000]);
    low.reset();
    expect(low.next()).toEqual({ attempt: 1, delayMs: 50 });
  });
});

describe('HeartbeatMonitor', () => {
  it('fires once after the timeout without frames, not before', () => {
    const clock = new FakeClock();
    const silent: number[] = [];
    new HeartbeatMonitor(clock, new FixedTimeoutDetector(clock.now(), 1000), (ms) => silent.push(ms));
    clock.advance(999);
    expect(silent).toEqual([]);
    clock.advance(1);
    expect(silent).toEqual([1000]);
    clock.advance(10_000);
    expect(silent).toEqual([1000]);
  });

  it('counts from the last frame', () => {
    const clock = new FakeClock();
    const silent: number[] = [];
    const monitor = new HeartbeatMonitor(clock, new FixedTimeoutDetector(clock.now(), 1000), (ms) => silent.push(ms));
    clock.advance(600);
    monitor.touch(clock.now());
    clock.advance(600);
    expect(silent).toEqual([]);
    clock.advance(400);
    expect(silent).toEqual([1000]);
  });

  it('applies a new timeout from the last frame on, and stop() cancels it', () => {
    const clock = new FakeClock();
    const silent: number[] = [];
    const monitor = new HeartbeatMonitor(clock, new FixedTimeoutDetector(clock.now(), 15_000), (ms) => silent.push(ms));
    clock.advance(100);
    monitor.touch(clock.now());
    monitor.announced(100, 300);
    clock.advance(299);
    expect(silent).toEqual([]);
    clock.advance(1);
    expect(silent).toEqual([300]);

    const other = new HeartbeatMonitor(clock, new FixedTimeoutDetector(clock.now(), 100), (ms) => silent.push(ms));
    other.stop();
    clock.advance(1000);
    expect(silent).toEqual([300]);
  });
});

describe('HeartbeatMonitor after a stall', () => {
  it('does not declare silent a peer whose frame was read before the verdict', () => {
    const clock = new FakeClock();
    const silent: number[] = [];
    let pendingRead: (() => void) | undefined;
    // The frame arrived during the stall and is read by the event loop after timers ran.
    clock.afterPendingIo = (callback) => {
      pendingRead?.();
      callback();
    };
    const monitor = new HeartbeatMonitor(clock, new FixedTimeoutDetector(clock.now(), 100), (ms) => silent.push(ms));
    pendingRead = () => monitor.touch(clock.now());
    clock.advance(500);
    expect(silent).toEqual([]);
    pendingRead = undefined;
    clock.advance(100);
    expect(silent).toEqual([100]);
  });
});
