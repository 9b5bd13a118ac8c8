import type { Stats } from 'node:fs';

/**
 * The codes of a {@link ProtocolError}: why a peer's frame was refused. Also
 * the `code` of the master's `protocol_error` log lines.
 */
export const PROTOCOL_ERROR_CODES = [
  'PICLUSTER_ERR_FRAME_TOO_LARGE',
  'PICLUSTER_ERR_FRAME_TOO_DEEP',
  'PICLUSTER_ERR_INVALID_JSON',
  'PICLUSTER_ERR_INVALID_UTF8',
  'PICLUSTER_ERR_NOT_AN_OBJECT',
  'PICLUSTER_ERR_INVALID_FIELD',
  'PICLUSTER_ERR_NODE_MISMATCH',
] as const;
export type ProtocolErrorCode = (typeof PROTOCOL_ERROR_CODES)[number];

/**
 * Every error picluster raises carries a stable `code`. Tests, the checker and
 * the log assert on codes, never on message text.
 */
export type ErrorCode =
  | ProtocolErrorCode
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
  | 'PICLUSTER_ERR_INVALID_RUN'
  | 'PICLUSTER_ERR_UNSUPPORTED_ACTION';

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
  declare readonly code: ProtocolErrorCode;

  constructor(
    code: ProtocolErrorCode,
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

// C0 and C1 controls, DEL, zero-width and directional marks (U+200B–U+200F), bidirectional
// embeddings and isolates (U+202A–U+202E, U+2066–U+2069), line/paragraph separators and the BOM.
// eslint-disable-next-line no-control-regex -- matching controls is the point
const UNSAFE_CHARS = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]/g;

/**
 * Makes text taken from input (a file name, a YAML value, a key) safe to echo
 * in a one-line message: controls and invisible or bidirectional characters
 * become `\uXXXX`, so a U+202E in a file name cannot reorder the terminal's
 * line and a newline cannot forge a second message. Idempotent: its output is
 * printable text that it leaves alone.
 */
export function escapeControl(text: string): string {
  return text.replace(UNSAFE_CHARS, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** What a file that is not a regular one is, for messages: `a directory`, `a FIFO`… */
export function fileKind(stats: Stats): string {
  if (stats.isFile()) return 'a regular file';
  if (stats.isDirectory()) return 'a directory';
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isSocket()) return 'a socket';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  return 'not a file';
}
