import { appendFileSync, copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OptionError } from '../../src/common';
import { resolveMasterOptions } from '../../src/master';
import { checkpointFileOf, writeCheckpoint, type OpenConn } from '../../src/master/checkpoint';
import { Checkpointer } from '../../src/master/checkpointer';
import { SeqLedger } from '../../src/master/ledger';
import { recoverLedger } from '../../src/master/ledger-recovery';
import { FakeClock } from '../helpers/fake-clock';
import { pollUntil } from '../helpers/wait';

let dir: string;
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'picluster-checkpoint-'))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

type Line = Record<string, unknown>;
const hello = (node: string, conn: number, boot: string): Line => ({
  event: 'message',
  type: 'hello',
  node,
  conn,
  acks: true,
  boot,
});
const beat = (node: string, conn: number, seq: number): Line => ({
  event: 'message',
  type: 'heartbeat',
  node,
  conn,
  seq,
});
const disconnect = (node: string, conn: number, reason = 'closed'): Line => ({
  event: 'disconnect',
  node,
  conn,
  reason,
});
const text = (lines: Line[]): string => lines.map((l) => JSON.stringify(l) + '\n').join('');

/**
 * A log of two master runs: incarnations replaced while a connection was open,
 * a gap, a peer without acks, a connection still open at the end.
 */
const LOG: Line[] = [
  { event: 'listening' },
  hello('a', 1, 'a1'),
  beat('a', 1, 1),
  hello('b', 2, 'b1'),
  beat('a', 1, 2),
  beat('b', 2, 1),
  { event: 'gap', node: 'b', conn: 2, from: 2, to: 4 },
  disconnect('a', 1, 'replaced'),
  hello('a', 3, 'a2'),
  beat('a', 3, 1),
  { event: 'message', type: 'hello', node: 'old', conn: 4, seq: 1 },
  beat('old', 4, 2),
  disconnect('b', 2),
  { event: 'listening' },
  hello('b', 1, 'b1'),
  beat('b', 1, 5),
  beat('a', 3, 7), // conn 3 of the run before: not this run's
  hello('c', 2, 'c1'),
  beat('c', 2, 1),
  beat('b', 1, 6),
  // A peer that says hello again on its connection as another process: its seqs start again.
  hello('b', 1, 'b2'),
  beat('b', 1, 1),
  hello('d', 3, 'd1'),
  beat('d', 3, 1),
  disconnect('c', 2),
];

const entriesOf = (ledger: SeqLedger) => [...ledger.entries()].map(([node, boot, seq]) => ({ node, boot, seq }));
const sorted = <T extends { node: string }>(entries: T[]) => [...entries].sort((x, y) => x.node.localeCompare(y.node));

async function fullReplay(file: string): Promise<SeqLedger> {
  const ledger = new SeqLedger();
  await recoverLedger(ledger, file);
  return ledger;
}

/** The acking connections open after `lines`, as the live master would list them at a checkpoint. */
function openConns(lines: Line[], ledger: SeqLedger): OpenConn[] {
  const open = new Map<number, string>();
  for (const line of lines) {
    if (line.event === 'listening') open.clear();
    else if (line.type === 'hello' && line.acks === true) open.set(line.conn as number, line.node as string);
    else if (line.event === 'disconnect') open.delete(line.conn as number);
  }
  return [...open].map(([conn, node]) => [conn, node, ledger.bootOf(node)!]);
}

describe('SeqLedger cap', () => {
  it('evicts the least recently active entry: a hello or a closed connection makes an entry recent', () => {
    let evicted = 0;
    const ledger = new SeqLedger(3, () => (evicted += 1));
    for (const node of ['a', 'b', 'c']) ledger.hello(node, 'x');
    ledger.hello('a', 'x');
    ledger.hello('d', 'x');
    expect(entriesOf(ledger).map((e) => e.node)).toEqual(['c', 'a', 'd']);
    ledger.opened('c');
    ledger.closed('c');
    ledger.hello('e', 'x');
    expect(entriesOf(ledger).map((e) => e.node)).toEqual(['d', 'c', 'e']);
    expect(evicted).toBe(2);
  });

  it('never evicts an entry whose node has an open connection, even when it is the oldest', () => {
    const ledger = new SeqLedger(2);
    ledger.hello('a', 'x');
    ledger.opened('a');
    ledger.record('a', 1);
    ledger.hello('b', 'x');
    ledger.hello('c', 'x');
    expect(sorted(entriesOf(ledger))).toEqual([
      { node: 'a', boot: 'x', seq: 1 },
      { node: 'c', boot: 'x', seq: 0 },
    ]);
    // Every entry open: the new one is taken beyond the cap, none is dropped.
    ledger.opened('c');
    ledger.hello('d', 'x');
    expect(ledger.size).toBe(3);
    expect(ledger.lastSeq('a')).toBe(1);
  });

  it('forgets an evicted node: it comes back as a new incarnation, even with the same boot', () => {
    const ledger = new SeqLedger(1);
    ledger.hello('a', 'x');
    ledger.record('a', 1);
    ledger.hello('b', 'y');
    expect(ledger.hello('a', 'x')).toBe(0);
    expect(ledger.record('a', 1)).toBe('next');
  });

  it('stays at its cap under a flood of new ids while many connections stay open', () => {
    let evicted = 0;
    const ledger = new SeqLedger(1000, () => (evicted += 1));
    for (let i = 0; i < 500; i++) {
      ledger.hello(`live-${i}`, 'x');
      ledger.opened(`live-${i}`);
      ledger.record(`live-${i}`, 1);
    }
    for (let i = 0; i < 20_000; i++) ledger.hello(`flood-${i}`, 'x');
    expect(ledger.size).toBe(1000);
    expect(evicted).toBe(19_500);
    for (let i = 0; i < 500; i++) expect(ledger.lastSeq(`live-${i}`)).toBe(1);
  });

  it('is sized by options: at least the connection limit, following it by default', () => {
    expect(resolveMasterOptions({}).maxLedgerNodes).toBe(100_000);
    expect(resolveMasterOptions({ maxConnections: 200_000 }).maxLedgerNodes).toBe(200_000);
    expect(() => resolveMasterOptions({ maxConnections: 100, maxLedgerNodes: 99 })).toThrow(OptionError);
    expect(() => resolveMasterOptions({ maxLedgerNodes: 0 })).toThrow(OptionError);
  });
});

describe('ledger checkpoint', () => {
  it('round trip: the checkpoint plus the lines after it give what the whole log gives', async () => {
    const log = join(dir, 'master.jsonl');
    writeFileSync(log, text(LOG.slice(0, 10)));
    const live = await fullReplay(log);
    const covered = await writeCheckpoint(log, () => ({
      entries: live.entries(),
      conns: openConns(LOG.slice(0, 10), live),
    }));
    expect(covered).toBe(statSync(log).size);
    appendFileSync(log, text(LOG.slice(10)));

    const ledger = new SeqLedger();
    const recovery = await recoverLedger(ledger, log);
    expect(recovery).toMatchObject({ checkpoint: true, offset: covered, lines: LOG.length - 10, unreadable: 0 });
    expect(recovery.checkpointIgnored).toBeUndefined();
    expect(sorted(entriesOf(ledger))).toEqual(sorted(entriesOf(await fullReplay(log))));
    expect(sorted(entriesOf(ledger))).toEqual([
      { node: 'a', boot: 'a2', seq: 1 },
      { node: 'b', boot: 'b2', seq: 1 },
      { node: 'c', boot: 'c1', seq: 1 },
      { node: 'd', boot: 'd1', seq: 1 },
    ]);
  });

  it("gives the same state whatever the offset in the snapshot's run, as long as the snapshot is not older", async () => {
    const log = join(dir, 'master.jsonl');
    writeFileSync(log, text(LOG));
    const expected = sorted(entriesOf(await fullReplay(log)));
    const prefix = join(dir, 'prefix.jsonl');
    for (let snapshotAt = 0; snapshotAt <= LOG.length; snapshotAt++) {
      writeFileSync(prefix, text(LOG.slice(0, snapshotAt)));
      const live = await fullReplay(prefix);
      const conns = openConns(LOG.slice(0, snapshotAt), live);
      // A master takes its first checkpoint once its `listening` line is written: the offset is never before it.
      const runStart = LOG.slice(0, snapshotAt).reduce(
        (start, line, i) => (line.event === 'listening' ? i + 1 : start),
        0,
      );
      for (let offsetAt = runStart; offsetAt <= snapshotAt; offsetAt++) {
        // The checkpoint's size is that of the first `offsetAt` lines: what the file had when it was taken.
        writeFileSync(prefix, text(LOG.slice(0, offsetAt)));
        await writeCheckpoint(prefix, () => ({ entries: live.entries(), conns }));
        copyFileSync(checkpointFileOf(prefix), checkpointFileOf(log));
        const ledger = new SeqLedger();
        const recovery = await recoverLedger(ledger, log);
        expect({ snapshotAt, offsetAt, checkpoint: recovery.checkpoint }).toEqual({
          snapshotAt,
          offsetAt,
          checkpoint: true,
        });
        expect({ snapshotAt, offsetAt, entries: sorted(entriesOf(ledger)) }).toEqual({
          snapshotAt,
          offsetAt,
          entries: expected,
        });
      }
    }
  });

  it('reads a line again from its start when the checkpoint was taken while it was being written', async () => {
    const log = join(dir, 'master.jsonl');
    const whole = text(LOG.slice(0, 3));
    const cut = whole.length - 5;
    writeFileSync(log, whole.slice(0, cut));
    const live = await fullReplay(log);
    await writeCheckpoint(log, () => ({ entries: live.entries(), conns: openConns(LOG.slice(0, 2), live) }));
    writeFileSync(log, whole);
    const ledger = new SeqLedger();
    const recovery = await recoverLedger(ledger, log);
    expect(recovery).toMatchObject({ checkpoint: true, offset: text(LOG.slice(0, 2)).length, lines: 1 });
    expect(ledger.lastSeq('a')).toBe(1);
  });

  it('ignores the checkpoint of another log, or of one since truncated, and reads the whole log', async () => {
    const log = join(dir, 'master.jsonl');
    writeFileSync(log, text(LOG));
    const expected = sorted(entriesOf(await fullReplay(log)));
    const ghost = new SeqLedger();
    ghost.hello('ghost', 'g');
    await writeCheckpoint(log, () => ({ entries: ghost.entries(), conns: [] }));
    const checkpoint = readFileSync(checkpointFileOf(log));

    // Replaced: same size or more, other first bytes (another run's timestamps).
    writeFileSync(log, text([{ event: 'listening', port: 1 }, ...LOG]));
    let ledger = new SeqLedger();
    expect(await recoverLedger(ledger, log)).toMatchObject({ checkpoint: false, checkpointIgnored: 'log_replaced' });
    expect(sorted(entriesOf(ledger))).toEqual(expected);

    // Truncated (rotated by copy and truncate, say), then a few lines logged.
    writeFileSync(log, text(LOG.slice(0, 4)));
    writeFileSync(checkpointFileOf(log), checkpoint);
    ledger = new SeqLedger();
    expect(await recoverLedger(ledger, log)).toMatchObject({
      checkpoint: false,
      checkpointIgnored: 'log_truncated',
      lines: 4,
    });
    expect(ledger.bootOf('ghost')).toBeUndefined();
  });

  it('ignores a torn checkpoint, whatever its cut, and keeps nothing of it', async () => {
    const log = join(dir, 'master.jsonl');
    writeFileSync(log, text(LOG));
    const expected = sorted(entriesOf(await fullReplay(log)));
    const ghost = new SeqLedger();
    for (let i = 0; i < 3; i++) ghost.hello(`ghost-${i}`, 'g');
    await writeCheckpoint(log, () => ({ entries: ghost.entries(), conns: [] }));
    const whole = readFileSync(checkpointFileOf(log), 'utf8');
    const lineEnds = [...whole.matchAll(/\n/g)].map((m) => m.index);
    // Cut at the end of each line but the last (no trailer), and inside each line.
    const cuts = [...lineEnds.slice(0, -1).map((end) => end + 1), ...lineEnds.map((end) => end - 2), 0];
    for (const cut of cuts) {
      writeFileSync(checkpointFileOf(log), whole.slice(0, cut));
      const ledger = new SeqLedger();
      const recovery = await recoverLedger(ledger, log);
      expect({ cut, checkpoint: recovery.checkpoint, ignored: recovery.checkpointIgnored }).toEqual({
        cut,
        checkpoint: false,
        ignored: 'torn',
      });
      expect(sorted(entriesOf(ledger))).toEqual(expected);
    }
  });

  it('keeps its order and its cap: the least recently active entries go first when the cap was lowered', async () => {
    const log = join(dir, 'master.jsonl');
    writeFileSync(log, text([{ event: 'listening' }]));
    const live = new SeqLedger();
    for (const node of ['a', 'b', 'c', 'd']) live.hello(node, 'x');
    live.hello('a', 'x');
    await writeCheckpoint(log, () => ({ entries: live.entries(), conns: [] }));
    const ledger = new SeqLedger(2);
    await recoverLedger(ledger, log);
    expect(entriesOf(ledger).map((e) => e.node)).toEqual(['d', 'a']);
  });
});

describe('Checkpointer', () => {
  const headerOf = (log: string) =>
    JSON.parse(readFileSync(checkpointFileOf(log), 'utf8').split('\n')[0]!) as { log_bytes: number; nodes: number };
  const coversSize = (log: string) => () => {
    try {
      return headerOf(log).log_bytes === statSync(log).size ? true : undefined;
    } catch {
      return undefined;
    }
  };

  it('writes one at start, then when the log grew by its bytes, or grew at all over its interval, and at stop', async () => {
    const log = join(dir, 'master.jsonl');
    writeFileSync(log, text(LOG.slice(0, 2)));
    const ledger = await fullReplay(log);
    const clock = new FakeClock();
    const errors: unknown[] = [];
    const checkpointer = new Checkpointer(
      log,
      clock,
      { intervalMs: 10_000, bytes: 200 },
      () => ({ entries: ledger.entries(), conns: [] }),
      (err) => errors.push(err),
    );
    checkpointer.start();
    const explain = () => `checkpoint: ${readFileSync(checkpointFileOf(log), 'utf8').split('\n')[0]}`;
    await pollUntil(coversSize(log), 5000, explain);

    /** Moves the clock a second at a time until a checkpoint covers the whole log; resolves with the time. */
    const secondsUntilCovered = () =>
      pollUntil(
        () => {
          clock.advance(1000);
          return coversSize(log)() && clock.now();
        },
        5000,
        explain,
      );
    const started = clock.now();
    appendFileSync(log, text(LOG.slice(2, 12))); // more than 200 bytes: written at the next look
    ledger.hello('grown', 'x');
    const grownAt = await secondsUntilCovered();
    expect(grownAt - started).toBeLessThan(10_000);
    expect(headerOf(log).nodes).toBe(ledger.size);

    appendFileSync(log, text(LOG.slice(12, 13))); // less than 200 bytes: written once the interval is over
    expect((await secondsUntilCovered()) - grownAt).toBeGreaterThanOrEqual(10_000);

    appendFileSync(log, text(LOG.slice(13, 14)));
    ledger.hello('last', 'x');
    await checkpointer.stop();
    expect(headerOf(log)).toMatchObject({ log_bytes: statSync(log).size, nodes: ledger.size });
    expect(errors).toEqual([]);
  });
});
