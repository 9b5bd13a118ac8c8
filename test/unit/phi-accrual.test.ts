import { FixedTimeoutDetector, type FailureDetector, type Suspicion } from '../../src/master/failure-detector';
import { HeartbeatMonitor } from '../../src/master/heartbeat-monitor';
import { PhiAccrualDetector } from '../../src/master/phi-accrual';
import {
  DEFAULT_PHI_PARAMS,
  PHI_WINDOW_SIZE,
  phiEarliestSuspicionMs,
  phiOf,
  phiSuspicionDelayMs,
  phiSuspicionY,
  type PhiParams,
} from '../../src/protocol';
import { FakeClock } from '../helpers/fake-clock';

const params = (overrides: Partial<PhiParams> = {}): PhiParams => ({ ...DEFAULT_PHI_PARAMS, ...overrides });

describe('phi, the logistic approximation', () => {
  it('is log10(2) at the mean, whatever the deviation', () => {
    expect(phiOf(1000, 1000, 100)).toBeCloseTo(Math.log10(2), 10);
    expect(phiOf(5, 5, 1)).toBeCloseTo(0.30103, 5);
  });

  it('grows with silence, strictly, and stays finite', () => {
    let previous = -Infinity;
    for (let elapsed = 0; elapsed <= 100_000; elapsed += 50) {
      const phi = phiOf(elapsed, 1000, 100);
      expect(phi).toBeGreaterThan(previous);
      expect(Number.isFinite(phi)).toBe(true);
      previous = phi;
    }
  });

  it('matches the normal tail: about 1.5 (P 0.03) two deviations past the mean, about 4.5 four past', () => {
    // Normal tail P(X > 2) = 0.02275 -> 1.64; P(X > 4) = 3.17e-5 -> 4.50; the approximation is within a few %.
    expect(phiOf(1200, 1000, 100)).toBeCloseTo(1.64, 1);
    expect(phiOf(1400, 1000, 100)).toBeCloseTo(4.5, 0);
  });

  it('reaches each threshold at the y solved for it', () => {
    for (const threshold of [1, 2, 3, 8, 12, 16, 30, 50]) {
      const y = phiSuspicionY(threshold);
      expect(y).toBeGreaterThan(0);
      expect(phiOf(1000 + 100 * y, 1000, 100)).toBeCloseTo(threshold, 9);
    }
    // Threshold 8: about 5.2 deviations past the mean.
    expect(phiSuspicionY(8)).toBeCloseTo(5.22, 1);
  });

  it('puts the deadline at mean + pause + y × deviation, the deviation floored', () => {
    const p = params({ minStdDevMs: 100, acceptablePauseMs: 300 });
    const y = phiSuspicionY(8);
    expect(phiSuspicionDelayMs(1000, 20, p)).toBeCloseTo(1000 + 300 + y * 100, 9);
    expect(phiSuspicionDelayMs(1000, 250, p)).toBeCloseTo(1000 + 300 + y * 250, 9);
    expect(phiEarliestSuspicionMs(1000, 3000, p)).toBeCloseTo(250 + 300 + y * 100, 9);
    expect(phiEarliestSuspicionMs(1000, 500, p)).toBe(500);
  });
});

describe('PhiAccrualDetector', () => {
  it('starts from the announced interval ± a quarter, and waits the fixed timeout for the first frame', () => {
    const detector = new PhiAccrualDetector(params(), 0, 1000, 3000);
    expect(detector.size).toBe(2);
    expect(detector.mean()).toBe(1000);
    expect(detector.stdDev()).toBe(250);
    // No gap measured yet: only the wait for the first frame, judged as the fixed detector would.
    expect(detector.deadline()).toBe(3000);
    detector.arrived(1000);
    expect(detector.size).toBe(3);
    const pause = DEFAULT_PHI_PARAMS.acceptablePauseMs;
    expect(detector.deadline()).toBe(1000 + Math.ceil(detector.mean() + pause + phiSuspicionY(8) * detector.stdDev()));
  });

  it('with the defaults suspects a steady 1 s peer about 2 s after its last frame: half a second late is no suspicion', () => {
    const detector = new PhiAccrualDetector(params(), 0, 1000, 3000);
    for (let t = 1000; t <= 100_000; t += 1000) detector.arrived(t);
    expect(detector.deadline() - 100_000).toBe(2023);
    expect(detector.phi(100_000 + 1500)).toBeLessThan(1);
  });

  it('suspects at phi == threshold for a steady peer, and the minimum deviation holds', () => {
    const detector = new PhiAccrualDetector(params({ minStdDevMs: 100, acceptablePauseMs: 0 }), 0, 1000, 60_000);
    for (let t = 1000; t <= 200_000; t += 1000) detector.arrived(t);
    expect(detector.size).toBe(PHI_WINDOW_SIZE);
    expect(detector.mean()).toBe(1000);
    // Every gap is 1000: the measured deviation is 0, the floor applies.
    expect(detector.stdDev()).toBe(100);
    const deadline = detector.deadline();
    expect(deadline - 200_000).toBe(Math.ceil(1000 + phiSuspicionY(8) * 100));
    expect(detector.phi(deadline)).toBeGreaterThanOrEqual(8);
    expect(detector.phi(deadline)).toBeLessThan(8.1);
    expect(detector.phi(deadline - 1)).toBeLessThan(8);
  });

  it('slides its window: the oldest gaps leave it, sums stay exact', () => {
    const detector = new PhiAccrualDetector(params({ minStdDevMs: 1 }), 0, 500, 60_000);
    let t = 0;
    for (let i = 0; i < PHI_WINDOW_SIZE; i += 1) detector.arrived((t += 500));
    expect(detector.mean()).toBe(500);
    for (let i = 0; i < PHI_WINDOW_SIZE / 2; i += 1) detector.arrived((t += 1500));
    expect(detector.mean()).toBe(1000);
    expect(detector.stdDev()).toBe(500);
    for (let i = 0; i < PHI_WINDOW_SIZE; i += 1) detector.arrived((t += 1500));
    expect(detector.mean()).toBe(1500);
    expect(detector.stdDev()).toBe(1);
  });

  it('counts a burst as one arrival: gaps under a quarter of the interval are not sampled', () => {
    const detector = new PhiAccrualDetector(params(), 0, 1000, 60_000);
    detector.arrived(1000);
    for (let t = 1001; t < 1200; t += 1) detector.arrived(t);
    expect(detector.size).toBe(3);
    expect(detector.lastArrivalAt).toBe(1199);
    detector.arrived(2000);
    expect(detector.size).toBe(4);
  });

  it('never suspects later than the fixed timeout', () => {
    const detector = new PhiAccrualDetector(params({ acceptablePauseMs: 10_000 }), 0, 1000, 3000);
    detector.arrived(1000);
    expect(detector.deadline()).toBe(1000 + 3000);
    expect(detector.suspicion(4000).phi).toBeLessThan(8);
  });

  it('learns a new interval from a hello', () => {
    const detector = new PhiAccrualDetector(params(), 0, 5000, 15_000);
    detector.announced(200, 600);
    expect(detector.mean()).toBe(200);
    expect(detector.deadline()).toBe(600);
  });
});

describe('HeartbeatMonitor with phi', () => {
  function watch(detectorParams: PhiParams, intervalMs: number, timeoutMs: number) {
    const clock = new FakeClock();
    const verdicts: Array<{ silentMs: number; suspicion: Suspicion }> = [];
    const detector = new PhiAccrualDetector(detectorParams, clock.now(), intervalMs, timeoutMs);
    const monitor = new HeartbeatMonitor(clock, detector, (silentMs, suspicion) =>
      verdicts.push({ silentMs, suspicion }),
    );
    return { clock, verdicts, detector, monitor };
  }

  it('declares a steady peer that fell silent silent at its deadline, before the fixed timeout would', () => {
    const { clock, verdicts, monitor, detector } = watch(params(), 1000, 3000);
    for (let i = 0; i < 20; i += 1) {
      clock.advance(1000);
      monitor.touch(clock.now());
    }
    expect(verdicts).toEqual([]);
    const expected = detector.deadline() - clock.now();
    expect(expected).toBeLessThan(3000);
    clock.advance(expected - 1);
    expect(verdicts).toEqual([]);
    clock.advance(1);
    expect(verdicts).toEqual([{ silentMs: expected, suspicion: { detector: 'phi', phi: expect.any(Number) } }]);
    expect(verdicts[0]?.suspicion.phi).toBeGreaterThanOrEqual(8);
  });

  it('never declares silent a peer beating with jitter within its deviation', () => {
    const { clock, verdicts, monitor } = watch(params(), 1000, 3000);
    for (let i = 0; i < 1000; i += 1) {
      clock.advance(i % 2 === 0 ? 900 : 1100);
      monitor.touch(clock.now());
    }
    expect(verdicts).toEqual([]);
    // Live until the end: silence is still judged.
    clock.advance(3000);
    expect(verdicts).toHaveLength(1);
  });

  it('re-arms at once when a frame moved the deadline earlier', () => {
    // A detector whose deadline the test sets: the monitor must follow it down without waiting for its timer.
    const clock = new FakeClock();
    let deadline = 10_000;
    let last = 0;
    const detector: FailureDetector = {
      kind: 'phi',
      get lastArrivalAt() {
        return last;
      },
      arrived: (now) => void (last = now),
      restart: (now) => void (last = now),
      announced: () => undefined,
      deadline: () => deadline,
      suspicion: () => ({ detector: 'phi', phi: 8 }),
    };
    const silentAt: number[] = [];
    const monitor = new HeartbeatMonitor(clock, detector, () => silentAt.push(clock.now()));
    clock.advance(1000);
    deadline = 1500;
    monitor.touch(clock.now());
    clock.advance(499);
    expect(silentAt).toEqual([]);
    clock.advance(1);
    expect(silentAt).toEqual([1500]);
  });

  it('keeps the fixed detector as it was: silent after the timeout', () => {
    const clock = new FakeClock();
    const silent: Suspicion[] = [];
    new HeartbeatMonitor(clock, new FixedTimeoutDetector(0, 500), (_ms, suspicion) => silent.push(suspicion));
    clock.advance(499);
    expect(silent).toEqual([]);
    clock.advance(1);
    expect(silent).toEqual([{ detector: 'fixed' }]);
  });
});
