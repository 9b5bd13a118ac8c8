/**
 * Shrinking a failing fault schedule: delta debugging (Zeller's ddmin) over
 * its events, then moving the remaining events earlier, keeping a change only
 * when the schedule still fails the same way (QuickCheck's shrinking, on a
 * schedule that must be re-run to be judged).
 *
 * 1. Faults and their endings go together first: a `disconnect` and the
 *    `reconnect` that ends it (the action table's `endedBy`) are one unit, so
 *    removing the fault does not leave an ending that the scenario validator
 *    would refuse. ddmin removes chunks of units, halving the chunk size down
 *    to single units, and tries the empty schedule last.
 * 2. Then single events, the same way: an ending the failure does not need
 *    goes (a `kill` may stay without its `start`); a candidate the validator
 *    refuses (a `start` left without its `kill`) is skipped without a run.
 * 3. Times moved: each remaining event, in order, is tried at the time of
 *    the event before it (0 for the first), then halfway there (to 100 ms),
 *    then at its whole second; the first that still fails is kept.
 *
 * Candidates are judged once each (a cache by content); only judgements
 * count against `maxRuns`, never a skipped or cached candidate. Events are
 * kept whole (whatever fields a network action carries): only `atMs` is ever
 * changed, on a copy.
 *
 * Pure: the validator and the judge are given; no I/O, no clock, no
 * randomness, so the same judge gives the same result.
 */
import { ACTION_SPECS, type Action } from './actions';

/** What shrinking needs of an event: its time, its action and its target. */
export interface ShrinkableEvent {
  atMs: number;
  action: Action;
  target: string;
}

/** A judged candidate: whether its run failed, and the failure kind (compared as is). */
export interface ShrinkVerdict {
  failed: boolean;
  /** The failure kind of a failed run; anything else (e.g. `pass`) when it did not fail. */
  kind: string;
}

/** One judgement, as {@link ShrinkOptions.onRun} sees it. */
export interface ShrinkRun<E> {
  /** 1-based number of this judgement. */
  run: number;
  phase: 'remove' | 'move';
  events: readonly E[];
  verdict: ShrinkVerdict;
  /** It failed with the original kind: the candidate is the new smallest schedule. */
  kept: boolean;
}

export interface ShrinkOptions<E extends ShrinkableEvent> {
  /** The failing schedule, ordered by `atMs`. */
  events: readonly E[];
  /** The failure kind of the original run: a candidate is kept only when it fails with this kind. */
  kind: string;
  /** Whether a candidate is a valid scenario; an invalid one is skipped without a run. */
  validate: (events: readonly E[]) => boolean;
  /** Runs a candidate and judges it. */
  judge: (events: readonly E[]) => Promise<ShrinkVerdict>;
  /** Most judgements; at least 0. */
  maxRuns: number;
  /** Whether to move events earlier after removing what can go (step 3). Default true. */
  moveTimes?: boolean;
  /** Told of each judgement, once it is judged. */
  onRun?: (run: ShrinkRun<E>) => void;
}

export interface ShrinkResult<E> {
  /** The smallest failing schedule found (the original when nothing smaller failed the same way). */
  events: E[];
  /** Judgements made. */
  runs: number;
  /** Candidates skipped because the validator refused them. */
  skipped: number;
  /** Shrinking stopped at `maxRuns` with candidates left to try. */
  exhausted: boolean;
}

/** Thrown inside the search when the budget is spent; caught by {@link shrinkSchedule}. */
class BudgetSpent extends Error {}

/** Candidate times for moving an event earlier, earliest first, all before `atMs` and not before `floorMs`. */
export function earlierTimes(atMs: number, floorMs: number): number[] {
  const half = floorMs + Math.floor((atMs - floorMs) / 2 / 100) * 100;
  const second = Math.floor(atMs / 1000) * 1000;
  const times = [floorMs, half, second].filter((t) => t >= floorMs && t < atMs);
  return [...new Set(times)].sort((a, b) => a - b);
}

/**
 * The units of the first pass: each fault with the first later event on its
 * target that ends it (by the action table's `endedBy`), every other event
 * on its own; ordered by their first event.
 */
export function pairUnits<E extends ShrinkableEvent>(events: readonly E[]): E[][] {
  const taken = new Set<number>();
  const units: E[][] = [];
  events.forEach((event, i) => {
    if (taken.has(i)) return;
    taken.add(i);
    const unit = [event];
    const ending = ACTION_SPECS[event.action].endedBy;
    if (ending !== undefined) {
      const j = events.findIndex((e, k) => k > i && !taken.has(k) && e.target === event.target && e.action === ending);
      if (j >= 0) {
        taken.add(j);
        unit.push(events[j]!);
      }
    }
    units.push(unit);
  });
  return units;
}

/** `n` chunks of `items`, as even as can be, in order. */
function chunksOf<T>(items: readonly T[], n: number): T[][] {
  const chunks: T[][] = [];
  let start = 0;
  for (let i = 0; i < n; i += 1) {
    const end = start + Math.floor((items.length - start) / (n - i));
    chunks.push(items.slice(start, end));
    start = end;
  }
  return chunks.filter((chunk) => chunk.length > 0);
}

/** The search: the current schedule, the budget, the cache. */
class Shrinker<E extends ShrinkableEvent> {
  current: E[];
  runs = 0;
  skipped = 0;
  private readonly seen = new Map<string, boolean>();

  constructor(private readonly options: ShrinkOptions<E>) {
    this.current = [...options.events];
  }

  /** Whether `candidate` fails the same way; when it does, it becomes the current schedule. */
  async tryCandidate(candidate: E[], phase: ShrinkRun<E>['phase']): Promise<boolean> {
    const key = JSON.stringify(candidate);
    const known = this.seen.get(key);
    if (known !== undefined) return known;
    if (!this.options.validate(candidate)) {
      this.skipped += 1;
      this.seen.set(key, false);
      return false;
    }
    if (this.runs >= this.options.maxRuns) throw new BudgetSpent();
    this.runs += 1;
    const verdict = await this.options.judge(candidate);
    const kept = verdict.failed && verdict.kind === this.options.kind;
    this.seen.set(key, kept);
    if (kept) this.current = candidate;
    this.options.onRun?.({ run: this.runs, phase, events: candidate, verdict, kept });
    return kept;
  }

  /**
   * ddmin over `units` (groups of events of the current schedule): the
   * units a failure still needs. Tries each chunk alone, then each
   * chunk's complement; refines the chunks when neither fails.
   */
  async ddmin(units: E[][]): Promise<E[][]> {
    let kept = units;
    let n = 2;
    while (kept.length > 0) {
      const chunks = chunksOf(kept, Math.min(n, kept.length));
      const next = await this.reduce(kept, chunks);
      if (next !== undefined) {
        n = next.subset ? 2 : Math.max(n - 1, 2);
        kept = next.units;
        continue;
      }
      if (chunks.length >= kept.length) break;
      n = Math.min(2 * n, kept.length);
    }
    return kept;
  }

  /** One round of ddmin: the first chunk, or complement, that still fails. */
  private async reduce(units: E[][], chunks: E[][][]): Promise<{ units: E[][]; subset: boolean } | undefined> {
    if (chunks.length > 1) {
      for (const chunk of chunks) {
        if (await this.tryCandidate(this.restrict(chunk), 'remove')) return { units: chunk, subset: true };
      }
    }
    for (const chunk of chunks) {
      const rest = units.filter((unit) => !chunk.includes(unit));
      if (await this.tryCandidate(this.restrict(rest), 'remove')) return { units: rest, subset: false };
    }
    return undefined;
  }

  /** The current schedule with only the events of `units`, in its order. */
  private restrict(units: readonly E[][]): E[] {
    const keep = new Set(units.flat());
    return this.current.filter((event) => keep.has(event));
  }

  /** Moves each event, in order, to the earliest of its {@link earlierTimes} that still fails. */
  async moveEarlier(): Promise<void> {
    for (let i = 0; i < this.current.length; i += 1) {
      const event = this.current[i]!;
      const floorMs = i === 0 ? 0 : this.current[i - 1]!.atMs;
      for (const atMs of earlierTimes(event.atMs, floorMs)) {
        const candidate = [...this.current];
        candidate[i] = { ...event, atMs };
        if (await this.tryCandidate(candidate, 'move')) break;
      }
    }
  }
}

/**
 * Shrinks a failing schedule (see the module's comment): the smallest
 * schedule found that still fails with `options.kind`, within
 * `options.maxRuns` judgements.
 */
export async function shrinkSchedule<E extends ShrinkableEvent>(options: ShrinkOptions<E>): Promise<ShrinkResult<E>> {
  const shrinker = new Shrinker(options);
  let exhausted = false;
  try {
    await shrinker.ddmin(pairUnits(shrinker.current));
    await shrinker.ddmin(shrinker.current.map((event) => [event]));
    if (options.moveTimes !== false) await shrinker.moveEarlier();
  } catch (err) {
    if (!(err instanceof BudgetSpent)) throw err;
    exhausted = true;
  }
  return { events: shrinker.current, runs: shrinker.runs, skipped: shrinker.skipped, exhausted };
}
