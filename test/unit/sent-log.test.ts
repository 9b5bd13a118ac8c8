import { SentLog } from '../../src/orchestrator/sent-log';
import { SeqIndex } from '../../src/orchestrator/seq-index';

/** What a SeqIndex must answer, from a plain map built from the same pushes. */
function expectSameAsMap(seqs: readonly number[]): void {
  const index = new SeqIndex();
  const model = new Map<number, number>();
  for (const seq of seqs) {
    expect(index.push(seq)).toBe(model.size);
    model.set(seq, model.size);
  }
  expect(index.size).toBe(seqs.length);
  seqs.forEach((seq, pos) => {
    expect(index.positionOf(seq)).toBe(pos);
    expect(index.seqAt(pos)).toBe(seq);
  });
  const probes = [0, -1, 1, 2, ...seqs.flatMap((s) => [s - 1, s + 1]), Math.max(0, ...seqs) + 10];
  for (const probe of probes) {
    expect(index.positionOf(probe)).toBe(model.get(probe) ?? -1);
    expect(index.has(probe)).toBe(model.has(probe));
  }
}

describe('SeqIndex', () => {
  it('finds nothing when empty', () => {
    const index = new SeqIndex();
    expect(index.size).toBe(0);
    expect(index.positionOf(1)).toBe(-1);
    expect(index.has(0)).toBe(false);
  });

  it('keeps one run for seqs 1, 2, 3 …, however many', () => {
    const index = new SeqIndex();
    for (let seq = 1; seq <= 100_000; seq += 1) index.push(seq);
    expect(index.runs).toBe(1);
    expect(index.positionOf(1)).toBe(0);
    expect(index.positionOf(100_000)).toBe(99_999);
    expect(index.positionOf(100_001)).toBe(-1);
    expect(index.seqAt(54_321)).toBe(54_322);
  });

  it('starts a run at each gap, and finds no seq inside a gap', () => {
    const seqs = [3, 4, 5, 9, 10, 12, 100, 101];
    expectSameAsMap(seqs);
    const index = new SeqIndex();
    for (const seq of seqs) index.push(seq);
    expect(index.runs).toBe(4);
    expect(index.positionOf(6)).toBe(-1);
    expect(index.positionOf(11)).toBe(-1);
  });

  it('answers the same for seqs that go back (a map then), before and after they do', () => {
    expectSameAsMap([1, 2, 3, 7, 5, 6, 8, 4]);
    expectSameAsMap([10, 1]);
    expectSameAsMap([2, 3, 4, 1]);
    const index = new SeqIndex();
    for (const seq of [1, 2, 3, 2.5]) index.push(seq);
    expect(index.positionOf(2.5)).toBe(3);
    index.push(4);
    expect(index.seqAt(4)).toBe(4);
  });

  it('answers the same as a map for random ascending and shuffled seqs', () => {
    let state = 7;
    const random = (n: number): number => {
      state = (state * 48_271) % 2_147_483_647;
      return state % n;
    };
    for (let round = 0; round < 20; round += 1) {
      const seqs: number[] = [];
      for (let seq = 1; seqs.length < 200; seq += 1 + (random(5) === 0 ? random(4) : 0)) seqs.push(seq);
      expectSameAsMap(seqs);
      for (let i = seqs.length - 1; i > 0; i -= 1) {
        if (random(10) !== 0) continue;
        const j = random(i + 1);
        [seqs[i], seqs[j]] = [seqs[j] as number, seqs[i] as number];
      }
      expectSameAsMap(seqs);
    }
  });
});

/** A SentLog of these sent lines: [seq, at, type, text]. */
function logOf(lines: ReadonlyArray<[number, number, string, string | undefined]>): SentLog {
  const log = new SentLog();
  for (const [seq, at, type, text] of lines) log.add(seq, at, type, text);
  return log;
}

describe('SentLog', () => {
  it('gives back each message as it was sent, in the order of its lines', () => {
    const log = logOf([
      [1, 1000.5, 'hello', 'Hello World'],
      [2, 2000, 'heartbeat', 'alive'],
      [3, 3000, 'heartbeat', 'alive'],
      [5, 5000, 'heartbeat', undefined],
    ]);
    expect(log.size).toBe(4);
    expect(log.find(4)).toBe(-1);
    expect(log.has(5)).toBe(true);
    expect(log.view(0)).toEqual({ seq: 1, at: 1000.5, type: 'hello', text: 'Hello World' });
    expect(log.view(log.find(3))).toEqual({ seq: 3, at: 3000, type: 'heartbeat', text: 'alive' });
    expect(log.view(3)).toEqual({ seq: 5, at: 5000, type: 'heartbeat', text: undefined });
    expect(log.expectedText(1)).toBe('Received message: alive');
    expect(log.expectedText(3)).toBeUndefined();
    expect(log.typeOf(0)).toBe('hello');
  });

  it('tells apart the same text of two types, and no text from an empty one', () => {
    const log = logOf([
      [1, 1, 'a', 'x'],
      [2, 2, 'b', 'x'],
      [3, 3, 'a', ''],
      [4, 4, 'a', undefined],
    ]);
    expect([0, 1, 2, 3].map((pos) => [log.typeOf(pos), log.expectedText(pos)])).toEqual([
      ['a', 'Received message: x'],
      ['b', 'Received message: x'],
      ['a', 'Received message: '],
      ['a', undefined],
    ]);
  });

  it('counts each logging, and keeps every time only of a message logged more than once', () => {
    const log = new SentLog();
    log.add(1, 10, 'heartbeat', 'alive');
    log.add(2, 20, 'heartbeat', 'alive');
    expect(log.logCount(0)).toBe(0);
    expect(log.loggedAt(0)).toEqual([]);
    expect(log.markLogged(0, 11)).toBe(1);
    expect(log.loggedAt(0)).toEqual([11]);
    expect(log.markLogged(0, 15)).toBe(2);
    expect(log.markLogged(0, 19)).toBe(3);
    expect(log.logCount(0)).toBe(3);
    expect(log.loggedAt(0)).toEqual([11, 15, 19]);
    expect(log.logCount(1)).toBe(0);
  });

  it('counts on exactly past what a byte holds', () => {
    const log = new SentLog();
    log.add(7, 0, 'heartbeat', 'alive');
    for (let i = 1; i <= 300; i += 1) expect(log.markLogged(0, i)).toBe(i);
    expect(log.logCount(0)).toBe(300);
    expect(log.loggedAt(0)).toHaveLength(300);
    expect(log.loggedAt(0)[299]).toBe(300);
  });

  it('holds more messages than one chunk of its columns', () => {
    const log = new SentLog();
    const n = 200_000;
    for (let seq = 1; seq <= n; seq += 1) log.add(seq, seq * 250, 'heartbeat', 'alive');
    log.markLogged(n - 1, 1);
    expect(log.view(n - 1)).toEqual({ seq: n, at: n * 250, type: 'heartbeat', text: 'alive' });
    expect(log.view(65_536)).toEqual({ seq: 65_537, at: 65_537 * 250, type: 'heartbeat', text: 'alive' });
    expect(log.logCount(n - 1)).toBe(1);
    expect(log.logCount(n - 2)).toBe(0);
  });
});

describe('SentLog columns', () => {
  it('keeps every entry across the growth of its first chunk and past it', () => {
    const log = new SentLog();
    const n = 70_000; // beyond the first chunk's 65,536 entries
    for (let seq = 1; seq <= n; seq += 1)
      log.add(seq, 1_000 + seq, seq % 3 === 0 ? 'message' : 'heartbeat', `t${seq % 5}`);
    for (const pos of [0, 1, 63, 64, 65, 127, 128, 65_535, 65_536, 69_999]) {
      expect(log.sentAtOf(pos)).toBe(1_001 + pos);
      expect(log.typeOf(pos)).toBe((pos + 1) % 3 === 0 ? 'message' : 'heartbeat');
      expect(log.logCount(pos)).toBe(0);
    }
    expect(log.markLogged(69_999, 5)).toBe(1);
    expect(log.markLogged(3, 6)).toBe(1);
    expect(log.logCount(69_999)).toBe(1);
    expect(log.loggedAt(3)).toEqual([6]);
  });

  it('writes a late position first: the first chunk grows to hold it', () => {
    const log = new SentLog();
    for (let seq = 1; seq <= 3; seq += 1) log.add(seq, seq, 'heartbeat', undefined);
    expect(log.markLogged(2, 9)).toBe(1);
    for (let seq = 4; seq <= 70_000; seq += 1) log.add(seq, seq, 'heartbeat', undefined);
    expect(log.loggedAt(2)).toEqual([9]);
    expect(log.sentAtOf(69_999)).toBe(70_000);
  });
});
