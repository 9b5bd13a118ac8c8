import { createHmac } from 'node:crypto';
import { ProtocolError } from '../../src/common';
import {
  AUTH_NONCE_BYTES,
  computeProof,
  createNonce,
  proofInput,
  toChallenge,
  toFrame,
  toMessage,
  verifyProof,
  type Message,
} from '../../src/protocol';

const TOKEN = 'correct horse battery staple';
const NONCE = '00112233445566778899aabbccddeeff';

describe('proof of the token', () => {
  const proof = computeProof(TOKEN, NONCE, 'slave-1', 'boot-1');

  it('is the hex HMAC-SHA256 of the JSON array [context, nonce, node, boot], keyed with the token', () => {
    const input = '["picluster-auth-v1","00112233445566778899aabbccddeeff","slave-1","boot-1"]';
    expect(proofInput(NONCE, 'slave-1', 'boot-1').toString('utf8')).toBe(input);
    expect(proof).toBe(createHmac('sha256', Buffer.from(TOKEN, 'utf8')).update(input).digest('hex'));
    expect(proof).toMatch(/^[0-9a-f]{64}$/);
  });

  it('verifies for the same token, nonce, node and boot (in either case of hex)', () => {
    expect(verifyProof(TOKEN, NONCE, 'slave-1', 'boot-1', proof)).toBe(true);
    expect(verifyProof(TOKEN, NONCE, 'slave-1', 'boot-1', proof.toUpperCase())).toBe(true);
  });

  it.each([
    ['a wrong token', [`${TOKEN}!`, NONCE, 'slave-1', 'boot-1']],
    ['another nonce (another connection)', [TOKEN, NONCE.replace('00', '01'), 'slave-1', 'boot-1']],
    ['another node', [TOKEN, NONCE, 'slave-2', 'boot-1']],
    ['another boot', [TOKEN, NONCE, 'slave-1', 'boot-2']],
  ] as const)('fails for %s', (_what, [token, nonce, node, boot]) => {
    expect(verifyProof(token, nonce, node, boot, proof)).toBe(false);
  });

  it.each([
    ['truncated', proof.slice(0, 62)],
    ['one digit short', proof.slice(1)],
    ['one digit long', `${proof}0`],
    ['not hex', `${proof.slice(0, 63)}g`],
    ['empty', ''],
  ])('fails for a %s proof, without throwing', (_what, given) => {
    expect(verifyProof(TOKEN, NONCE, 'slave-1', 'boot-1', given)).toBe(false);
  });

  it('cannot be moved between fields: the encoding keeps nonce, node and boot apart', () => {
    // With plain concatenation these would all be the same bytes.
    const proofs = new Set([
      computeProof(TOKEN, 'ab', 'c', 'd'),
      computeProof(TOKEN, 'a', 'bc', 'd'),
      computeProof(TOKEN, 'a', 'b', 'cd'),
      computeProof(TOKEN, 'a","b', 'c', 'd'),
    ]);
    expect(proofs.size).toBe(4);
  });
});

describe('challenge', () => {
  it('gives every connection a fresh nonce of 16 random bytes in hex', () => {
    const nonces = new Set(Array.from({ length: 100 }, () => createNonce()));
    expect(nonces.size).toBe(100);
    for (const nonce of nonces) expect(nonce).toMatch(new RegExp(`^[0-9a-f]{${2 * AUTH_NONCE_BYTES}}$`));
  });

  it('reads a challenge frame, and nothing else as one', () => {
    const nonce = createNonce();
    expect(toChallenge({ type: 'challenge', nonce })).toEqual({ type: 'challenge', nonce });
    expect(toChallenge({ type: 'challenge', nonce: 'short' })).toBeUndefined();
    expect(toChallenge({ type: 'challenge', nonce: 'x'.repeat(129) })).toBeUndefined();
    expect(toChallenge({ type: 'challenge', nonce: `${nonce} ` })).toBeUndefined();
    expect(toChallenge({ type: 'challenge' })).toBeUndefined();
    expect(toChallenge({ type: 'ack', nonce })).toBeUndefined();
  });
});

describe('a hello with a proof on the wire', () => {
  const proof = computeProof(TOKEN, NONCE, 'n', 'b1');

  it('is read with its proof and written back the same', () => {
    const frame = { type: 'hello', node: 'n', msg: 'hi', acks: true, boot: 'b1', proof };
    const hello = toMessage(frame);
    expect(hello).toEqual({ type: 'hello', node: 'n', msg: 'hi', acks: true, boot: 'b1', proof });
    expect(toFrame(hello as Message)).toEqual(frame);
  });

  it.each([
    [{ type: 'hello', node: 'n', boot: 'b', proof: 42 }, 'proof'],
    [{ type: 'hello', node: 'n', boot: 'b', proof: proof.slice(0, 32) }, 'proof'],
    [{ type: 'hello', node: 'n', boot: 'b', proof: `${proof.slice(0, 63)}z` }, 'proof'],
    [{ type: 'hello', node: 'n', proof }, 'boot'],
    [{ type: 'hello', boot: 'b', proof }, 'node'],
  ])('refuses a malformed one %j (field %s)', (frame, field) => {
    const error = toMessage(frame) as ProtocolError;
    expect(error).toBeInstanceOf(ProtocolError);
    expect(error.code).toBe('PICLUSTER_ERR_INVALID_FIELD');
    expect(error.message).toContain(`"${field}"`);
  });
});
