import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { opensConnection, parseLogLine, type ReadMasterLine } from '../protocol';
import { loadCheckpoint, type CheckpointRejection, type OpenConn } from './checkpoint';
import type { SeqLedger } from './ledger';

/** What a recovery found: in a checkpoint, and in the log's lines it read. */
export interface Recovery {
  /** Entries in the ledger after recovery. */
  nodes: number;
  /** Lines of the log read: all of them, or with a checkpoint only those after it. */
  lines: number;
  /** Lines that are not JSON objects (a text-format log, a torn last line). */
  unreadable: number;
  /** Whether a checkpoint gave the state up to {@link offset}. */
  checkpoint: boolean;
  /** A checkpoint was there and not used, for this reason. */
  checkpointIgnored?: CheckpointRejection;
  /** Where in the log reading began, in bytes (0 without a checkpoint). */
  offset: number;
}

/** Bytes read at a time when looking back for the start of a line. */
const LOOK_BACK_BYTES = 64 * 1024;

/**
 * The first byte of the line that holds byte `offset - 1`, or `offset` when
 * that byte ends a line: a checkpoint's size may fall inside a line that was
 * being written, and reading that line again from its start is harmless.
 */
async function lineStartBefore(file: string, offset: number): Promise<number> {
  const handle = await open(file, 'r');
  try {
    let end = offset;
    while (end > 0) {
      const start = Math.max(0, end - LOOK_BACK_BYTES);
      const buffer = Buffer.alloc(end - start);
      await handle.read(buffer, 0, buffer.length, start);
      const newline = buffer.lastIndexOf(10);
      if (newline !== -1) return start + newline + 1;
      end = start;
    }
    return 0;
  } finally {
    await handle.close();
  }
}

/**
 * An acking connection while the log is read. One listed by the checkpoint
 * has `pending`: its incarnation at the offset is not known for sure (a peer
 * may say hello again on its connection with another `boot`, and the
 * checkpoint knows only the last one), so the highest seq it logged is kept
 * aside until its connection ends (no such hello came: the checkpoint's boot
 * is right) or such a hello comes (the seqs before it are dropped: counting
 * them for the wrong incarnation would take later messages for resends).
 */
interface AckingConn {
  node: string;
  boot: string;
  pending?: number;
}

/**
 * Reads a log this master (or an earlier run of it) wrote in JSON lines,
 * from `offset`: the hellos that asked for acks, the seqs and gaps logged on
 * their connections, and the connections' ends. Connection ids restart with
 * every `listening` line. `conns` are the acking connections open at
 * `offset` (from a checkpoint), whose later lines still count.
 *
 * Reading from an offset lines that the state already has is harmless: a
 * hello of the incarnation the entry has keeps its seq, a seq counts only for
 * its own incarnation and only when higher, and a newer hello resets as it did
 * the first time. Hence the checkpoint may be older than its state.
 */
class LogReplay {
  private readonly acking = new Map<number, AckingConn>();

  constructor(
    private readonly ledger: SeqLedger,
    conns: readonly OpenConn[],
  ) {
    for (const [conn, node, boot] of conns) {
      this.acking.set(conn, { node, boot, pending: 0 });
      ledger.opened(node);
    }
  }

  line(line: ReadMasterLine): void {
    const { ledger, acking } = this;
    if (line.event === 'listening') {
      this.endAll();
      return;
    }
    if (line.event !== 'message' && line.event !== 'disconnect' && line.event !== 'gap') return;
    const { node, conn } = line;
    if (node === undefined || conn === undefined) return;
    if (line.event === 'message' && opensConnection(line) && line.boot !== undefined) {
      acking.set(conn, { node, boot: line.boot });
      ledger.hello(node, line.boot);
      // Open in the log, so kept as it was live: a flood of new ids in the log evicts idle ones first.
      ledger.opened(node);
      return;
    }
    const session = acking.get(conn);
    if (session === undefined) return;
    if (line.event === 'disconnect') {
      this.end(conn, session);
      return;
    }
    // What was logged counts, even past lines lost to a torn or trimmed file.
    const seq = line.event === 'message' ? line.seq : line.to;
    if (seq === undefined) return;
    if (session.pending === undefined) ledger.replayed(session.node, session.boot, seq);
    else session.pending = Math.max(session.pending, seq);
  }

  /** The end of the log, or of a master run: no connection is open any more. */
  endAll(): void {
    for (const [conn, session] of this.acking) this.end(conn, session);
    this.ledger.closeAll();
  }

  private end(conn: number, session: AckingConn): void {
    this.acking.delete(conn);
    if (session.pending !== undefined) this.ledger.replayed(session.node, session.boot, session.pending);
    this.ledger.closed(session.node);
  }
}

async function replay(
  ledger: SeqLedger,
  file: string,
  offset: number,
  conns: readonly OpenConn[],
  result: Recovery,
): Promise<void> {
  const state = new LogReplay(ledger, conns);
  const input = createReadStream(file, { start: offset });
  const lines = createInterface({ input, crlfDelay: Infinity });
  for await (const text of lines) {
    if (text === '') continue;
    result.lines += 1;
    const parsed = parseLogLine(text, 'master');
    if (parsed.line !== undefined) state.line(parsed.line);
    else if (parsed.kind === 'not_a_log_line' && parsed.why !== 'no_event') result.unreadable += 1;
  }
  state.endAll();
}

/**
 * Rebuilds `ledger` (empty) from `file`, the master's JSON-lines log: from
 * its checkpoint plus the lines after it when the checkpoint is whole and of
 * this file, else from every line. Rejects with ENOENT when there is no log.
 */
export async function recoverLedger(ledger: SeqLedger, file: string): Promise<Recovery> {
  const loaded = await loadCheckpoint(file, ledger);
  const result: Recovery = { nodes: 0, lines: 0, unreadable: 0, checkpoint: loaded.used, offset: 0 };
  if (loaded.used) {
    result.offset = await lineStartBefore(file, loaded.logBytes);
    await replay(ledger, file, result.offset, loaded.conns, result);
  } else {
    if (loaded.reason !== undefined) result.checkpointIgnored = loaded.reason;
    await replay(ledger, file, 0, [], result);
  }
  result.nodes = ledger.size;
  return result;
}
