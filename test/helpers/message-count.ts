import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseJsonLine, type LogLine } from './json-lines';

/** What an independent count of a run's messages found: each a `node boot seq` key. */
export interface MessageCount {
  /** Messages the slaves sent (each key once, however often it was resent). */
  sent: number;
  /** Sent, never logged by the master. */
  missing: string[];
  /** Logged by the master more than once. */
  duplicated: string[];
  /** Logged by the master, never sent. */
  unexpected: string[];
}

function linesOf(file: string): LogLine[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((text) => parseJsonLine(text))
    .filter((line): line is LogLine => line !== undefined);
}

/**
 * Counts a run directory's messages without the checker: every slave's
 * `sent` lines with a seq (its boot from its process's `starting` line)
 * against the master's `message` lines with a seq (their boot from their
 * connection's hello; connection numbers start again with each master
 * incarnation, at its `listening` line).
 */
export function countMessages(runDir: string): MessageCount {
  const sent = new Set<string>();
  for (const file of readdirSync(runDir).filter((name) => /^slave-\d+\.jsonl$/.test(name))) {
    let boot = '';
    for (const line of linesOf(join(runDir, file))) {
      if (line.event === 'starting') boot = String(line.boot);
      if (line.event === 'sent' && typeof line.seq === 'number') sent.add(`${String(line.node)} ${boot} ${line.seq}`);
    }
  }
  const logged = new Map<string, number>();
  const bootOfConn = new Map<number, string>();
  for (const line of linesOf(join(runDir, 'master.jsonl'))) {
    if (line.event === 'listening') bootOfConn.clear();
    if (line.event !== 'message' || typeof line.conn !== 'number') continue;
    if (line.type === 'hello' && typeof line.boot === 'string') bootOfConn.set(line.conn, line.boot);
    if (typeof line.seq !== 'number') continue;
    const key = `${String(line.node)} ${bootOfConn.get(line.conn) ?? '?'} ${line.seq}`;
    logged.set(key, (logged.get(key) ?? 0) + 1);
  }
  return {
    sent: sent.size,
    missing: [...sent].filter((key) => !logged.has(key)),
    duplicated: [...logged].filter(([, n]) => n > 1).map(([key]) => key),
    unexpected: [...logged.keys()].filter((key) => !sent.has(key)),
  };
}
