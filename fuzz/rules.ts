/**
 * How the fuzzer judges a run: pure functions over what it measured, so each
 * rule can be read (and tested) on its own.
 */

/** An event-loop stall longer than this is a hang. */
export const STALL_LIMIT_MS = 1000;
/** Resident memory of the master above this is a finding at once. */
export const RSS_LIMIT_BYTES = 300 * 1024 * 1024;
/** Memory is judged after start-up and the first connections have settled. */
export const RSS_WARMUP_MS = 10_000;
/** The window whose lowest RSS is its floor: the floor ignores the short peaks a large frame makes. */
export const RSS_WINDOW_MS = 10_000;
/** Growth of the floor, first full window to last, that counts as unbounded. */
export const RSS_FLOOR_GROWTH_BYTES = 64 * 1024 * 1024;

const MiB = 1024 * 1024;
const mib = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`;

/**
 * One health probe: a connection to the master's health port, which the
 * master accepts and closes (FIN) in a turn of its event loop.
 */
export interface ProbeSample {
  /** From connect to the master's FIN, on the fuzzer's clock. */
  latencyMs: number;
  /** How late the fuzzer's own event loop ran in that time: its part of the latency. */
  ownLagMs: number;
  /** CPU time the master's main thread used in that time; undefined where /proc is missing. */
  masterCpuMs: number | undefined;
}

/**
 * The stall a probe shows: its latency less the fuzzer's own lag, and no more
 * than the CPU time the master's main thread spent meanwhile. A loop blocked
 * by the master's own work burns CPU the whole time; a master that merely
 * waited for a core (a busy machine) did not, and that wait is not its stall.
 */
export function stallMs(sample: ProbeSample): number {
  const waited = Math.max(0, sample.latencyMs - sample.ownLagMs);
  return sample.masterCpuMs === undefined ? waited : Math.min(waited, sample.masterCpuMs);
}

export interface RssSample {
  /** Since the run started. */
  atMs: number;
  bytes: number;
}

/** Whether one sample is over the bound; judged as each comes. */
export function rssOverLimit(sample: RssSample): string | undefined {
  return sample.bytes > RSS_LIMIT_BYTES
    ? `master RSS ${mib(sample.bytes)} at ${(sample.atMs / 1000).toFixed(1)} s, over ${mib(RSS_LIMIT_BYTES)}`
    : undefined;
}

/**
 * Sustained growth: after the warm-up, the floor (lowest sample) of the last
 * full window is more than {@link RSS_FLOOR_GROWTH_BYTES} above the floor of
 * the first. Needs two full windows: a run shorter than warm-up + 2 windows
 * is judged by {@link rssOverLimit} alone.
 */
export function rssGrowth(samples: readonly RssSample[]): string | undefined {
  const floors = new Map<number, number>();
  for (const { atMs, bytes } of samples) {
    if (atMs < RSS_WARMUP_MS) continue;
    const window = Math.floor((atMs - RSS_WARMUP_MS) / RSS_WINDOW_MS);
    floors.set(window, Math.min(floors.get(window) ?? Infinity, bytes));
  }
  const last = Math.max(...samples.map((s) => s.atMs));
  const full = [...floors.keys()].filter((w) => RSS_WARMUP_MS + (w + 1) * RSS_WINDOW_MS <= last).sort((a, b) => a - b);
  if (full.length < 2) return undefined;
  const first = floors.get(full[0]!)!;
  const final = floors.get(full[full.length - 1]!)!;
  return final - first > RSS_FLOOR_GROWTH_BYTES
    ? `master RSS floor grew from ${mib(first)} to ${mib(final)} over ${full.length} windows of ${RSS_WINDOW_MS / 1000} s`
    : undefined;
}

/** A parsed JSON log line. */
export type LogRecord = Record<string, unknown>;

/** Disconnect reasons of the good slave that only a master bug (or a frame naming its id) explains. */
const BAD_REASONS = new Set(['replaced', 'protocol_error', 'internal_error']);

export interface LostVerdict {
  problems: string[];
  /** What is not a finding but worth saying: a fuzz frame that named the good slave's id. */
  notes: string[];
}

function listSeqs(seqs: number[]): string {
  return seqs.length > 10 ? `${seqs.slice(0, 10).join(', ')}… (${seqs.length})` : seqs.join(', ');
}

/**
 * Lost good messages: every seq the good slave logged as `sent` is in the
 * master's `message` lines of its connections exactly once, except the last
 * ones its `stopped` line calls unacked (the master never had to have them),
 * which may be missing but not doubled; and no connection of the good slave
 * ended as `replaced`, `protocol_error` or `internal_error`. Its connections
 * are those whose hello carried its boot id. Should a fuzz frame have named
 * its id (look-alikes only are sent, so it is not expected), the duplicate and
 * disconnect rules are waived: such a frame takes the id over, by design.
 */
export function judgeGoodSlave(slave: readonly LogRecord[], master: readonly LogRecord[], goodId: string): LostVerdict {
  const problems: string[] = [];
  const notes: string[] = [];
  const boot = slave.find((l) => l.event === 'starting')?.boot;
  const stopped = slave.find((l) => l.event === 'stopped');
  if (stopped === undefined) problems.push('the good slave has no "stopped" line: it did not stop cleanly');
  const sent = slave.filter((l) => l.event === 'sent' && typeof l.seq === 'number').map((l) => l.seq as number);
  const unacked = typeof stopped?.unacked === 'number' ? stopped.unacked : 0;
  const mustHave = Math.max(0, ...sent) - unacked;

  const goodConns = new Set(
    master
      .filter((l) => l.event === 'message' && l.type === 'hello' && l.node === goodId && l.boot === boot)
      .map((l) => l.conn),
  );
  const foreign = new Set(
    master.filter((l) => l.node === goodId && l.event === 'message' && !goodConns.has(l.conn)).map((l) => l.conn),
  );
  if (foreign.size > 0) notes.push(`fuzz connections ${[...foreign].join(', ')} named the good slave's id`);

  const counts = new Map<number, number>();
  for (const line of master) {
    if (line.event === 'message' && goodConns.has(line.conn) && typeof line.seq === 'number') {
      counts.set(line.seq, (counts.get(line.seq) ?? 0) + 1);
    }
  }
  const sentSet = new Set(sent);
  const missing = sent.filter((seq) => seq <= mustHave && !counts.has(seq));
  const doubled = [...counts].filter(([, n]) => n > 1).map(([seq]) => seq);
  const unknown = [...counts.keys()].filter((seq) => !sentSet.has(seq));
  if (sent.length === 0) problems.push('the good slave sent nothing');
  if (missing.length > 0) problems.push(`good messages never logged: seq ${listSeqs(missing)}`);
  if (unknown.length > 0) problems.push(`logged for the good slave but never sent: seq ${listSeqs(unknown)}`);
  if (doubled.length > 0 && foreign.size === 0) problems.push(`good messages logged twice: seq ${listSeqs(doubled)}`);
  for (const line of master) {
    if (line.event === 'disconnect' && goodConns.has(line.conn) && BAD_REASONS.has(line.reason as string)) {
      if (foreign.size === 0 || line.reason !== 'replaced') {
        problems.push(`the good slave's connection ${String(line.conn)} ended: ${String(line.reason)}`);
      }
    }
  }
  return { problems, notes };
}
