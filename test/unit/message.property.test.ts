import fc from 'fast-check';
import { ProtocolError } from '../../src/common';
import {
  MAX_BOOT_ID_LENGTH,
  MAX_NODE_ID_LENGTH,
  excerptOf,
  isValidNodeId,
  toAck,
  toFrame,
  toMessage,
  toSkip,
  type Message,
} from '../../src/protocol';

/**
 * Properties of message validation over values fast-check makes up. The
 * examples, one per field and rule, are in message.test.ts.
 */

const PRINTABLE_EXCERPT = /^[\x20-\x7e]*…?$/;
const FIELDS = ['type', 'node', 'seq', 'ts', 'msg', 'interval_ms', 'acks', 'boot', 'to', 'resend'];

/** Numbers at the edges of every rule: zero, negative zero, fractions, beyond 2^53, infinities, NaN. */
const edgeNumber = fc.oneof(
  fc.constantFrom(0, -0, 1, -1, 1.5, 2 ** 53, 2 ** 53 + 2, -(2 ** 53), Infinity, -Infinity, NaN, 86_400_001),
  fc.double(),
  fc.integer(),
);
const anyValue = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  edgeNumber,
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.constantFrom('hello', 'heartbeat', 'legacy', 'ack', 'skip', '', '__proto__'),
);
/** A decoded frame: known fields with any values, and unknown ones. */
const frameArb = fc.dictionary(fc.oneof(fc.constantFrom(...FIELDS), fc.string({ maxLength: 6 })), anyValue, {
  maxKeys: 8,
});

const nodeId = fc.string({ unit: 'binary', minLength: 1, maxLength: MAX_NODE_ID_LENGTH });
const fields = {
  node: fc.option(nodeId, { nil: undefined }),
  seq: fc.option(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), { nil: undefined }),
  ts: fc.option(fc.double({ noNaN: true, noDefaultInfinity: true }), { nil: undefined }),
  msg: fc.string({ unit: 'binary', maxLength: 80 }),
};
/** Every kind of message a slave may send, valid by construction. */
const messageArb: fc.Arbitrary<Message> = fc.oneof(
  fc.record({ type: fc.constant('heartbeat' as const), ...fields }, { requiredKeys: ['type', 'msg'] }),
  fc.record({ type: fc.constant('legacy' as const), ...fields }, { requiredKeys: ['type', 'msg'] }),
  fc
    .record(
      { wireType: fc.string().filter((t) => !['hello', 'heartbeat', 'legacy'].includes(t)), ...fields },
      {
        requiredKeys: ['wireType', 'msg'],
      },
    )
    .map((m) => ({ type: 'other' as const, ...m })),
  fc
    .record(
      {
        ...fields,
        heartbeatIntervalMs: fc.option(fc.integer({ min: 1, max: 86_400_000 }), { nil: undefined }),
        acks: fc.option(fc.boolean(), { nil: undefined }),
        boot: fc.option(fc.string({ minLength: 1, maxLength: MAX_BOOT_ID_LENGTH }), { nil: undefined }),
      },
      { requiredKeys: ['msg'] },
    )
    .map((m) => ({ type: 'hello' as const, ...m }))
    // A hello that asks for acks names its node and process, and carries no seq.
    .filter((m) => m.acks !== true || (m.node !== undefined && m.boot !== undefined && m.seq === undefined)),
);

/** Drops keys whose value is undefined: a message has no such fields, and the wire cannot carry them. */
const defined = (m: Message): Message =>
  Object.fromEntries(Object.entries(m).filter(([, v]) => v !== undefined)) as unknown as Message;

describe('toMessage, properties', () => {
  it('round-trips every valid message through toFrame and the wire', () => {
    fc.assert(
      fc.property(messageArb, (raw) => {
        const message = defined(raw);
        expect(toMessage(toFrame(message))).toEqual(message);
        const wire = JSON.parse(JSON.stringify(toFrame(message))) as Record<string, unknown>;
        // JSON has no -0: on the wire it is 0, as everywhere else in the message.
        expect(toMessage(wire)).toEqual(JSON.parse(JSON.stringify(message)));
      }),
      { numRuns: 500 },
    );
  });

  it('never throws on any frame: a message whose fields keep the rules, or an invalid-field error', () => {
    fc.assert(
      fc.property(frameArb, (frame) => {
        const result = toMessage(frame);
        if (result instanceof ProtocolError) {
          expect(result.code).toBe('PICLUSTER_ERR_INVALID_FIELD');
          expect(result.excerpt.length).toBeLessThanOrEqual(64);
          expect(result.excerpt).toMatch(PRINTABLE_EXCERPT);
          return;
        }
        expect(['hello', 'heartbeat', 'legacy', 'other']).toContain(result.type);
        expect(typeof result.msg).toBe('string');
        if (result.node !== undefined) expect(isValidNodeId(result.node)).toBe(true);
        if (result.seq !== undefined) expect(Number.isSafeInteger(result.seq) && result.seq >= 1).toBe(true);
        if (result.ts !== undefined) expect(Number.isFinite(result.ts)).toBe(true);
        // What was accepted goes back on the wire as the same message.
        expect(toMessage(toFrame(result))).toEqual(result);
      }),
      { numRuns: 2000 },
    );
  });

  it('reads acks and skips from any frame without throwing, and only well-formed ones', () => {
    fc.assert(
      fc.property(frameArb, (frame) => {
        const ack = toAck(frame);
        if (ack !== undefined) expect(toAck(JSON.parse(JSON.stringify(ack)) as Record<string, unknown>)).toEqual(ack);
        const skip = toSkip(frame);
        if (skip !== undefined) expect(Number.isSafeInteger(skip.to) && skip.to >= 1).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('excerptOf, properties', () => {
  it('is at most 64 printable ASCII characters (and a final …) for any text, lone surrogates included', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (text) => {
        const excerpt = excerptOf(text);
        expect(excerpt.length).toBeLessThanOrEqual(64);
        expect(excerpt).toMatch(PRINTABLE_EXCERPT);
        // Text that is printable already and fits is shown as it is.
        if (/^[\x20-\x5b\x5d-\x7e]{0,64}$/.test(text)) expect(excerpt).toBe(text);
      }),
      { numRuns: 1000 },
    );
  });
});
