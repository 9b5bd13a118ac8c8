/** A message kept until the master acks it. */
export interface Unacked {
  seq: number;
  type: string;
  /** The encoded frame, resent as it was first sent. */
  frame: string;
}

/**
 * The slave's unacked messages, oldest first, at most `capacity` of them:
 * pushing onto a full outbox drops the oldest, so memory stays bounded
 * whatever the master does (a seed master never acks).
 *
 * Seqs are pushed in increasing order. The outbox also remembers the highest
 * seq ever written to a connection (`written`): the kept messages after it have
 * never been on the wire, because the connection's write buffer was full.
 */
export class Outbox {
  private items: Unacked[] = [];
  /** Index of the oldest kept item in `items`; the array is compacted lazily. */
  private head = 0;
  private writtenUpTo = 0;

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.items.length - this.head;
  }

  /** The highest seq written to any connection so far (0: none). */
  get written(): number {
    return this.writtenUpTo;
  }

  /** Kept messages never written to any connection. */
  get unwritten(): number {
    return this.items.length - this.indexFrom(this.writtenUpTo + 1);
  }

  /** The newest kept message. */
  get last(): Unacked | undefined {
    return this.size > 0 ? this.items[this.items.length - 1] : undefined;
  }

  /** Keeps `message`; returns the message dropped to make room, if any. */
  push(message: Unacked): Unacked | undefined {
    let dropped: Unacked | undefined;
    if (this.size >= this.capacity) dropped = this.items[this.head++];
    this.items.push(message);
    this.compact();
    return dropped;
  }

  /** `seq` went out on a connection. */
  markWritten(seq: number): void {
    this.writtenUpTo = Math.max(this.writtenUpTo, seq);
  }

  /** Forgets every message up to `seq` (a cumulative ack); returns how many it forgot. */
  ack(seq: number): number {
    const before = this.head;
    while (this.head < this.items.length && this.items[this.head]!.seq <= seq) this.head += 1;
    const forgotten = this.head - before;
    this.compact();
    return forgotten;
  }

  /** The oldest kept message whose seq is `seq` or later. */
  from(seq: number): Unacked | undefined {
    return this.items[this.indexFrom(seq)];
  }

  /** The kept messages, oldest first. */
  pending(): readonly Unacked[] {
    return this.items.slice(this.head);
  }

  /** Forgets every kept message; `written` stays. */
  clear(): void {
    this.items = [];
    this.head = 0;
  }

  /** Index in `items` of the first kept message with a seq of at least `seq` (`items.length`: none). */
  private indexFrom(seq: number): number {
    let low = this.head;
    let high = this.items.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.items[middle]!.seq < seq) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  private compact(): void {
    if (this.head === this.items.length) this.clear();
    else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}
