import { BurstCounter, type Burst } from '../../src/master/burst-counter';
import { FrameRate } from '../../src/master/frame-rate';
import { FakeClock } from '../helpers/fake-clock';

describe('BurstCounter', () => {
  function counter(firstAtOnce = true): {
    clock: FakeClock;
    add(code: string, n: number): void;
    reports: Burst<number>[];
    bursts: BurstCounter<number>;
  } {
    const clock = new FakeClock();
    const reports: Burst<number>[] = [];
    const bursts = new BurstCounter<number>(clock, 1000, (burst) => reports.push(burst), firstAtOnce);
    return { clock, reports, bursts, add: (code, n) => bursts.add(code, n) };
  }

  it('reports the first event at once and the rest of its window in one report, by code', () => {
    const { clock, add, reports } = counter();
    add('A', 1);
    expect(reports).toEqual([{ count: 1, codes: { A: 1 }, first: 1, last: 1 }]);
    add('A', 2);
    add('B', 3);
    add('A', 4);
    clock.advance(999);
    expect(reports).toHaveLength(1);
    clock.advance(1);
    expect(reports[1]).toEqual({ count: 3, codes: { A: 2, B: 1 }, first: 2, last: 4 });
  });

  it('keeps counting in windows while events come, and reports the next one at once after a quiet window', () => {
    const { clock, add, reports } = counter();
    add('A', 1);
    clock.advance(500);
    add('A', 2);
    clock.advance(500); // reports 2, opens a window
    add('A', 3);
    clock.advance(1000); // reports 3, opens a window that stays empty
    clock.advance(1000); // closes it
    add('A', 4);
    expect(reports.map((r) => [r.count, r.first])).toEqual([
      [1, 1],
      [1, 2],
      [1, 3],
      [1, 4],
    ]);
  });

  it('without firstAtOnce, reports only when the window ends', () => {
    const { clock, add, reports } = counter(false);
    add('refused', 1);
    add('refused', 2);
    expect(reports).toEqual([]);
    clock.advance(1000);
    expect(reports).toEqual([{ count: 2, codes: { refused: 2 }, first: 1, last: 2 }]);
  });

  it('flush() reports what is counted and closes the window', () => {
    const { clock, add, reports, bursts } = counter();
    add('A', 1);
    add('A', 2);
    bursts.flush();
    expect(reports.map((r) => r.count)).toEqual([1, 1]);
    bursts.flush();
    clock.advance(5000);
    expect(reports).toHaveLength(2);
    add('A', 3);
    expect(reports.map((r) => r.first)).toEqual([1, 2, 3]);
  });
});

describe('FrameRate', () => {
  it('allows a burst of one second’s worth, then as many frames as time refills', () => {
    const rate = new FrameRate(10, 0);
    for (let i = 0; i < 10; i++) expect(rate.take(0)).toBe(true);
    expect(rate.take(0)).toBe(false);
    expect(rate.take(99)).toBe(false); // 0.99 of a frame refilled
    expect(rate.take(100)).toBe(true);
    expect(rate.take(100)).toBe(false);
  });

  it('takes nothing away when the wall clock steps back', () => {
    const rate = new FrameRate(10, 10_000);
    for (let i = 0; i < 5; i++) expect(rate.take(10_000 + i * 1000)).toBe(true);
    // Stepped back 5 s: the 9 tokens left are still there.
    let taken = 0;
    while (rate.take(9_000)) taken += 1;
    expect(taken).toBe(9);
    expect(rate.take(9_100)).toBe(true); // and time refills again from the new reading
  });

  it('refills up to one second’s worth, not more, however long the peer was quiet', () => {
    const rate = new FrameRate(10, 0);
    expect(rate.take(0)).toBe(true);
    let taken = 0;
    while (rate.take(60_000)) taken += 1;
    expect(taken).toBe(10);
  });
});
