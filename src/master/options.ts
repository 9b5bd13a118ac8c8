import { DURATION_MS_RANGE, LISTEN_PORT_RANGE, OptionError, checkInRange, type IntegerRange } from '../common';
import {
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_MASTER_PORT,
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_MAX_FRAME_DEPTH,
  DEFAULT_PHI_PARAMS,
  DETECTOR_KINDS,
  HEARTBEAT_TIMEOUT_FACTOR,
  PHI_PARAM_RANGES,
  type DetectorKind,
} from '../protocol';

/**
 * TLS material for the master, as PEM text (the CLI reads the files). Set, the
 * master speaks TLS only; unset, plain TCP.
 */
export interface MasterTlsOptions {
  /** The master's certificate (chain), PEM. */
  cert: string | Buffer;
  /** The certificate's private key, PEM, unencrypted. */
  key: string | Buffer;
  /**
   * Mutual TLS: the CA certificate(s), PEM, that must have signed every
   * slave's client certificate. Set, a peer without such a certificate fails
   * its handshake. Unset: no client certificate is asked for.
   */
  clientCa?: string | Buffer;
}

export interface MasterOptions {
  /** TCP port; 0 picks a free one. Default 12345, the seed's. */
  port: number;
  /** Address to listen on. Default: every address (Node's default). */
  host?: string;
  /**
   * Fixed heartbeat timeout in ms. When unset, a node is silent after
   * `heartbeatTimeoutFactor` × the interval its hello announced.
   */
  heartbeatTimeoutMs?: number;
  /** Interval assumed for a peer that announced none (legacy peers, before hello). Default 5000 ms. */
  defaultHeartbeatIntervalMs: number;
  /** Multiple of the announced interval after which a node is silent. Default 3. */
  heartbeatTimeoutFactor: number;
  /**
   * Longest heartbeat timeout a peer's hello can obtain, in ms: a peer must not
   * hold a connection (a descriptor) idle for days by announcing a long
   * interval. A `limit` line says when it applies. Default 60000; a fixed
   * `heartbeatTimeoutMs` is the operator's choice and is not clamped.
   */
  maxHeartbeatTimeoutMs: number;
  /**
   * How silence is judged: `fixed`, after the heartbeat timeout above;
   * `phi`, phi accrual over each connection's inter-arrival times, never
   * later than that timeout. Default `fixed`.
   */
  detector: DetectorKind;
  /** With `phi`: the suspicion level at which a node is silent (an integer). Default 8. */
  phiThreshold: number;
  /** With `phi`: floor of the inter-arrival times' standard deviation, in ms. Default 100. */
  phiMinStdDevMs: number;
  /** With `phi`: added to the mean inter-arrival time, in ms. Default 0. */
  phiAcceptablePauseMs: number;
  /** Largest frame accepted, in bytes. Default 1 MiB. */
  maxFrameBytes: number;
  /** Deepest nesting of arrays and objects a frame may have, checked before it is parsed. Default 64. */
  maxFrameDepth: number;
  /**
   * Connections open at once; more are refused, and counted in a `limit` line
   * once a second. Lowered at start to what the descriptor limit allows
   * (a `limit` line says so). Default 10000.
   */
  maxConnections: number;
  /** Protocol errors one connection may make before it is closed. Default 10. */
  maxProtocolErrors: number;
  /**
   * Frames one connection may send per second, with bursts of up to one
   * second's worth; beyond that it is closed (`rate_limited`). Default 10000:
   * far above a slave's heartbeats plus the resend of a full outbox (1000).
   */
  maxFramesPerSecond: number;
  /**
   * A loopback port for health checks: connections there are accepted and
   * closed at once, and not logged, so a container health check proves the
   * master accepts connections without filling its log. Unset: none.
   */
  healthPort?: number;
  /**
   * Serve Prometheus metrics (docs/metrics.md) over HTTP at `GET /metrics` on
   * this port, on the master's `host`; 0 picks a free one. Unset: none.
   */
  metricsPort?: number;
  /**
   * A log file of this master's (JSON lines, usually its `LOG_FILE`) to read
   * on start-up: the last seq logged per node, so that messages resent after
   * a master restart are not logged twice. Missing file: nothing to recover.
   * The master also keeps a checkpoint of its ledger beside it
   * (`<file>.ledger`), so that start-up reads only the log's last lines.
   */
  recoverFrom?: string;
  /**
   * The cluster's shared secret. When set, every connection gets a challenge
   * and speaks for no node until its hello proves the token; anything else
   * first ends it (`auth_failed`). Unset: no authentication, as the seed.
   * Never logged.
   */
  token?: string;
  /** Listen with TLS instead of plain TCP. The health port stays plain TCP on loopback. Unset: plain TCP. */
  tls?: MasterTlsOptions;
  /**
   * Node ids whose last seq the master remembers (for slaves that ask for
   * acks). A new id beyond this evicts the least recently active id that has
   * no open connection; a `limit` line a second counts them. At least
   * `maxConnections`, so that every open connection's entry fits. Default
   * 100,000 (or `maxConnections` if higher): ten times the default
   * `maxConnections`, so a full cluster of stable ids can also churn through
   * nine more generations of ids (redeploys with new names) before a live
   * one is forgotten; about 20 MB of entries.
   */
  maxLedgerNodes: number;
  /**
   * With `recoverFrom`: a ledger checkpoint is written once the log grew at
   * all and this long passed since the last one, in ms. Default 60000.
   */
  checkpointIntervalMs: number;
  /**
   * With `recoverFrom`: a ledger checkpoint is written as soon as the log grew
   * this many bytes (looked at once a second): what bounds the lines a restart
   * after a SIGKILL reads. Default 8 MiB, about 40,000 lines, read in a
   * quarter of a second on a busy 2-core machine; a checkpoint of 10,000
   * nodes costs a few ms, so one a second is cheap.
   */
  checkpointBytes: number;
}

export { DEFAULT_MASTER_PORT };

/**
 * The deepest `maxFrameDepth` may be set: deep enough for any message, far
 * from what would overflow a recursive routine's stack (thousands of levels).
 */
export const MAX_FRAME_DEPTH_LIMIT = 1000;

/** The most `maxLedgerNodes` may be: about 2 GB of entries. */
export const MAX_LEDGER_NODES_LIMIT = 10_000_000;

export const DEFAULT_MASTER_OPTIONS: Readonly<MasterOptions> = {
  port: DEFAULT_MASTER_PORT,
  defaultHeartbeatIntervalMs: DEFAULT_HEARTBEAT_INTERVAL_MS,
  heartbeatTimeoutFactor: HEARTBEAT_TIMEOUT_FACTOR,
  maxHeartbeatTimeoutMs: 60_000,
  detector: 'fixed',
  phiThreshold: DEFAULT_PHI_PARAMS.threshold,
  phiMinStdDevMs: DEFAULT_PHI_PARAMS.minStdDevMs,
  phiAcceptablePauseMs: DEFAULT_PHI_PARAMS.acceptablePauseMs,
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  maxFrameDepth: DEFAULT_MAX_FRAME_DEPTH,
  maxProtocolErrors: 10,
  maxFramesPerSecond: 10_000,
  maxConnections: 10_000,
  maxLedgerNodes: 100_000,
  checkpointIntervalMs: 60_000,
  checkpointBytes: 8 * 1024 * 1024,
};

/** The options that are integers. */
type IntegerOption = {
  [K in keyof MasterOptions]-?: MasterOptions[K] extends number | undefined ? K : never;
}[keyof MasterOptions];

/**
 * The accepted range of every integer option, checked in this order; the
 * CLI's flags take theirs from here.
 */
export const MASTER_OPTION_RANGES: Readonly<Record<IntegerOption, IntegerRange>> = {
  port: LISTEN_PORT_RANGE,
  heartbeatTimeoutMs: DURATION_MS_RANGE,
  defaultHeartbeatIntervalMs: DURATION_MS_RANGE,
  heartbeatTimeoutFactor: { min: 1, max: 1000 },
  maxHeartbeatTimeoutMs: DURATION_MS_RANGE,
  phiThreshold: PHI_PARAM_RANGES.threshold,
  phiMinStdDevMs: PHI_PARAM_RANGES.minStdDevMs,
  phiAcceptablePauseMs: PHI_PARAM_RANGES.acceptablePauseMs,
  maxFrameBytes: { min: 64, max: 1024 ** 3 },
  maxFrameDepth: { min: 1, max: MAX_FRAME_DEPTH_LIMIT },
  maxProtocolErrors: { min: 1, max: 1_000_000 },
  maxFramesPerSecond: { min: 1, max: 1_000_000_000 },
  maxConnections: { min: 1, max: 1_000_000 },
  maxLedgerNodes: { min: 1, max: MAX_LEDGER_NODES_LIMIT },
  checkpointIntervalMs: DURATION_MS_RANGE,
  checkpointBytes: { min: 1, max: 1024 ** 4 },
  healthPort: LISTEN_PORT_RANGE,
  metricsPort: LISTEN_PORT_RANGE,
};

export function resolveMasterOptions(partial: Partial<MasterOptions> = {}): MasterOptions {
  const options = { ...DEFAULT_MASTER_OPTIONS, ...partial };
  // The default follows a raised connection limit; a value given is checked against it below.
  if (partial.maxLedgerNodes === undefined) {
    options.maxLedgerNodes = Math.max(DEFAULT_MASTER_OPTIONS.maxLedgerNodes, options.maxConnections);
  }
  for (const [name, range] of Object.entries(MASTER_OPTION_RANGES) as Array<[IntegerOption, IntegerRange]>) {
    const value = options[name];
    if (value !== undefined) checkInRange(name, value, range);
  }
  if (options.maxLedgerNodes < options.maxConnections) {
    throw new OptionError(
      'maxLedgerNodes',
      `maxLedgerNodes must be at least maxConnections (${options.maxConnections}), so that every open connection's entry fits; got ${options.maxLedgerNodes}`,
    );
  }
  if (!DETECTOR_KINDS.includes(options.detector)) {
    throw new OptionError(
      'detector',
      `detector must be one of ${DETECTOR_KINDS.join(', ')}; got ${String(options.detector)}`,
    );
  }
  if (options.token === '') throw new OptionError('token', 'token must not be empty');
  return options;
}
