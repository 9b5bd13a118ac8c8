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

/** One entry as a checkpoint stores it: node id, incarnation, last seq. */
export type LedgerEntry = readonly [node: string, boot: string, lastSeq: number];

/**
 * The last seq the master logged per node incarnation (`boot`), for slaves
 * that ask for acks: what makes a resent message a duplicate rather than a
 * second log line, and what an ack acknowledges. It outlives connections, and
 * with a recovery (see `ledger-recovery.ts`) a master restart too.
 *
 * At most `maxNodes` entries: a new node id beyond that evicts the least
 * recently active id that has no open connection. The Map's insertion order
 * is the recency order; an entry moves to the end when its node says hello
 * and when its connection closes, never per message, so `record()` costs no
 * more than a lookup. An id with an open connection ("open") is never
 * evicted: its session relies on its entry for every message.
 */
export class SeqLedger {
  private readonly nodes = new Map<string, NodeEntry>();
  /** Node ids with an open connection: never evicted. */
  private readonly open = new Set<string>();

  /**
   * @param maxNodes most entries kept, unless every entry is open (then the
   *   open ones stay, and the cap is exceeded by at most the open connections).
   * @param onEvict told of each entry evicted.
   */
  constructor(
    readonly maxNodes = Infinity,
    private readonly onEvict: () => void = () => undefined,
  ) {}

  /** Entries kept. */
  get size(): number {
    return this.nodes.size;
  }

  /** A hello of `node` in incarnation `boot`: the seq logged so far in it (0 for a new incarnation). */
  hello(node: string, boot: string): number {
    const entry = this.nodes.get(node);
    if (entry === undefined) {
      this.insert(node, { boot, lastSeq: 0 });
      return 0;
    }
    this.touch(node, entry);
    if (entry.boot === boot) return entry.lastSeq;
    entry.boot = boot;
    entry.lastSeq = 0;
    return 0;
  }

  /** The highest seq logged of `node`'s current incarnation; 0 if none. */
  lastSeq(node: string): number {
    return this.nodes.get(node)?.lastSeq ?? 0;
  }

  /** The incarnation `node`'s entry is for, if it has one. */
  bootOf(node: string): string | undefined {
    return this.nodes.get(node)?.boot;
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
   * A log line says seqs up to `seq` of incarnation `boot` were logged. Only
   * for that incarnation: when a log is read again from an earlier point
   * (a checkpoint's offset), a line of an older incarnation may come after
   * the state of a newer one, and must not raise it.
   */
  replayed(node: string, boot: string, seq: number): void {
    const entry = this.nodes.get(node);
    if (entry !== undefined && entry.boot === boot && seq > entry.lastSeq) entry.lastSeq = seq;
  }

  /** `node` has an open connection: its entry must stay. */
  opened(node: string): void {
    this.open.add(node);
  }

  /** `node`'s connection closed: it was active until now, so it becomes the most recent entry. */
  closed(node: string): void {
    this.open.delete(node);
    const entry = this.nodes.get(node);
    if (entry !== undefined) this.touch(node, entry);
  }

  /** No connection is open any more (a new master run). */
  closeAll(): void {
    this.open.clear();
  }

  /** Adds an entry read from a checkpoint, as the most recent one. */
  restore(node: string, boot: string, lastSeq: number): void {
    const entry = this.nodes.get(node);
    if (entry !== undefined) this.nodes.delete(node);
    this.insert(node, { boot, lastSeq });
  }

  /** Forgets everything (a checkpoint found unusable half-way through). */
  clear(): void {
    this.nodes.clear();
    this.open.clear();
  }

  /** Every entry, least recently active first: the order {@link restore} rebuilds. */
  *entries(): IterableIterator<LedgerEntry> {
    for (const [node, { boot, lastSeq }] of this.nodes) yield [node, boot, lastSeq];
  }

  private touch(node: string, entry: NodeEntry): void {
    this.nodes.delete(node);
    this.nodes.set(node, entry);
  }

  private insert(node: string, entry: NodeEntry): void {
    if (this.nodes.size >= this.maxNodes) this.evictOne();
    this.nodes.set(node, entry);
  }

  /**
   * Evicts the least recently active entry without an open connection. Open
   * ones met on the way move to the end: they are active, and the next
   * eviction must not walk past them again (amortized O(1) per insertion).
   * When every entry is open, none is evicted.
   */
  private evictOne(): void {
    let left = this.nodes.size;
    for (const [node, entry] of this.nodes) {
      if (left-- === 0) return;
      this.nodes.delete(node);
      if (!this.open.has(node)) {
        this.onEvict();
        return;
      }
      this.nodes.set(node, entry);
    }
  }
}
