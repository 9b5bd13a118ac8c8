import { ProtocolError } from '../common/errors';
import { isProofText, PROOF_HEX_LENGTH } from './auth';
import { excerptOf } from './frame';
import { MAX_HEARTBEAT_INTERVAL_MS } from './defaults';

/** Fields every message from a slave may carry. Only `msg` is the seed's. */
interface MessageFields {
  /** Human text, the seed's field; `''` when the frame had none. */
  msg: string;
  /** The slave's id. The seed's format has none. */
  node?: string;
  /** 1, 2, 3… per slave incarnation, across reconnects. */
  seq?: number;
  /** Sender's clock, ms since the epoch. */
  ts?: number;
}

export interface HelloMessage extends MessageFields {
  type: 'hello';
  /** The slave's heartbeat interval; the master derives its timeout from it. */
  heartbeatIntervalMs?: number;
  /**
   * The slave asks for acks (wire `acks: true`). Such a hello opens a
   * connection and carries no `seq`: the numbered messages follow it.
   */
  acks?: boolean;
  /** Identifies the slave's incarnation (process); its seq starts at 1 again with a new one. */
  boot?: string;
  /**
   * The answer to a master's challenge: hex HMAC-SHA256 of the connection's
   * nonce, `node` and `boot`, keyed with the cluster token (see `auth.ts`).
   */
  proof?: string;
}

export interface HeartbeatMessage extends MessageFields {
  type: 'heartbeat';
}

/** A frame with no `type`: the seed's `{"msg": "…"}`. */
export interface LegacyMessage extends MessageFields {
  type: 'legacy';
}

/** A `type` this version does not know; still a message, still logged. */
export interface OtherMessage extends MessageFields {
  type: 'other';
  wireType: string;
}

export type Message = HelloMessage | HeartbeatMessage | LegacyMessage | OtherMessage;

/** What the master sends back to a slave that asked for acks: every seq up to `seq` is logged. */
export interface Ack {
  type: 'ack';
  node: string;
  /** The highest seq logged, all before it logged too (0: none yet). */
  seq: number;
  /**
   * Set when a message came beyond seqs that never did (a network that lost
   * bytes): resend every unacked message, in order, from `seq + 1`.
   */
  resend?: true;
}

/**
 * A slave's answer to an ack that asks for a resend when it no longer has
 * the seqs the master is missing (dropped from a full outbox): every seq up
 * to `to` is gone for good, and the master logs those it lacks as a gap.
 */
export interface Skip {
  type: 'skip';
  node: string;
  to: number;
}

export const MAX_NODE_ID_LENGTH = 128;
export const MAX_BOOT_ID_LENGTH = 64;

/** The `type` a message had on the wire (`legacy` when it had none). */
export function wireTypeOf(message: Message): string {
  return message.type === 'other' ? message.wireType : message.type;
}

/**
 * A short, printable view of a field's value that never walks it: an array
 * or object is named, not serialized, however deep or large a peer made it.
 */
function previewOf(value: unknown): string {
  if (Array.isArray(value)) return `[array of ${value.length}]`;
  if (typeof value === 'object' && value !== null) return '{object}';
  if (typeof value === 'string') return JSON.stringify(value.slice(0, EXCERPT_SOURCE_CHARS));
  return String(value);
}

/** More characters than any excerpt shows: the rest of a long string is cut before it is escaped. */
const EXCERPT_SOURCE_CHARS = 128;

function invalid(field: string, expected: string, frame: Record<string, unknown>): ProtocolError {
  const shown = excerptOf(`${field}=${previewOf(frame[field])}`);
  return new ProtocolError('PICLUSTER_ERR_INVALID_FIELD', `field "${field}" must be ${expected}`, shown);
}

export function isValidNodeId(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_NODE_ID_LENGTH;
}

/**
 * Turns a decoded frame into a message, or the error that says which field is
 * wrong. Unknown fields are ignored.
 */
export function toMessage(frame: Record<string, unknown>): Message | ProtocolError {
  const { msg, node, seq, ts, type } = frame;
  if (msg !== undefined && typeof msg !== 'string') return invalid('msg', 'a string', frame);
  if (node !== undefined && !isValidNodeId(node)) {
    return invalid('node', `a string of 1 to ${MAX_NODE_ID_LENGTH} characters`, frame);
  }
  if (seq !== undefined && !(Number.isSafeInteger(seq) && (seq as number) >= 1)) {
    return invalid('seq', 'an integer ≥ 1', frame);
  }
  if (ts !== undefined && !Number.isFinite(ts)) return invalid('ts', 'a number (ms since the epoch)', frame);
  if (type !== undefined && typeof type !== 'string') return invalid('type', 'a string', frame);

  const fields: MessageFields = { msg: msg ?? '' };
  if (node !== undefined) fields.node = node as string;
  if (seq !== undefined) fields.seq = seq as number;
  if (ts !== undefined) fields.ts = ts as number;

  switch (type) {
    case undefined:
    case 'legacy':
      return { type: 'legacy', ...fields };
    case 'heartbeat':
      return { type: 'heartbeat', ...fields };
    case 'hello':
      return toHello(frame, fields);
    default:
      return { type: 'other', wireType: type, ...fields };
  }
}

function toHello(frame: Record<string, unknown>, fields: MessageFields): HelloMessage | ProtocolError {
  const { interval_ms: interval, acks, boot, proof } = frame;
  const hello: HelloMessage = { type: 'hello', ...fields };
  if (interval !== undefined) {
    if (!(
      Number.isSafeInteger(interval) &&
      (interval as number) > 0 &&
      (interval as number) <= MAX_HEARTBEAT_INTERVAL_MS
    )) {
      return invalid('interval_ms', `an integer from 1 to ${MAX_HEARTBEAT_INTERVAL_MS}`, frame);
    }
    hello.heartbeatIntervalMs = interval as number;
  }
  if (acks !== undefined) {
    if (typeof acks !== 'boolean') return invalid('acks', 'true or false', frame);
    hello.acks = acks;
  }
  if (boot !== undefined) {
    if (!(typeof boot === 'string' && boot.length > 0 && boot.length <= MAX_BOOT_ID_LENGTH)) {
      return invalid('boot', `a string of 1 to ${MAX_BOOT_ID_LENGTH} characters`, frame);
    }
    hello.boot = boot;
  }
  if (proof !== undefined) {
    if (!isProofText(proof)) return invalid('proof', `${PROOF_HEX_LENGTH} hex digits (an HMAC-SHA256)`, frame);
    // A proof is of a nonce, a node and a boot: without the last two there is nothing it could prove.
    if (hello.node === undefined) return invalid('node', 'set in a hello with a proof', frame);
    if (hello.boot === undefined) return invalid('boot', 'set in a hello with a proof', frame);
    hello.proof = proof;
  }
  if (hello.acks === true) {
    if (hello.node === undefined) return invalid('node', 'set when acks are asked for', frame);
    if (hello.boot === undefined) return invalid('boot', 'set when acks are asked for', frame);
    // Such a hello opens a connection; numbering it would put it among the messages the ledger dedups.
    if (hello.seq !== undefined) return invalid('seq', 'absent from a hello that asks for acks', frame);
  }
  return hello;
}

/** The ack a decoded frame carries, if it is one; anything else (a seed master says nothing) is `undefined`. */
export function toAck(frame: Record<string, unknown>): Ack | undefined {
  const { type, node, seq, resend } = frame;
  if (type !== 'ack' || !isValidNodeId(node) || !(Number.isSafeInteger(seq) && (seq as number) >= 0)) return undefined;
  return resend === true ? { type, node, seq: seq as number, resend } : { type, node, seq: seq as number };
}

/** The skip a decoded frame carries, if it is a well-formed one. */
export function toSkip(frame: Record<string, unknown>): Skip | undefined {
  const { type, node, to } = frame;
  if (type !== 'skip' || !isValidNodeId(node) || !(Number.isSafeInteger(to) && (to as number) >= 1)) return undefined;
  return { type, node, to: to as number };
}

/** The wire form of a message, the inverse of `toMessage`. */
export function toFrame(message: Message): Record<string, unknown> {
  const frame: Record<string, unknown> = {};
  if (message.type !== 'legacy') frame.type = wireTypeOf(message);
  if (message.node !== undefined) frame.node = message.node;
  if (message.seq !== undefined) frame.seq = message.seq;
  if (message.ts !== undefined) frame.ts = message.ts;
  frame.msg = message.msg;
  if (message.type === 'hello') {
    if (message.heartbeatIntervalMs !== undefined) frame.interval_ms = message.heartbeatIntervalMs;
    if (message.acks !== undefined) frame.acks = message.acks;
    if (message.boot !== undefined) frame.boot = message.boot;
    if (message.proof !== undefined) frame.proof = message.proof;
  }
  return frame;
}

/** The seed's texts, kept word for word: people grep for them. */
export const helloText = (node: string): string => `Hello World, I am client ${node}`;
export const heartbeatText = (node: string): string => `I am still alive, client: ${node}`;
