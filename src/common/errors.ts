/**
 * Every error picluster raises carries a stable `code`. Tests, the checker and
 * the log assert on codes, never on message text.
 */
export type ErrorCode =
  | 'PICLUSTER_ERR_FRAME_TOO_LARGE'
  | 'PICLUSTER_ERR_FRAME_TOO_DEEP'
  | 'PICLUSTER_ERR_INVALID_JSON'
  | 'PICLUSTER_ERR_INVALID_UTF8'
  | 'PICLUSTER_ERR_NOT_AN_OBJECT'
  | 'PICLUSTER_ERR_INVALID_FIELD'
  | 'PICLUSTER_ERR_NODE_MISMATCH'
  | 'PICLUSTER_ERR_INVALID_OPTION'
  /** A TLS certificate or key file that cannot be read, or is not what its flag wants. */
  | 'PICLUSTER_ERR_TLS_FILE'
  | 'PICLUSTER_ERR_INVALID_SCENARIO'
  | 'PICLUSTER_ERR_SCENARIO_UNREADABLE'
  | 'PICLUSTER_ERR_NODE_START'
  | 'PICLUSTER_ERR_FAULT_FAILED'
  | 'PICLUSTER_ERR_CLUSTER_NOT_READY'
  | 'PICLUSTER_ERR_RUN_DIR'
  | 'PICLUSTER_ERR_RUN_ABORTED'
  | 'PICLUSTER_ERR_BACKEND_UNAVAILABLE'
  | 'PICLUSTER_ERR_IMAGE_MISSING'
  | 'PICLUSTER_ERR_INVALID_RUN';

export class PiclusterError extends Error {
  override readonly name: string = 'PiclusterError';

  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A frame the decoder or the message validator refused. */
export class ProtocolError extends PiclusterError {
  override readonly name = 'ProtocolError';

  constructor(
    code: ErrorCode,
    message: string,
    /** A short, escaped excerpt of the offending bytes, safe to log. */
    readonly excerpt: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

/** A flag, variable or constructor option with a value outside its accepted range. */
export class OptionError extends PiclusterError {
  override readonly name = 'OptionError';

  constructor(
    /** The option as the user wrote it, e.g. `--port` or `MASTER_PORT`. */
    readonly option: string,
    message: string,
  ) {
    super('PICLUSTER_ERR_INVALID_OPTION', message);
  }
}
