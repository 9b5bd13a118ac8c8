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
 */
export class Outbox {
  private items: Unacked[] = [];
  /** Index of the oldest kept item in `items`; the array is compacted lazily. */
  private head = 0;

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.items.length - this.head;
  }

  /** Keeps `message`; returns the message dropped to make room, if any. */
  push(message: Unacked): Unacked | undefined {
    let dropped: Unacked | undefined;
    if (this.size >= this.capacity) dropped = this.items[this.head++];
    this.items.push(message);
    this.compact();
    return dropped;
  }

  /** Forgets every message up to `seq` (a cumulative ack). */
  ack(seq: number): void {
    while (this.head < this.items.length && this.items[this.head]!.seq <= seq) this.head += 1;
    this.compact();
  }

  /** The kept messages, oldest first. */
  pending(): readonly Unacked[] {
    return this.items.slice(this.head);
  }

  clear(): void {
    this.items = [];
    this.head = 0;
  }

  private compact(): void {
    if (this.head === this.items.length) this.clear();
    else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}
