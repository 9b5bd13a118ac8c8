import { hostname } from 'node:os';
import { DEFAULT_BACKOFF, OptionError, checkInteger, type BackoffOptions } from '../common';
import { isValidNodeId, MAX_NODE_ID_LENGTH } from '../protocol';

/** TLS to the master, as PEM text (the CLI reads the files). */
export interface SlaveTlsOptions {
  /**
   * CA certificate(s), PEM, the master's certificate must chain to; its names
   * must include `masterHost`. Unset: Node's bundled CA certificates.
   */
  ca?: string | Buffer;
  /** Mutual TLS: this slave's client certificate, PEM; with `key`. */
  cert?: string | Buffer;
  /** Mutual TLS: the client certificate's private key, PEM, unencrypted; with `cert`. */
  key?: string | Buffer;
}

export interface SlaveOptions {
  /** Master's host name or address. Default `127.0.0.1`. */
  masterHost: string;
  /** Master's port. Default 12345. */
  masterPort: number;
  /** This slave's node id, in every message. Default: the host name. */
  node: string;
  /** Time between heartbeats, in ms. Default 5000. */
  heartbeatIntervalMs: number;
  /** Stop after this many heartbeats; unset: run until stopped. */
  heartbeatCount?: number;
  /** Give up a connection attempt after this long, in ms. Default 5000. */
  connectTimeoutMs: number;
  /** Delays between reconnection attempts. */
  backoff: BackoffOptions;
  /**
   * Ask the master for acks: keep every message until it is acked and resend
   * the unacked ones, in order, after a reconnect. Default true.
   */
  acks: boolean;
  /** Most unacked messages kept; when full, the oldest is dropped (and logged). Default 1000. */
  maxUnacked: number;
  /**
   * With a master that acks: a connection with a message unacked this long
   * is taken as dead and replaced, in ms. Default: 3 × the heartbeat
   * interval, at least 1000.
   */
  ackTimeoutMs?: number;
  /**
   * The cluster's shared secret. When set, the slave waits after connecting
   * for the master's challenge (at most `connectTimeoutMs`, else it
   * reconnects) and proves the token in its hello. Unset: it says hello at
   * once and ignores any challenge. Never logged.
   */
  token?: string;
  /** Connect with TLS, verifying the master's certificate. Unset: plain TCP. */
  tls?: SlaveTlsOptions;
}

export const DEFAULT_SLAVE_OPTIONS: Readonly<Omit<SlaveOptions, 'node'>> = {
  masterHost: '127.0.0.1',
  masterPort: 12345,
  heartbeatIntervalMs: 5000,
  connectTimeoutMs: 5000,
  backoff: DEFAULT_BACKOFF,
  acks: true,
  maxUnacked: 1000,
};

/** The ack timeout a slave runs with: its own, or 3 × its heartbeat interval, at least 1 s. */
export function ackTimeoutOf(options: SlaveOptions): number {
  return options.ackTimeoutMs ?? Math.max(1000, 3 * options.heartbeatIntervalMs);
}

export function resolveSlaveOptions(partial: Partial<SlaveOptions> = {}): SlaveOptions {
  const options: SlaveOptions = { ...DEFAULT_SLAVE_OPTIONS, node: hostname(), ...partial };
  if (options.masterHost === '') throw new OptionError('masterHost', 'masterHost must not be empty');
  checkInteger('masterPort', options.masterPort, 1, 65535);
  if (!isValidNodeId(options.node)) {
    throw new OptionError('node', `node must be 1 to ${MAX_NODE_ID_LENGTH} characters, got "${options.node}"`);
  }
  checkInteger('heartbeatIntervalMs', options.heartbeatIntervalMs, 1, 86_400_000);
  if (options.heartbeatCount !== undefined)
    checkInteger('heartbeatCount', options.heartbeatCount, 0, Number.MAX_SAFE_INTEGER);
  checkInteger('connectTimeoutMs', options.connectTimeoutMs, 1, 600_000);
  checkInteger('backoff.initialDelayMs', options.backoff.initialDelayMs, 1, 600_000);
  checkInteger('backoff.maxDelayMs', options.backoff.maxDelayMs, options.backoff.initialDelayMs, 3_600_000);
  checkInteger('maxUnacked', options.maxUnacked, 1, 10_000_000);
  if (options.ackTimeoutMs !== undefined) checkInteger('ackTimeoutMs', options.ackTimeoutMs, 1, 86_400_000);
  if (options.token === '') throw new OptionError('token', 'token must not be empty');
  if (options.tls !== undefined && (options.tls.cert === undefined) !== (options.tls.key === undefined)) {
    throw new OptionError('tls', 'tls.cert and tls.key go together: set both for mutual TLS, or neither');
  }
  return options;
}
