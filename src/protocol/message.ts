import { ProtocolError } from '../common/errors';
import { excerptOf } from './frame';

/** Fields every message from a slave may carry. Only `msg` is the seed's. */
interface MessageFields {
  /** Human text, the seed's field; `''` when the frame had none. */
  msg: string;
  /** The slave's id. The seed's format has none. */
  node?: string;
  /** 1, 2, 3… per slave, across reconnects. */
  seq?: number;
  /** Sender's clock, ms since the epoch. */
  ts?: number;
}

export interface HelloMessage extends MessageFields {
  type: 'hello';
  /** The slave's heartbeat interval; the master derives its timeout from it. */
  heartbeatIntervalMs?: number;
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

export const MAX_NODE_ID_LENGTH = 128;
const MAX_INTERVAL_MS = 24 * 60 * 60 * 1000;

/** The `type` a message had on the wire (`legacy` when it had none). */
export function wireTypeOf(message: Message): string {
  return message.type === 'other' ? message.wireType : message.type;
}

function invalid(field: string, expected: string, frame: Record<string, unknown>): ProtocolError {
  const shown = excerptOf(`${field}=${JSON.stringify(frame[field]) ?? 'undefined'}`);
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
    case 'hello': {
      const interval = frame.interval_ms;
      if (interval === undefined) return { type: 'hello', ...fields };
      if (!(Number.isSafeInteger(interval) && (interval as number) > 0 && (interval as number) <= MAX_INTERVAL_MS)) {
        return invalid('interval_ms', `an integer from 1 to ${MAX_INTERVAL_MS}`, frame);
      }
      return { type: 'hello', ...fields, heartbeatIntervalMs: interval as number };
    }
    default:
      return { type: 'other', wireType: type, ...fields };
  }
}

/** The wire form of a message, the inverse of `toMessage`. */
export function toFrame(message: Message): Record<string, unknown> {
  const frame: Record<string, unknown> = {};
  if (message.type !== 'legacy') frame.type = wireTypeOf(message);
  if (message.node !== undefined) frame.node = message.node;
  if (message.seq !== undefined) frame.seq = message.seq;
  if (message.ts !== undefined) frame.ts = message.ts;
  frame.msg = message.msg;
  if (message.type === 'hello' && message.heartbeatIntervalMs !== undefined) {
    frame.interval_ms = message.heartbeatIntervalMs;
  }
  return frame;
}

/** The seed's texts, kept word for word: people grep for them. */
export const helloText = (node: string): string => `Hello World, I am client ${node}`;
export const heartbeatText = (node: string): string => `I am still alive, client: ${node}`;
