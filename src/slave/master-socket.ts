import { connect, type Socket } from 'node:net';
import { TLSSocket, connect as connectTls } from 'node:tls';
import type { SlaveOptions } from './options';

/** Why a connection to the master failed, for the slave's `disconnected` line. */
export interface SocketFailure {
  /** The line's `reason`: `tls_error`, else the error's code (e.g. `ECONNREFUSED`) or text. */
  reason: string;
  /** With `tls_error`: the TLS error's code and text. */
  tls?: { code: string | undefined; error: string };
}

/** A TCP connection, or a TLS one that checks the master's certificate and that it names `masterHost`. */
export function openMasterSocket(options: SlaveOptions): Socket {
  const { masterHost: host, masterPort: port, tls } = options;
  if (tls === undefined) return connect({ host, port, noDelay: true });
  const socket = connectTls({ host, port, ca: tls.ca, cert: tls.cert, key: tls.key });
  socket.setNoDelay(true);
  return socket;
}

/** The `error` event of a connection to the master, as the `disconnected` line says it. */
export function failureOf(socket: Socket, error: NodeJS.ErrnoException): SocketFailure {
  if (!isTlsFailure(socket, error)) return { reason: error.code ?? error.message };
  const reason = (error as { reason?: unknown }).reason;
  return { reason: 'tls_error', tls: { code: error.code, error: typeof reason === 'string' ? reason : error.message } };
}

/**
 * The TLS layer failed, not the network: a master certificate this slave
 * refused (Node sets `authorizationError`), or an error of OpenSSL or of
 * Node's TLS checks — e.g. a master that asks for a client certificate this
 * slave has not, which under TLS 1.3 comes after the handshake seemed done.
 */
function isTlsFailure(socket: Socket, error: NodeJS.ErrnoException): boolean {
  if (socket instanceof TLSSocket && Boolean(socket.authorizationError)) return true;
  return /^ERR_(SSL|TLS|OSSL)_/.test(error.code ?? '');
}
