import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Clock, Log, TimerHandle } from '../common';

/** After a `tls_error` line, further failures are counted for this long and logged as one line, in ms. */
export const HANDSHAKE_FAILURES_WINDOW_MS = 1000;

/** Failures counted since the last `tls_error` line; the first one's details stand for them all. */
interface Pending {
  count: number;
  codes: Record<string, number>;
  code: string;
  remote: string | undefined;
  reason: string;
}

/**
 * The `tls_error` lines of a TLS master. A failed handshake never becomes a
 * session (no `connect`/`disconnect` pair), so this is its only trace. The
 * first failure after a quiet window is logged at once; any that follow
 * within the window are counted into one line at its end, so a peer that
 * fails hundreds of handshakes a second costs one line a second.
 */
export class HandshakeFailures {
  private pending: Pending | undefined;
  private timer: TimerHandle | undefined;

  constructor(
    private readonly log: Log,
    private readonly clock: Clock,
  ) {}

  /** A handshake failed: Node's `tlsClientError` event. */
  record(error: NodeJS.ErrnoException, socket: Socket): void {
    this.count(error.code ?? error.name, remoteOf(socket), reasonOf(error));
  }

  /**
   * Mutual TLS: the handshake went through, but the peer's certificate is
   * missing or not signed by the client CA. Codes as Node's: OpenSSL's for a
   * missing certificate, the verification's (`authorizationError`) otherwise.
   */
  refuseCertificate(socket: TLSSocket): void {
    const missing = Object.keys(socket.getPeerCertificate()).length === 0;
    const code = missing ? 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE' : String(socket.authorizationError);
    this.count(code, remoteOf(socket), missing ? 'peer did not return a certificate' : 'client certificate refused');
  }

  private count(code: string, remote: string | undefined, reason: string): void {
    const pending = (this.pending ??= { count: 0, codes: {}, code, remote, reason });
    pending.count += 1;
    pending.codes[code] = (pending.codes[code] ?? 0) + 1;
    if (this.timer === undefined) this.flush();
  }

  /** Logs what is counted and not logged yet (the master is stopping), and closes the window. */
  stop(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending !== undefined) this.write(this.pending);
    this.pending = undefined;
  }

  /** Logs what is pending and opens a window; a window that ends with nothing counted closes. */
  private flush(): void {
    const pending = this.pending;
    this.pending = undefined;
    this.timer = undefined;
    if (pending === undefined) return;
    this.write(pending);
    this.timer = this.clock.setTimeout(() => this.flush(), HANDSHAKE_FAILURES_WINDOW_MS);
    this.timer.unref?.();
  }

  private write({ count, codes, code, remote, reason }: Pending): void {
    this.log.write({
      event: 'tls_error',
      level: 'warn',
      message:
        count === 1
          ? `TLS handshake failed (${code}): ${reason}`
          : `${count} TLS handshakes failed (${Object.entries(codes)
              .map(([name, n]) => `${name} ×${n}`)
              .join(', ')})`,
      code,
      remote,
      count,
      codes: count === 1 ? undefined : codes,
    });
  }
}

/**
 * The peer's `address:port`, as `connect` lines show it; unknown once the
 * peer has closed (Node no longer has the address of a closed socket).
 */
function remoteOf(socket: Socket): string | undefined {
  if (socket.remoteAddress === undefined) return undefined;
  // An IPv4 peer of a dual-stack listener shows up as ::ffff:a.b.c.d; people expect a.b.c.d.
  return `${socket.remoteAddress.replace(/^::ffff:/, '')}:${socket.remotePort ?? 0}`;
}

/**
 * OpenSSL's short reason ("wrong version number") rather than its message,
 * which carries an error queue with source file names.
 */
function reasonOf(error: Error): string {
  const reason = (error as { reason?: unknown }).reason;
  return typeof reason === 'string' ? reason : (error.message.split('\n')[0] ?? '');
}
