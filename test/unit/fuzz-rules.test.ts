import { RSS_LIMIT_BYTES, judgeGoodSlave, rssGrowth, rssOverLimit, stallMs, type LogRecord } from '../../fuzz/rules';

const MiB = 1024 * 1024;

describe('fuzz rules: stalls', () => {
  it('counts a wait that burnt the master CPU, less the fuzzer own lag', () => {
    expect(stallMs({ latencyMs: 1500, ownLagMs: 0, masterCpuMs: 1490 })).toBe(1490);
    expect(stallMs({ latencyMs: 1500, ownLagMs: 400, masterCpuMs: 1490 })).toBe(1100);
  });

  it('does not count a master that only waited for a core, nor a fuzzer that ran late', () => {
    expect(stallMs({ latencyMs: 3000, ownLagMs: 0, masterCpuMs: 200 })).toBe(200);
    expect(stallMs({ latencyMs: 3000, ownLagMs: 2900, masterCpuMs: 3000 })).toBe(100);
  });

  it('falls back to the latency where /proc is missing', () => {
    expect(stallMs({ latencyMs: 1200, ownLagMs: 100, masterCpuMs: undefined })).toBe(1100);
  });
});

describe('fuzz rules: memory', () => {
  const at = (s: number, mib: number) => ({ atMs: s * 1000, bytes: mib * MiB });

  it('flags one sample over the bound', () => {
    expect(rssOverLimit({ atMs: 0, bytes: RSS_LIMIT_BYTES })).toBeUndefined();
    expect(rssOverLimit({ atMs: 0, bytes: RSS_LIMIT_BYTES + 1 })).toMatch(/over 300\.0 MiB/);
  });

  it('flags a floor that keeps rising, not peaks, and needs two full windows after warm-up', () => {
    const peaky = Array.from({ length: 60 }, (_, s) => at(s, s % 5 === 0 ? 250 : 100));
    expect(rssGrowth(peaky)).toBeUndefined();
    const rising = Array.from({ length: 60 }, (_, s) => at(s, 80 + 3 * s));
    expect(rssGrowth(rising)).toMatch(/floor grew from 110\.0 MiB to 200\.0 MiB over 4 windows/);
    expect(rssGrowth(rising.slice(0, 25))).toBeUndefined();
  });
});

describe('fuzz rules: the good slave', () => {
  const good = 'fuzz-good-1';
  const slave = (sent: number, unacked?: number): LogRecord[] => [
    { event: 'starting', boot: 'b1' },
    ...Array.from({ length: sent }, (_, i) => ({ event: 'sent', seq: i + 1 })),
    { event: 'stopped', unacked },
  ];
  const hello = (conn: number, boot = 'b1'): LogRecord => ({ event: 'message', type: 'hello', node: good, boot, conn });
  const logged = (conn: number, ...seqs: number[]): LogRecord[] =>
    seqs.map((seq) => ({ event: 'message', type: 'heartbeat', node: good, seq, conn }));

  it('passes when every sent seq is logged once, across connections', () => {
    const master = [hello(1), ...logged(1, 1, 2), hello(5), ...logged(5, 3)];
    expect(judgeGoodSlave(slave(3), master, good)).toEqual({ problems: [], notes: [] });
  });

  it('finds a missing, a doubled and an unknown seq, and a bad disconnect', () => {
    const master = [hello(1), ...logged(1, 1, 1, 4), { event: 'disconnect', node: good, conn: 1, reason: 'replaced' }];
    const { problems } = judgeGoodSlave(slave(3), master, good);
    expect(problems).toEqual([
      'good messages never logged: seq 2, 3',
      'logged for the good slave but never sent: seq 4',
      'good messages logged twice: seq 1',
      "the good slave's connection 1 ended: replaced",
    ]);
  });

  it('lets the last unacked seqs be missing, and says when a fuzz frame named the good id', () => {
    const master = [
      hello(1),
      ...logged(1, 1),
      hello(9, 'other'),
      { event: 'disconnect', node: good, conn: 1, reason: 'replaced' },
    ];
    expect(judgeGoodSlave(slave(3, 2), master, good)).toEqual({
      problems: [],
      notes: ["fuzz connections 9 named the good slave's id"],
    });
  });

  it('requires a clean stop', () => {
    const lines = slave(1).filter((l) => l.event !== 'stopped');
    expect(judgeGoodSlave(lines, [hello(1), ...logged(1, 1)], good).problems).toEqual([
      'the good slave has no "stopped" line: it did not stop cleanly',
    ]);
  });
});
