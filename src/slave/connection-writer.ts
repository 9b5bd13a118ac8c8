import type { Clock, TimerHandle } from '../common';
import type { Outbox, Unacked } from './outbox';

/**
 * Bytes a connection's write buffer may hold before the slave stops writing
 * numbered messages into it: 64 KiB, some 500 heartbeats. What comes due
 * meanwhile waits in the outbox, which `maxUnacked` bounds, so the slave's
 * memory is bounded by the two whatever the master reads.
 */
export const MAX_BUFFERED_BYTES = 64 * 1024;

/** What the writer needs of a socket; a `net.Socket` (or a TLS one) has it. */
export interface WriteTarget {
  /** Bytes written and not yet taken by the kernel. */
  readonly writableLength: number;
  /** `callback` runs once the kernel has taken `data` (or the write failed). */
  write(data: string, callback: (error?: Error | null) => void): boolean;
}

/** What the writer reports; the slave logs it and decides what to do. */
export interface WriterHost {
  /** `message` was written again: a resend. */
  resent(message: Unacked): void;
  /** The write buffer holds `bufferedBytes`: messages from `seq` on wait until it drains. */
  held(seq: number, bufferedBytes: number): void;
  /** What waited is written: `written` messages went out after `heldMs`. */
  resumed(written: number, heldMs: number): void;
  /** The buffer held `bufferedBytes` and took nothing for `stalledMs`: the peer does not read. */
  stalled(stalledMs: number, bufferedBytes: number): void;
}

export interface ConnectionWriterOptions {
  /** Numbered messages wait while the write buffer holds this many bytes or more. */
  maxBufferedBytes: number;
  /** A write buffer that is not empty and takes nothing for this long is `stalled`, in ms. */
  stallTimeoutMs: number;
  /** Fire and forget (no acks): a message leaves the outbox once written, as nothing will ack it. */
  forgetWritten: boolean;
}

/**
 * The write side of one connection: writes the outbox's messages in seq order
 * from a cursor, no faster than the peer reads, and notices a peer that has
 * stopped reading.
 *
 * The outbox is the only queue: a message that cannot be written yet stays
 * there (it is already numbered, logged and, with acks, waiting for its ack)
 * and goes out when the socket drains, so a full buffer loses nothing the
 * outbox keeps and memory stays at most `maxUnacked` messages plus
 * `maxBufferedBytes`. A resend moves the cursor back; another one asked for
 * while it is being written, or the same one asked for again, is ignored, so a
 * master cannot make the slave write its outbox once per frame it sends.
 */
export class ConnectionWriter {
  /** Seq of the next numbered message to write; undefined: they wait (for the master's answer to hello). */
  private cursor: number | undefined;
  /** While a resend is being written: its last seq. */
  private resendUntil: number | undefined;
  /** Where the last resend the master asked for on this connection began. */
  private askedFrom: number | undefined;
  private ignored = 0;
  private heldSince: number | undefined;
  private writtenWhileHeld = 0;
  private lastTakenAt: number;
  private watching = false;
  /** The stall watchdog is off for good (a stopping slave). */
  private quiet = false;
  private stallTimer: TimerHandle | undefined;
  private closed = false;
  private readonly taken = (): void => {
    this.lastTakenAt = this.clock.now();
  };

  constructor(
    private readonly target: WriteTarget,
    private readonly outbox: Outbox,
    private readonly clock: Clock,
    private readonly options: ConnectionWriterOptions,
    private readonly host: WriterHost,
  ) {
    this.lastTakenAt = clock.now();
  }

  /** Resend requests ignored on this connection. */
  get ignoredResends(): number {
    return this.ignored;
  }

  /**
   * Whether a resend from `seq` may start; counted as ignored if not. Not
   * while one is being written: it would only write the same messages again.
   * Nor when the master `asked` for the very resend it asked for last: a
   * master asks once per gap, so a repeat is a flood or a bug.
   */
  mayResend(seq: number, asked: boolean): boolean {
    const may = this.resendUntil === undefined && !(asked && seq === this.askedFrom);
    if (!may) this.ignored += 1;
    return may;
  }

  /** Writes a frame without a seq (a hello, a skip): one per connection or per resend, never held. */
  writeFrame(frame: string): void {
    if (this.closed) return;
    this.target.write(frame, this.taken);
    this.watch();
  }

  /** Numbered messages may go, from `seq` on. */
  startAt(seq: number): void {
    this.cursor = seq;
    this.pump();
  }

  /** Writes again every kept message from `seq` on, once `mayResend` said it may; `asked`: by a resend request. */
  resendFrom(seq: number, asked: boolean): void {
    const last = this.outbox.last?.seq;
    this.resendUntil = last !== undefined && last >= seq ? last : undefined;
    if (asked) this.askedFrom = seq;
    this.startAt(seq);
  }

  /** The master has everything up to `seq`: a resend that ends there is over. */
  acked(seq: number): void {
    if (this.resendUntil !== undefined && this.resendUntil <= seq) this.resendUntil = undefined;
  }

  /** Writes what may go while the buffer has room; call it after a new message and on `drain`. */
  pump(): void {
    if (this.cursor === undefined || this.closed) return;
    while (this.target.writableLength < this.options.maxBufferedBytes) {
      const message = this.outbox.from(this.cursor);
      if (message === undefined) break;
      this.writeMessage(message);
    }
    this.trackHold();
    this.watch();
  }

  /** Stops watching for a stall; `pump()` still writes (a stopping slave has its own deadline). */
  quiesce(): void {
    this.quiet = true;
    this.cancelStallTimer();
  }

  /** The connection is gone: nothing more is written, no timer is left. */
  close(): void {
    this.closed = true;
    this.cancelStallTimer();
  }

  private writeMessage(message: Unacked): void {
    const until = this.resendUntil;
    if (until !== undefined && message.seq >= until) {
      // The resend is over once the kernel has taken its last message, not when it is queued:
      // a peer that does not read keeps it under way, and its further requests are ignored.
      this.target.write(message.frame, () => {
        this.taken();
        if (this.resendUntil === until) this.resendUntil = undefined;
      });
    } else {
      this.target.write(message.frame, this.taken);
    }
    this.cursor = message.seq + 1;
    if (message.seq <= this.outbox.written) this.host.resent(message);
    else this.outbox.markWritten(message.seq);
    if (this.options.forgetWritten) this.outbox.ack(message.seq);
    if (this.heldSince !== undefined) this.writtenWhileHeld += 1;
  }

  private trackHold(): void {
    const waiting = this.cursor !== undefined && this.outbox.from(this.cursor) !== undefined;
    if (waiting && this.heldSince === undefined) {
      this.heldSince = this.clock.now();
      this.writtenWhileHeld = 0;
      this.host.held(this.cursor!, this.target.writableLength);
    } else if (!waiting && this.heldSince !== undefined) {
      this.host.resumed(this.writtenWhileHeld, this.clock.now() - this.heldSince);
      this.heldSince = undefined;
    }
  }

  /** One timer while the buffer is not empty, re-armed for what is left; a `drain` is not needed. */
  private watch(): void {
    if (this.watching || this.quiet || this.closed || this.target.writableLength === 0) return;
    this.watching = true;
    this.lastTakenAt = this.clock.now();
    this.armStallTimer(this.options.stallTimeoutMs);
  }

  private armStallTimer(delayMs: number): void {
    this.stallTimer = this.clock.setTimeout(() => this.check(false), delayMs);
  }

  private check(confirming: boolean): void {
    this.stallTimer = undefined;
    if (this.closed || this.quiet) return;
    const buffered = this.target.writableLength;
    const stalledMs = this.clock.now() - this.lastTakenAt;
    if (buffered === 0) {
      this.watching = false;
    } else if (stalledMs < this.options.stallTimeoutMs) {
      this.armStallTimer(this.options.stallTimeoutMs - stalledMs);
    } else if (!confirming) {
      // Timers run before the event loop polls: after a stall of our own (GC, a burst of work)
      // the kernel may have taken bytes whose callbacks have not run. Judge once they have.
      this.clock.afterPendingIo(() => this.check(true));
    } else {
      this.host.stalled(stalledMs, buffered);
    }
  }

  private cancelStallTimer(): void {
    if (this.stallTimer !== undefined) this.clock.clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
  }
}
