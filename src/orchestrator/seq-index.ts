/**
 * Where each seq of a slave process sits among its `sent` lines, in memory
 * proportional to the breaks in its numbering rather than to its messages.
 *
 * A process numbers its messages 1, 2, 3 … and writes their `sent` lines in
 * that order, so its seqs are one run (or a few, where a line was lost): a
 * run is kept as its first seq and first position, and a seq is found by a
 * binary search over runs. A log whose seqs go back (doctored, or a slave
 * gone wrong) falls back to a map from seq to position: exact, at the old
 * price, for the logs that need it.
 */
export class SeqIndex {
  /** First seq of each run, ascending while {@link byMap} is undefined. */
  private readonly runSeq: number[] = [];
  /** Position of each run's first seq. */
  private readonly runPos: number[] = [];
  private count = 0;
  /** Set once a seq arrives out of ascending order; then the only index. */
  private byMap: Map<number, number> | undefined;
  /** With {@link byMap}: the seq at each position. */
  private seqs: number[] = [];

  /** How many seqs were added. */
  get size(): number {
    return this.count;
  }

  /** Adds `seq` at the next position and returns that position. The caller keeps seqs unique ({@link has}). */
  push(seq: number): number {
    const pos = this.count;
    this.count += 1;
    if (this.byMap !== undefined) {
      this.byMap.set(seq, pos);
      this.seqs.push(seq);
      return pos;
    }
    const last = this.runSeq.length - 1;
    if (last >= 0) {
      const lastSeq = (this.runSeq[last] as number) + (pos - (this.runPos[last] as number)) - 1;
      if (seq === lastSeq + 1) return pos;
      if (seq <= lastSeq) {
        this.byMap = this.toMap(pos);
        this.byMap.set(seq, pos);
        this.seqs.push(seq);
        return pos;
      }
    }
    this.runSeq.push(seq);
    this.runPos.push(pos);
    return pos;
  }

  /** Position of `seq`, or -1 when it was never added. */
  positionOf(seq: number): number {
    if (this.byMap !== undefined) return this.byMap.get(seq) ?? -1;
    const run = this.runAtOrBelow(seq, this.runSeq);
    if (run < 0) return -1;
    const pos = (this.runPos[run] as number) + (seq - (this.runSeq[run] as number));
    return pos < this.runEnd(run) ? pos : -1;
  }

  has(seq: number): boolean {
    return this.positionOf(seq) >= 0;
  }

  /** The seq at `pos` (0 ≤ pos < size). */
  seqAt(pos: number): number {
    if (this.byMap !== undefined) return this.seqs[pos] as number;
    const run = this.runAtOrBelow(pos, this.runPos);
    return (this.runSeq[run] as number) + (pos - (this.runPos[run] as number));
  }

  /** Number of runs of consecutive seqs kept (without the fallback map). */
  get runs(): number {
    return this.byMap === undefined ? this.runSeq.length : this.byMap.size;
  }

  private runEnd(run: number): number {
    return run + 1 < this.runPos.length ? (this.runPos[run + 1] as number) : this.count;
  }

  /** Index of the last run whose start in `starts` (ascending) is ≤ `value`; -1 if none. */
  private runAtOrBelow(value: number, starts: readonly number[]): number {
    let lo = 0;
    let hi = starts.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if ((starts[mid] as number) <= value) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found;
  }

  private toMap(upTo: number): Map<number, number> {
    const map = new Map<number, number>();
    for (let run = 0; run < this.runSeq.length; run += 1) {
      const end = run + 1 < this.runPos.length ? (this.runPos[run + 1] as number) : upTo;
      for (let pos = this.runPos[run] as number; pos < end; pos += 1) {
        const seq = (this.runSeq[run] as number) + (pos - (this.runPos[run] as number));
        map.set(seq, pos);
        this.seqs.push(seq);
      }
    }
    this.runSeq.length = 0;
    this.runPos.length = 0;
    return map;
  }
}
