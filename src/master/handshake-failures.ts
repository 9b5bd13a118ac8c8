import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Clock, Log } from '../common';
import type { MasterLogWrite } from '../protocol';
import { BurstCounter, type Burst } from './burst-counter';

/** After a `tls_error` line, further failures are counted for this long and logged as one line, in ms. */
export const HANDSHAKE_FAILURES_WINDOW_MS = 1000;

/** What is known of one failed handshake. */
interface Failure {
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
  private readonly bursts: BurstCounter<Failure>;

  constructor(log: Log<MasterLogWrite>, clock: Clock) {
    this.bursts = new BurstCounter(clock, HANDSHAKE_FAILURES_WINDOW_MS, (burst) => write(log, burst));
  }

  /** A handshake failed: Node's `tlsClientError` event. */
  record(error: NodeJS.ErrnoException, socket: Socket): void {
    const code = error.code ?? error.name;
    this.bursts.add(code, { code, remote: remoteOf(socket), reason: reasonOf(error) });
  }

  /**
   * Mutual TLS: the handshake went through, but the peer's certificate is
   * missing or not signed by the client CA. Codes as Node's: OpenSSL's for a
   * missing certificate, the verification's (`authorizationError`) otherwise.
   */
  refuseCertificate(socket: TLSSocket): void {
    const missing = Object.keys(socket.getPeerCertificate()).length === 0;
    const code = missing ? 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE' : String(socket.authorizationError);
    const reason = missing ? 'peer did not return a certificate' : 'client certificate refused';
    this.bursts.add(code, { code, remote: remoteOf(socket), reason });
  }

  /** Logs what is counted and not logged yet (the master is stopping). */
  stop(): void {
    this.bursts.flush();
  }
}

/** One `tls_error` line; the first failure's details stand for a burst's. */
function write(log: Log<MasterLogWrite>, { count, codes, first: { code, remote, reason } }: Burst<Failure>): void {
  log.write({
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

/**
 * The peer's `address:port`, as `connect` lines show it; unknown once the
 * peer has closed (Node no longer has the address of a closed socket).
 */
export function remoteOf(socket: Socket): string | undefined {
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
