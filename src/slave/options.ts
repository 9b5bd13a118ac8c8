import { hostname } from 'node:os';
import {
  CONNECT_PORT_RANGE,
  DEFAULT_BACKOFF,
  DURATION_MS_RANGE,
  OptionError,
  UNBOUNDED_COUNT_RANGE,
  checkInRange,
  checkInteger,
  type BackoffOptions,
  type IntegerRange,
} from '../common';
import {
  defaultAckTimeoutMs,
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_MASTER_PORT,
  isValidNodeId,
  MAX_NODE_ID_LENGTH,
} from '../protocol';

export { ACK_TIMEOUT_INTERVALS, defaultAckTimeoutMs, MIN_DEFAULT_ACK_TIMEOUT_MS } from '../protocol';

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
   * is taken as dead and replaced, in ms. Default: `defaultAckTimeoutMs`
   * of the heartbeat interval (3 × it, at least 1000).
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
  masterPort: DEFAULT_MASTER_PORT,
  heartbeatIntervalMs: DEFAULT_HEARTBEAT_INTERVAL_MS,
  connectTimeoutMs: 5000,
  backoff: DEFAULT_BACKOFF,
  acks: true,
  maxUnacked: 1000,
};

/**
 * The accepted range of every integer option, checked in this order; the
 * CLI's flags take theirs from here. `backoff.maxDelayMs` must also be at
 * least `backoff.initialDelayMs`.
 */
export const SLAVE_OPTION_RANGES = {
  masterPort: CONNECT_PORT_RANGE,
  heartbeatIntervalMs: DURATION_MS_RANGE,
  heartbeatCount: UNBOUNDED_COUNT_RANGE,
  connectTimeoutMs: { min: 1, max: 600_000 },
  'backoff.initialDelayMs': { min: 1, max: 600_000 },
  'backoff.maxDelayMs': { min: 1, max: 3_600_000 },
  maxUnacked: { min: 1, max: 10_000_000 },
  ackTimeoutMs: DURATION_MS_RANGE,
} as const satisfies Readonly<Record<string, IntegerRange>>;

/** The ack timeout a slave runs with: its own, or the default for its heartbeat interval. */
export function ackTimeoutOf(options: SlaveOptions): number {
  return options.ackTimeoutMs ?? defaultAckTimeoutMs(options.heartbeatIntervalMs);
}

export function resolveSlaveOptions(partial: Partial<SlaveOptions> = {}): SlaveOptions {
  const options: SlaveOptions = { ...DEFAULT_SLAVE_OPTIONS, node: hostname(), ...partial };
  const ranges = SLAVE_OPTION_RANGES;
  if (options.masterHost === '') throw new OptionError('masterHost', 'masterHost must not be empty');
  checkInRange('masterPort', options.masterPort, ranges.masterPort);
  if (!isValidNodeId(options.node)) {
    throw new OptionError('node', `node must be 1 to ${MAX_NODE_ID_LENGTH} characters, got "${options.node}"`);
  }
  checkInRange('heartbeatIntervalMs', options.heartbeatIntervalMs, ranges.heartbeatIntervalMs);
  if (options.heartbeatCount !== undefined)
    checkInRange('heartbeatCount', options.heartbeatCount, ranges.heartbeatCount);
  checkInRange('connectTimeoutMs', options.connectTimeoutMs, ranges.connectTimeoutMs);
  checkInRange('backoff.initialDelayMs', options.backoff.initialDelayMs, ranges['backoff.initialDelayMs']);
  const { initialDelayMs, maxDelayMs } = options.backoff;
  checkInteger('backoff.maxDelayMs', maxDelayMs, initialDelayMs, ranges['backoff.maxDelayMs'].max);
  checkInRange('maxUnacked', options.maxUnacked, ranges.maxUnacked);
  if (options.ackTimeoutMs !== undefined) checkInRange('ackTimeoutMs', options.ackTimeoutMs, ranges.ackTimeoutMs);
  if (options.token === '') throw new OptionError('token', 'token must not be empty');
  if (options.tls !== undefined && (options.tls.cert === undefined) !== (options.tls.key === undefined)) {
    throw new OptionError('tls', 'tls.cert and tls.key go together: set both for mutual TLS, or neither');
  }
  return options;
}
