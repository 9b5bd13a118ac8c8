import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';

/**
 * What the ledger says of a numbered message from a slave that asked for
 * acks: the next one (logged), one logged before (a resend), or one beyond
 * seqs that never came (not logged: the slave must resend from the first
 * missing one, or say with a `skip` that it has them no more).
 */
export type SeqVerdict = 'next' | 'duplicate' | 'ahead';

interface NodeEntry {
  boot: string;
  /** Highest seq logged for this incarnation; 0 before the first. */
  lastSeq: number;
}

/** What {@link SeqLedger.recover} found in a log file. */
export interface Recovery {
  nodes: number;
  lines: number;
  /** Lines that are not JSON objects (a text-format log, a torn last line). */
  unreadable: number;
}

/**
 * The last seq the master logged per node incarnation (`boot`), for slaves
 * that ask for acks: what makes a resent message a duplicate rather than a
 * second log line, and what an ack acknowledges. It outlives connections, and
 * with {@link recover} a master restart too.
 */
export class SeqLedger {
  private readonly nodes = new Map<string, NodeEntry>();

  /** A hello of `node` in incarnation `boot`: the seq logged so far in it (0 for a new incarnation). */
  hello(node: string, boot: string): number {
    const entry = this.nodes.get(node);
    if (entry !== undefined && entry.boot === boot) return entry.lastSeq;
    this.nodes.set(node, { boot, lastSeq: 0 });
    return 0;
  }

  /** The highest seq logged of `node`'s current incarnation; 0 if none. */
  lastSeq(node: string): number {
    return this.nodes.get(node)?.lastSeq ?? 0;
  }

  /** Records `seq` of `node` (whose hello came first) when it is the next one. */
  record(node: string, seq: number): SeqVerdict {
    const entry = this.nodes.get(node);
    if (entry === undefined || seq === entry.lastSeq + 1) {
      if (entry !== undefined) entry.lastSeq = seq;
      return 'next';
    }
    return seq <= entry.lastSeq ? 'duplicate' : 'ahead';
  }

  /** The slave has none of the seqs up to `to` any more: the ones never logged, if any, are a gap. */
  skip(node: string, to: number): { from: number; to: number } | undefined {
    const entry = this.nodes.get(node);
    if (entry === undefined || to <= entry.lastSeq) return undefined;
    const from = entry.lastSeq + 1;
    entry.lastSeq = to;
    return { from, to };
  }

  /**
   * Reads back a log this master (or an earlier run of it) wrote in JSON
   * lines: the hellos that asked for acks, and the seqs and gaps logged on
   * their connections. Connection ids restart with every `listening` line.
   */
  async recover(file: string): Promise<Recovery> {
    const result: Recovery = { nodes: 0, lines: 0, unreadable: 0 };
    let ackedConns = new Set<number>();
    const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
    for await (const text of lines) {
      if (text === '') continue;
      result.lines += 1;
      let line: Record<string, unknown>;
      try {
        line = JSON.parse(text) as Record<string, unknown>;
      } catch {
        result.unreadable += 1;
        continue;
      }
      if (typeof line !== 'object' || line === null) {
        result.unreadable += 1;
        continue;
      }
      const { event, node, conn } = line;
      if (event === 'listening') {
        ackedConns = new Set();
      } else if (typeof node === 'string' && typeof conn === 'number') {
        if (event === 'message' && line.type === 'hello' && line.acks === true && typeof line.boot === 'string') {
          ackedConns.add(conn);
          this.hello(node, line.boot);
        } else if (ackedConns.has(conn)) {
          // What was logged counts, even past lines lost to a torn or trimmed file.
          const seq = event === 'message' ? line.seq : event === 'gap' ? line.to : undefined;
          if (typeof seq === 'number') this.skip(node, seq);
        }
      }
    }
    result.nodes = this.nodes.size;
    return result;
  }
}
