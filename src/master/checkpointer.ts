import { stat } from 'node:fs/promises';
import type { Clock, TimerHandle } from '../common';
import { writeCheckpoint, type LedgerSnapshot } from './checkpoint';

/** How often the log's size is looked at, in ms (one `stat` a second). */
const POLL_MS = 1000;

export interface CheckpointerOptions {
  /** A checkpoint is written once the log grew at all and this long passed since the last, in ms. */
  intervalMs: number;
  /** A checkpoint is written as soon as the log grew this many bytes since the last one. */
  bytes: number;
}

/**
 * Keeps the ledger's checkpoint close behind its log: what bounds a
 * restart's reading to the log's last few megabytes, however old the log.
 * One written at start, then one whenever the log grew by `bytes` (the bound
 * on what a restart reads) or grew at all in `intervalMs`, and a last one
 * at stop. One write at a time; a failed one is reported and retried after
 * `intervalMs`, not at every poll.
 */
export class Checkpointer {
  private timer: TimerHandle | undefined;
  private writing: Promise<void> | undefined;
  /** The log size the last checkpoint covers. */
  private covered = -1;
  private lastAt: number;
  private retryAt = 0;
  private stopped = false;

  constructor(
    private readonly logFile: string,
    private readonly clock: Clock,
    private readonly options: CheckpointerOptions,
    private readonly snapshot: () => LedgerSnapshot,
    private readonly onError: (err: NodeJS.ErrnoException) => void,
  ) {
    this.lastAt = clock.now();
  }

  /** Writes a checkpoint now and keeps them coming. */
  start(): void {
    void this.write().then(() => this.arm());
  }

  /** Stops the polling and writes a last checkpoint, once the one under way (if any) is done. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    await this.writing;
    await this.write();
  }

  /** Writes a checkpoint unless one is being written: resolves when that one is done. */
  write(): Promise<void> {
    this.writing ??= writeCheckpoint(this.logFile, this.snapshot)
      .then(
        (covered) => {
          this.covered = covered;
          this.lastAt = this.clock.now();
        },
        (err: NodeJS.ErrnoException) => {
          this.retryAt = this.clock.now() + this.options.intervalMs;
          // A log file not created yet (nothing logged) needs no checkpoint.
          if (err.code !== 'ENOENT') this.onError(err);
        },
      )
      .finally(() => (this.writing = undefined));
    return this.writing;
  }

  private arm(): void {
    if (this.stopped) return;
    this.timer = this.clock.setTimeout(() => void this.poll(), Math.min(POLL_MS, this.options.intervalMs));
    this.timer.unref?.();
  }

  private async poll(): Promise<void> {
    try {
      const now = this.clock.now();
      if (now < this.retryAt) return;
      const grown = (await stat(this.logFile)).size - this.covered;
      if (this.stopped) return;
      if (grown >= this.options.bytes || (grown > 0 && now - this.lastAt >= this.options.intervalMs)) {
        await this.write();
      }
    } catch {
      // The log file gone (rotated away, not yet re-created): the next poll looks again.
    } finally {
      this.arm();
    }
  }
}
