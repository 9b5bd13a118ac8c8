import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Slave authentication by a shared token: the master sends every new
 * connection a fresh nonce (`{"type":"challenge","nonce":…}`), and the
 * slave's hello carries `proof`, the hex HMAC-SHA256 keyed with the token of
 * {@link proofInput}`(nonce, node, boot)`. A proof is bound to one
 * connection (its nonce) and to the node and process (boot) the hello
 * names: seen on the wire, it opens no other connection and speaks for no
 * other node or process.
 */

/** Random bytes in a nonce; sent as hex (twice as many characters). */
export const AUTH_NONCE_BYTES = 16;
/** Characters of a proof: hex of a 32-byte HMAC-SHA256. */
export const PROOF_HEX_LENGTH = 64;
/** Longest nonce a slave accepts, in characters; a master of this version sends 32. */
export const MAX_NONCE_LENGTH = 128;

/** Names the scheme inside every MAC, so a proof means nothing to any other use of the same token. */
const PROOF_CONTEXT = 'picluster-auth-v1';

/** What a master with a token sends first on every connection. */
export interface Challenge {
  type: 'challenge';
  nonce: string;
}

/** A fresh nonce for one connection: {@link AUTH_NONCE_BYTES} random bytes, hex. */
export function createNonce(): string {
  return randomBytes(AUTH_NONCE_BYTES).toString('hex');
}

/**
 * The bytes a proof is the MAC of: the UTF-8 JSON array
 * `["picluster-auth-v1", nonce, node, boot]`. JSON quotes and escapes every
 * string, so no two (nonce, node, boot) give the same input, whatever
 * characters they hold.
 */
export function proofInput(nonce: string, node: string, boot: string): Buffer {
  return Buffer.from(JSON.stringify([PROOF_CONTEXT, nonce, node, boot]), 'utf8');
}

/** The hello's `proof`: lowercase hex HMAC-SHA256 of {@link proofInput}, keyed with the token's UTF-8 bytes. */
export function computeProof(token: string, nonce: string, node: string, boot: string): string {
  return createHmac('sha256', token)
    .update(proofInput(nonce, node, boot))
    .digest('hex');
}

/**
 * Whether `proof` is the one {@link computeProof} gives. Compared in constant
 * time on equal-length buffers, so the time taken says nothing of how much
 * of a guess was right.
 */
export function verifyProof(token: string, nonce: string, node: string, boot: string, proof: string): boolean {
  const expected = Buffer.from(computeProof(token, nonce, node, boot), 'hex');
  const given = isProofText(proof) ? Buffer.from(proof.toLowerCase(), 'hex') : Buffer.alloc(0);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Whether `value` has a proof's form: {@link PROOF_HEX_LENGTH} hex digits. */
export function isProofText(value: unknown): value is string {
  return typeof value === 'string' && value.length === PROOF_HEX_LENGTH && /^[0-9a-fA-F]+$/.test(value);
}

/** The challenge a decoded frame carries, if it is a well-formed one. */
export function toChallenge(frame: Record<string, unknown>): Challenge | undefined {
  const { type, nonce } = frame;
  if (type !== 'challenge' || typeof nonce !== 'string') return undefined;
  if (nonce.length < 2 * AUTH_NONCE_BYTES || nonce.length > MAX_NONCE_LENGTH || !/^[\w-]+$/.test(nonce)) {
    return undefined;
  }
  return { type, nonce };
}
