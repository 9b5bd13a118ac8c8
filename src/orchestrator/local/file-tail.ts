import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

/** Bytes read from the file per `readSync`. */
const TAIL_CHUNK_BYTES = 256 * 1024;

/**
 * The lines another process appends to a file, read a call at a time: what
 * `tail -f` does. Only whole lines are returned; the start of one still being
 * written waits for its newline. Split on the newline byte, so a character
 * cut between two reads is never decoded in halves.
 */
export class FileTail {
  private fd: number | undefined;
  private pending: Buffer[] = [];

  constructor(
    private readonly file: string,
    /** The byte offset to read from. */
    private offset = 0,
  ) {}

  /** The whole lines appended since the last call, without their newlines; none while the file does not exist. */
  read(): string[] {
    if (this.fd === undefined) {
      try {
        this.fd = openSync(this.file, 'r');
      } catch {
        return [];
      }
    }
    const lines: string[] = [];
    const size = fstatSync(this.fd).size;
    const chunk = Buffer.alloc(Math.min(TAIL_CHUNK_BYTES, Math.max(0, size - this.offset)));
    while (this.offset < size) {
      const n = readSync(this.fd, chunk, 0, Math.min(chunk.length, size - this.offset), this.offset);
      if (n === 0) break;
      this.offset += n;
      let start = 0;
      for (let nl = chunk.indexOf(0x0a); nl !== -1 && nl < n; nl = chunk.indexOf(0x0a, start)) {
        lines.push(Buffer.concat([...this.pending, chunk.subarray(start, nl)]).toString('utf8'));
        this.pending = [];
        start = nl + 1;
      }
      // A copy: the chunk is overwritten by the next read.
      if (start < n) this.pending.push(Buffer.from(chunk.subarray(start, n)));
    }
    return lines;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
