/**
 * What the checker keeps of one slave process's `sent` lines, and of how
 * often the master logged each: columns of numbers instead of an object per
 * message. A soak run's slave sends millions of heartbeats; as objects (seq,
 * time, type, text, a count, a list of times) they took some 400 bytes each,
 * here 21: the time sent and the time first logged (8 bytes each, exact), an
 * id of the (type, text) pair (4; a slave repeats a handful of texts), a
 * count (1). The seq itself costs nothing while the numbering runs on
 * ({@link SeqIndex}). Only what a check must explain gets more: every time a
 * duplicated message was logged, a count beyond 254.
 */
import { SeqIndex } from './seq-index';

/** Entries per chunk: past its first chunk, a column grows a chunk at a time, never copying what it holds. */
const CHUNK = 1 << 16;

/**
 * Entries of a column's first chunk when made; it doubles (a copy) up to
 * {@link CHUNK}. A 10,000-slave run has 50,000 columns: full first chunks
 * would take 0.8 MB per slave however little it sent.
 */
const FIRST_CHUNK = 64;

type NumberArray = Float64Array | Int32Array | Uint8Array;

/** A growable column of numbers, in chunks of {@link CHUNK} (the first one smaller until it fills). */
class Column<T extends NumberArray> {
  private readonly chunks: T[] = [];

  constructor(private readonly make: (length: number) => T) {}

  /** 0 where nothing was set yet: a chunk is made only when written. */
  get(i: number): number {
    return this.chunks[Math.floor(i / CHUNK)]?.[i % CHUNK] ?? 0;
  }

  set(i: number, value: number): void {
    const c = Math.floor(i / CHUNK);
    const offset = i % CHUNK;
    if (this.chunks.length === 0) this.chunks.push(this.make(FIRST_CHUNK));
    const first = this.chunks[0] as T;
    if (first.length < CHUNK && (c > 0 || offset >= first.length)) {
      let length = c > 0 ? CHUNK : first.length * 2;
      while (length <= offset) length *= 2;
      const grown = this.make(Math.min(length, CHUNK));
      grown.set(first);
      this.chunks[0] = grown;
    }
    while (this.chunks.length <= c) this.chunks.push(this.make(CHUNK));
    (this.chunks[c] as T)[offset] = value;
  }
}

/** A (type, text) pair a slave sent, and the line the master must log for it. */
interface Content {
  type: string;
  text: string | undefined;
  /** `Received message: <text>`; undefined when the `sent` line had no text. */
  expected: string | undefined;
}

/** A message as the checks see it: one sent line. */
export interface SentView {
  seq: number;
  at: number;
  type: string;
  text: string | undefined;
}

/** Counts up to this live in the count column; beyond, in a map. */
const COUNT_CAP = 255;

/** One slave process's sent messages, in the order of its `sent` lines, addressed by position. */
export class SentLog {
  private readonly seqs = new SeqIndex();
  private readonly sentAt = new Column((n) => new Float64Array(n));
  private readonly contentId = new Column((n) => new Int32Array(n));
  /** For callers that keep the tally with the log; the checker keeps its own {@link LogTally}. */
  private readonly tally = new LogTally();
  private readonly contents: Content[] = [];
  private readonly contentIds = new Map<string, Map<string | undefined, number>>();

  get size(): number {
    return this.seqs.size;
  }

  has(seq: number): boolean {
    return this.seqs.has(seq);
  }

  /** Position of `seq`, or -1. */
  find(seq: number): number {
    return this.seqs.positionOf(seq);
  }

  /** Records a sent line; `seq` must not be in the log yet. */
  add(seq: number, at: number, type: string, text: string | undefined): void {
    const pos = this.seqs.push(seq);
    this.sentAt.set(pos, at);
    this.contentId.set(pos, this.contentOf(type, text));
  }

  seqAt(pos: number): number {
    return this.seqs.seqAt(pos);
  }

  sentAtOf(pos: number): number {
    return this.sentAt.get(pos);
  }

  view(pos: number): SentView {
    const content = this.contents[this.contentId.get(pos)] as Content;
    return { seq: this.seqAt(pos), at: this.sentAt.get(pos), type: content.type, text: content.text };
  }

  /** The master line a message must be logged with (`Received message: <text>`), undefined if any will do. */
  expectedText(pos: number): string | undefined {
    return (this.contents[this.contentId.get(pos)] as Content).expected;
  }

  typeOf(pos: number): string {
    return (this.contents[this.contentId.get(pos)] as Content).type;
  }

  /** How often the master logged it. */
  logCount(pos: number): number {
    return this.tally.logCount(pos);
  }

  /** The master's timestamps of each time it logged it, in log order. */
  loggedAt(pos: number): number[] {
    return this.tally.loggedAt(pos);
  }

  /** Counts one logging of it, at `at` (master time); returns how often it is logged now. */
  markLogged(pos: number, at: number): number {
    return this.tally.markLogged(pos, at);
  }

  private contentOf(type: string, text: string | undefined): number {
    let byText = this.contentIds.get(type);
    if (byText === undefined) {
      byText = new Map();
      this.contentIds.set(type, byText);
    }
    let id = byText.get(text);
    if (id === undefined) {
      id = this.contents.length;
      this.contents.push({ type, text, expected: text === undefined ? undefined : `Received message: ${text}` });
      byText.set(text, id);
    }
    return id;
  }
}

/**
 * How often the master logged each message of one {@link SentLog}, by
 * position, and when: kept apart from the log so that the phase that reads the
 * master's log owns what it counts. Costs nothing for positions never logged
 * beyond their chunk.
 */
export class LogTally {
  private readonly firstLoggedAt = new Column((n) => new Float64Array(n));
  private readonly counts = new Column((n) => new Uint8Array(n));
  private readonly bigCounts = new Map<number, number>();
  /** Every time a message logged more than once was logged, by position. */
  private readonly repeatTimes = new Map<number, number[]>();

  /** How often the master logged it. */
  logCount(pos: number): number {
    const count = this.counts.get(pos);
    return count < COUNT_CAP ? count : (this.bigCounts.get(pos) as number);
  }

  /** The master's timestamps of each time it logged it, in log order. */
  loggedAt(pos: number): number[] {
    const count = this.logCount(pos);
    if (count === 0) return [];
    return count === 1 ? [this.firstLoggedAt.get(pos)] : [...(this.repeatTimes.get(pos) as number[])];
  }

  /** The master's timestamp of the last time it logged it (log order); NaN when it never did. */
  lastLoggedAt(pos: number): number {
    const count = this.logCount(pos);
    if (count === 0) return NaN;
    return count === 1 ? this.firstLoggedAt.get(pos) : ((this.repeatTimes.get(pos) as number[]).at(-1) as number);
  }

  /** Counts one logging of it, at `at` (master time); returns how often it is logged now. */
  markLogged(pos: number, at: number): number {
    const count = this.logCount(pos) + 1;
    if (count === 1) this.firstLoggedAt.set(pos, at);
    else if (count === 2) this.repeatTimes.set(pos, [this.firstLoggedAt.get(pos), at]);
    else this.repeatTimes.get(pos)?.push(at);
    if (count >= COUNT_CAP) this.bigCounts.set(pos, count);
    this.counts.set(pos, Math.min(count, COUNT_CAP));
    return count;
  }
}
