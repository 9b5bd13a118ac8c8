import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SeqLedger } from '../../src/master/ledger';
import { recoverLedger } from '../../src/master/ledger-recovery';
import { Outbox } from '../../src/slave/outbox';

const message = (seq: number) => ({ seq, type: 'heartbeat', frame: `f${seq}` });

describe('Outbox', () => {
  it('keeps messages in order, forgets them by cumulative ack', () => {
    const outbox = new Outbox(10);
    for (let seq = 1; seq <= 5; seq += 1) outbox.push(message(seq));
    outbox.ack(3);
    expect(outbox.pending().map((m) => m.seq)).toEqual([4, 5]);
    outbox.ack(2); // an old ack changes nothing
    expect(outbox.size).toBe(2);
    outbox.ack(9);
    expect(outbox.size).toBe(0);
  });

  it('drops the oldest when full and says which', () => {
    const outbox = new Outbox(3);
    const dropped = [1, 2, 3, 4, 5].map((seq) => outbox.push(message(seq))?.seq);
    expect(dropped).toEqual([undefined, undefined, undefined, 1, 2]);
    expect(outbox.pending().map((m) => m.seq)).toEqual([3, 4, 5]);
  });

  it('stays bounded over a long run without acks', () => {
    const outbox = new Outbox(100);
    for (let seq = 1; seq <= 100_000; seq += 1) outbox.push(message(seq));
    expect(outbox.size).toBe(100);
    expect(outbox.pending()[0]!.seq).toBe(99_901);
  });
});

describe('SeqLedger', () => {
  it('tells next, duplicate and ahead apart, per incarnation; a skip makes a gap', () => {
    const ledger = new SeqLedger();
    expect(ledger.hello('n', 'b1')).toBe(0);
    expect(ledger.record('n', 1)).toBe('next');
    expect(ledger.record('n', 1)).toBe('duplicate');
    expect(ledger.record('n', 4)).toBe('ahead');
    expect(ledger.skip('n', 1)).toBeUndefined();
    expect(ledger.skip('n', 3)).toEqual({ from: 2, to: 3 });
    expect(ledger.record('n', 3)).toBe('duplicate');
    expect(ledger.record('n', 4)).toBe('next');
    expect(ledger.hello('n', 'b1')).toBe(4);
    expect(ledger.hello('n', 'b2')).toBe(0);
    expect(ledger.record('n', 1)).toBe('next');
  });

  it('recovers from a log: acking connections only, conn ids per master run, torn lines counted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'picluster-ledger-'));
    try {
      const file = join(dir, 'master.jsonl');
      const lines = [
        { event: 'listening' },
        { event: 'message', type: 'hello', node: 'a', conn: 1, acks: true, boot: 'x' },
        { event: 'message', type: 'heartbeat', node: 'a', conn: 1, seq: 1 },
        { event: 'gap', node: 'a', conn: 1, from: 2, to: 4 },
        { event: 'message', type: 'heartbeat', node: 'a', conn: 1, seq: 5 },
        { event: 'message', type: 'hello', node: 'old', conn: 2, seq: 1 },
        { event: 'message', type: 'heartbeat', node: 'old', conn: 2, seq: 2 },
        { event: 'listening' },
        // conn 1 of the next run is not the acking conn 1 above
        { event: 'message', type: 'heartbeat', node: 'a', conn: 1, seq: 99 },
      ];
      writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n{"event":"mess');
      const ledger = new SeqLedger();
      expect(await recoverLedger(ledger, file)).toEqual({
        nodes: 1,
        lines: 10,
        unreadable: 1,
        checkpoint: false,
        offset: 0,
      });
      expect(ledger.hello('a', 'x')).toBe(5);
      expect(ledger.lastSeq('old')).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
