import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rename, stat, unlink } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { CheckpointRejection } from '../protocol';
import type { LedgerEntry, SeqLedger } from './ledger';

/**
 * The ledger's checkpoint: a snapshot of its entries written beside the log
 * (`<log file>.ledger`), so that a restart reads only the log's bytes after
 * the point it covers instead of the whole log.
 *
 * Format, JSON lines: a header ({@link CheckpointHeader}), one
 * `[node, boot, lastSeq]` array per entry, least recently active first, and
 * a trailer `{"end": <entries>}` whose absence marks a torn file.
 */
export const CHECKPOINT_VERSION = 1;

/** The checkpoint of a log file: beside it, so a volume that keeps the log keeps it too. */
export function checkpointFileOf(logFile: string): string {
  return `${logFile}.ledger`;
}

/** How many of the log's first bytes identify it (they never change in an append-only file). */
const HEAD_BYTES = 4096;

/** Entries per string handed to the file: few writes, no one string the size of the whole file. */
const ENTRIES_PER_CHUNK = 2000;

/** A connection open and acking when the checkpoint was taken: conn id, node, boot. */
export type OpenConn = readonly [conn: number, node: string, boot: string];

export interface CheckpointHeader {
  picluster_ledger: typeof CHECKPOINT_VERSION;
  /** The log's size when the snapshot was taken: every line before it is in the snapshot. */
  log_bytes: number;
  /** The log's first `head_bytes` bytes hash to `head_sha256`: this log and not another. */
  head_bytes: number;
  head_sha256: string;
  nodes: number;
  /**
   * Acking connections open at the snapshot: their lines after `log_bytes`
   * must still count. Connection ids restart with every master run, so
   * `log_bytes` must lie after the `listening` line of the run that took the
   * checkpoint: then every line before the next `listening` is of this run.
   */
  conns: OpenConn[];
}

/** What the master hands over, synchronously, once the log's size is known. */
export interface LedgerSnapshot {
  entries: Iterable<LedgerEntry>;
  conns: OpenConn[];
}

async function headHash(logFile: string, bytes: number): Promise<string> {
  const handle = await open(logFile, 'r');
  try {
    const buffer = Buffer.alloc(bytes);
    const { bytesRead } = await handle.read(buffer, 0, bytes, 0);
    return createHash('sha256').update(buffer.subarray(0, bytesRead)).digest('hex');
  } finally {
    await handle.close();
  }
}

/**
 * Writes a checkpoint of `logFile`: its size first, then the snapshot. Log
 * lines are written after the state they record changed, so every line in
 * the file at that size is already in the snapshot; lines after the size may
 * be in it too, and reading them again is harmless (see `ledger-recovery.ts`).
 * Written to a temporary file, synced, then renamed over the old one: a crash
 * leaves the old checkpoint or the new one, never half of one.
 * Resolves with the log size it covers.
 */
export async function writeCheckpoint(logFile: string, snapshot: () => LedgerSnapshot): Promise<number> {
  const { size } = await stat(logFile);
  // Nothing may be awaited between the size and the snapshot: the state must not fall behind the size.
  const { entries, conns } = snapshot();
  const chunks: string[] = [];
  let lines: string[] = [];
  let nodes = 0;
  for (const [node, boot, lastSeq] of entries) {
    lines.push(`[${JSON.stringify(node)},${JSON.stringify(boot)},${lastSeq}]\n`);
    nodes += 1;
    if (lines.length === ENTRIES_PER_CHUNK) {
      chunks.push(lines.join(''));
      lines = [];
    }
  }
  chunks.push(lines.join('') + JSON.stringify({ end: nodes }) + '\n');
  const headBytes = Math.min(size, HEAD_BYTES);
  const header: CheckpointHeader = {
    picluster_ledger: CHECKPOINT_VERSION,
    log_bytes: size,
    head_bytes: headBytes,
    head_sha256: await headHash(logFile, headBytes),
    nodes,
    conns,
  };
  const file = checkpointFileOf(logFile);
  const temporary = `${file}.tmp`;
  const handle = await open(temporary, 'w');
  try {
    await handle.write(JSON.stringify(header) + '\n');
    for (const chunk of chunks) await handle.write(chunk);
    await handle.sync();
  } catch (err) {
    await handle.close();
    await unlink(temporary).catch(() => undefined);
    throw err;
  }
  await handle.close();
  await rename(temporary, file);
  return size;
}

/** Why a checkpoint was not used; the log is then read from its start (the `recovered` line's `checkpoint_ignored`). */
export type { CheckpointRejection };

export type CheckpointLoad =
  { used: true; logBytes: number; conns: OpenConn[] } | { used: false; reason: CheckpointRejection | undefined };

function isHeader(value: unknown): value is CheckpointHeader {
  const header = value as Partial<CheckpointHeader> | null;
  return (
    typeof header === 'object' &&
    header !== null &&
    Number.isSafeInteger(header.log_bytes) &&
    Number.isSafeInteger(header.head_bytes) &&
    typeof header.head_sha256 === 'string' &&
    Number.isSafeInteger(header.nodes) &&
    Array.isArray(header.conns) &&
    header.conns.every(
      (c) => Array.isArray(c) && Number.isSafeInteger(c[0]) && typeof c[1] === 'string' && typeof c[2] === 'string',
    )
  );
}

function isEntry(value: unknown): value is LedgerEntry {
  return (
    Array.isArray(value) &&
    value.length === 3 &&
    typeof value[0] === 'string' &&
    typeof value[1] === 'string' &&
    Number.isSafeInteger(value[2]) &&
    (value[2] as number) >= 0
  );
}

/** Whether a header is of this log file, as it was when the checkpoint was taken, or why not. */
async function matchLog(header: CheckpointHeader, logFile: string): Promise<CheckpointRejection | undefined> {
  const { size } = await stat(logFile);
  if (size < header.log_bytes) return 'log_truncated';
  if ((await headHash(logFile, header.head_bytes)) !== header.head_sha256) return 'log_replaced';
  return undefined;
}

/**
 * Loads the checkpoint of `logFile` into `ledger` (empty, at start-up), if
 * there is one, it is whole, and it was taken of this very log: not of a file
 * since replaced, truncated or rotated. Entries go straight into the ledger,
 * so loading needs little more memory than the entries; on a torn file they
 * are cleared again.
 */
export async function loadCheckpoint(logFile: string, ledger: SeqLedger): Promise<CheckpointLoad> {
  const input = createReadStream(checkpointFileOf(logFile));
  const lines = createInterface({ input, crlfDelay: Infinity });
  let header: CheckpointHeader | undefined;
  let restored = 0;
  let ended = false;
  const reject = (reason: CheckpointRejection): CheckpointLoad => {
    ledger.clear();
    return { used: false, reason };
  };
  try {
    for await (const text of lines) {
      const value = JSON.parse(text) as unknown;
      if (header === undefined) {
        if ((value as Partial<CheckpointHeader> | null)?.picluster_ledger !== CHECKPOINT_VERSION) {
          return reject('version');
        }
        if (!isHeader(value)) return reject('unreadable');
        header = value;
        const mismatch = await matchLog(header, logFile);
        if (mismatch !== undefined) return reject(mismatch);
      } else if (isEntry(value) && !ended) {
        ledger.restore(value[0], value[1], value[2]);
        restored += 1;
      } else if (!ended && (value as { end?: unknown } | null)?.end === restored) {
        ended = true;
      } else {
        return reject('unreadable');
      }
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { used: false, reason: undefined };
    if (err instanceof SyntaxError) return reject('torn');
    throw err;
  } finally {
    lines.close();
    input.destroy();
  }
  if (header === undefined || !ended || restored !== header.nodes) return reject('torn');
  return { used: true, logBytes: header.log_bytes, conns: header.conns };
}
