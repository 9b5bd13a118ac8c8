/**
 * Many slaves per process on the local backend: which slaves run alone and
 * which share a `picluster slave --replicas` process (a pack), and the split
 * of a pack's output file into each slave's log once it has stopped.
 */
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { textLines } from '../run-logs';
import type { ScenarioEvent } from '../types';

/** Above this many slaves, the slaves no event targets are packed. */
export const DEFAULT_PACK_THRESHOLD = 50;
/** Most slaves in one pack. */
export const DEFAULT_PACK_SIZE = 1000;

/** How slaves are packed. */
export interface PackOptions {
  /** A scenario with more slaves than this packs the untargeted ones. Default {@link DEFAULT_PACK_THRESHOLD}. */
  packThreshold: number;
  /** Most slaves in one process. Default {@link DEFAULT_PACK_SIZE}. */
  packSize: number;
}

/**
 * One process of slaves: `alone`, a slave with a process and a fault proxy of
 * its own; `pack`, the slaves `<prefix>-<first>` … `<prefix>-<first+count-1>`
 * in one process, connected straight to the master.
 */
export type SlaveProcessPlan = { kind: 'alone'; name: string } | { kind: 'pack'; first: number; count: number };

/** The scenario name of slave `index` (1-based). */
export const slaveName = (index: number): string => `${SLAVE_PREFIX}-${index}`;
/** Slave names are `slave-<n>`: a pack runs `--id slave --replicas …`. */
export const SLAVE_PREFIX = 'slave';

/** The slaves some event acts on by name: each keeps a process (and a fault proxy) of its own. */
export function targetedSlaves(events: readonly ScenarioEvent[]): Set<string> {
  return new Set(events.filter((event) => event.target !== 'master').map((event) => event.target));
}

/**
 * The processes `slaves` slaves run in. Up to `packThreshold`, every slave
 * alone, as always. Above it, every targeted slave alone, and each run of
 * consecutive untargeted slaves in packs of at most `packSize`, in order.
 */
export function planSlaveProcesses(
  slaves: number,
  targeted: ReadonlySet<string>,
  options: PackOptions,
): SlaveProcessPlan[] {
  const indexes = Array.from({ length: slaves }, (_, i) => i + 1);
  if (slaves <= options.packThreshold) return indexes.map((index) => ({ kind: 'alone', name: slaveName(index) }));
  const plan: SlaveProcessPlan[] = [];
  let pack: { kind: 'pack'; first: number; count: number } | undefined;
  for (const index of indexes) {
    const name = slaveName(index);
    if (targeted.has(name)) {
      plan.push({ kind: 'alone', name });
      pack = undefined;
    } else if (pack !== undefined && pack.count < options.packSize) {
      pack.count += 1;
    } else {
      pack = { kind: 'pack', first: index, count: 1 };
      plan.push(pack);
    }
  }
  return plan;
}

/**
 * The slave logs the runner holds open at once: each lone slave's for the
 * whole run, and one pack's while it splits that pack's output at the end.
 */
export function slaveLogsOpenAtOnce(plan: readonly SlaveProcessPlan[]): number {
  const alone = plan.filter((entry) => entry.kind === 'alone').length;
  return alone + Math.max(0, ...plan.map((entry) => (entry.kind === 'pack' ? entry.count : 0)));
}

/** The names of a pack's slaves, in replica order. */
export function packNames(pack: { first: number; count: number }): string[] {
  return Array.from({ length: pack.count }, (_, i) => slaveName(pack.first + i));
}

/**
 * The run directory's file a pack writes its output to while it runs
 * (`slave-1001-2000.pack.jsonl`), split into its slaves' logs and removed
 * once it has stopped.
 */
export function packFileName(names: readonly string[]): string {
  return `${names[0]!}-${names[names.length - 1]!.slice(SLAVE_PREFIX.length + 1)}.pack.jsonl`;
}

const NODE_FIELD = ',"node":"';

/**
 * The `node` of a JSON log line, without parsing it all: our logger writes it
 * right after `message`, and `,"` cannot occur inside a JSON string (its
 * quotes are escaped), so the first `,"node":"` is the field. An id with an
 * escape in it is read by `JSON.parse`.
 */
export function nodeOfLine(line: string): string | undefined {
  const at = line.indexOf(NODE_FIELD);
  if (at < 0) return undefined;
  const start = at + NODE_FIELD.length;
  const end = line.indexOf('"', start);
  if (end < 0) return undefined;
  const node = line.slice(start, end);
  if (!node.includes('\\')) return node;
  try {
    const parsed = (JSON.parse(line) as { node?: unknown }).node;
    return typeof parsed === 'string' ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Splits a pack's lines into its slaves' logs: each line goes to the file of
 * the node it names, one write per file per batch. A line that names none of
 * them (not expected: every slave line names its node) goes to `fallback`, so
 * that nothing the process wrote is lost.
 */
export class LogSplitter {
  constructor(
    private readonly files: ReadonlyMap<string, Writable>,
    private readonly fallback: Writable,
  ) {}

  /** `lines`: whole lines, each ending with a newline. */
  write(lines: string): void {
    const batches = new Map<Writable, string>();
    let start = 0;
    while (start < lines.length) {
      let end = lines.indexOf('\n', start);
      if (end < 0) end = lines.length - 1;
      const line = lines.slice(start, end + 1);
      const node = nodeOfLine(line);
      const file = (node === undefined ? undefined : this.files.get(node)) ?? this.fallback;
      batches.set(file, (batches.get(file) ?? '') + line);
      start = end + 1;
    }
    for (const [file, text] of batches) file.write(text);
  }

  /** Resolves once every file has taken what it was given, as far as its buffer needs (`drain`). */
  async drained(): Promise<void> {
    const files = new Set([...this.files.values(), this.fallback]);
    await Promise.all([...files].filter((file) => file.writableNeedDrain).map((file) => once(file, 'drain')));
  }
}

/** Bytes of a pack's lines handed to the splitter at a time, by default (1 MiB). */
const SPLIT_BATCH_BYTES = 1024 * 1024;

/**
 * Splits a pack's output file, once the pack has stopped, into its slaves'
 * logs, a batch of lines at a time: memory stays a batch plus what the files
 * have not taken yet. A last line without its newline (a pack killed
 * mid-write) is kept as it is, ended.
 */
export async function splitPackFile(
  file: string,
  splitter: LogSplitter,
  batchBytes = SPLIT_BATCH_BYTES,
): Promise<void> {
  let batch = '';
  for (const { text } of textLines(file)) {
    batch += text + '\n';
    if (batch.length < batchBytes) continue;
    splitter.write(batch);
    batch = '';
    await splitter.drained();
  }
  if (batch !== '') splitter.write(batch);
  await splitter.drained();
}
