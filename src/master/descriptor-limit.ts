import { readFileSync } from 'node:fs';

/**
 * Descriptors a master keeps for itself beyond its connections: stdio, the
 * log file, the listening and health sockets, libuv's own (epoll, signals,
 * the thread pool's pipes), with room to spare.
 */
export const RESERVED_DESCRIPTORS = 64;

/**
 * The process's soft limit on open files, from `/proc/self/limits` (Linux);
 * undefined where that file is not there or says `unlimited`.
 */
export function openFilesLimit(
  read: (file: string) => string = (file) => readFileSync(file, 'utf8'),
): number | undefined {
  let text: string;
  try {
    text = read('/proc/self/limits');
  } catch {
    return undefined;
  }
  const soft = /^Max open files\s+(\d+)/m.exec(text)?.[1];
  return soft === undefined ? undefined : Number(soft);
}

/**
 * How many connections the master can take: its option, lowered to what the
 * descriptor limit leaves. Past the descriptor limit the kernel's accept
 * fails and libuv closes the connection unseen; below it Node refuses it with
 * a `drop` event, which the master logs.
 */
export function connectionLimit(maxConnections: number, openFiles: number | undefined): number {
  if (openFiles === undefined) return maxConnections;
  return Math.max(1, Math.min(maxConnections, openFiles - RESERVED_DESCRIPTORS));
}

/** Node's and the kernel's ceiling on a listen backlog (a 16-bit field in older kernels). */
export const MAX_ACCEPT_BACKLOG = 65_535;

/**
 * The listen backlog for `maxConnections`: room for every slave of a full
 * cluster to connect at once (a master restart brings them all back within
 * the reconnect backoff), at least Node's default of 511. The kernel caps it
 * at `net.core.somaxconn` (4096 on current Linux): beyond that, a SYN that
 * finds the queue full is retried by the client a second later, which the
 * reconnect allowance covers.
 */
export function acceptBacklog(maxConnections: number): number {
  return Math.min(MAX_ACCEPT_BACKLOG, Math.max(511, maxConnections));
}
