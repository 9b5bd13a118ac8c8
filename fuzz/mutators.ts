import type { Rng } from './rng';

/** What a mutator may draw on besides the frame it changes. */
export interface MutationContext {
  rng: Rng;
  /** The corpus: valid frames, without separators. */
  corpus: readonly Buffer[];
  /** The master's `--max-frame-bytes`, to aim long strings at its edge. */
  maxFrameBytes: number;
  /** Node ids that look like the good slave's but are not it. */
  lookalikeIds: readonly string[];
}

type Mutator = (frame: Buffer, ctx: MutationContext) => Buffer;

const SEPARATORS = ['\r', '\n', '\r\n', '\r\r', '\n\r', '\r\n\r\n'];

/** Numerals that JSON allows but that stretch a number's meaning (infinite, negative zero, beyond 2^53…). */
const ODD_NUMERALS = [
  '1e309',
  '-1e309',
  '-0',
  '0',
  '9007199254740993',
  '9007199254740992',
  '-9007199254740993',
  '1'.repeat(400),
  '0.' + '0'.repeat(400) + '1',
  '1e-400',
  '1.5',
  '2e0',
  '1E+2',
  '-1',
  '4294967296',
  '86400001',
];

/** Byte sequences that are not, or are unusual, UTF-8: lone surrogates, overlongs, a cut 4-byte character. */
const ODD_BYTES: readonly Buffer[] = [
  Buffer.from([0xed, 0xa0, 0x80]), // U+D800, a lone high surrogate, encoded as UTF-8
  Buffer.from([0xed, 0xbf, 0xbf]), // U+DFFF, a lone low surrogate
  Buffer.from([0xc0, 0xaf]), // an overlong '/'
  Buffer.from([0xe0, 0x80, 0xaf]), // an overlong '/' in three bytes
  Buffer.from([0xc0, 0x80]), // an overlong NUL
  Buffer.from([0xf0, 0x9f, 0x98]), // a cut emoji
  Buffer.from([0xf4, 0x90, 0x80, 0x80]), // beyond U+10FFFF
  Buffer.from([0xff, 0xfe]),
  Buffer.from([0x00]),
  Buffer.from([0x80]),
  Buffer.from('\u202e', 'utf8'), // right-to-left override
  Buffer.from('\u200b\u200d\ufeff', 'utf8'), // zero-width characters and a BOM
  Buffer.from('\uffff\ufffd', 'utf8'),
  Buffer.from('\\u0000'),
  Buffer.from('\\ud800'),
  Buffer.from('\\udfff\\ud800'),
  Buffer.from('\\u202e'),
  Buffer.from('\\'),
  Buffer.from('"'),
];

/** Bytes worth inserting: JSON's own punctuation and the separators, then anything. */
const PUNCTUATION = Buffer.from('{}[]":,\\\r\n 0-e.');

function insert(frame: Buffer, at: number, piece: Buffer): Buffer {
  return Buffer.concat([frame.subarray(0, at), piece, frame.subarray(at)]);
}

function textOf(frame: Buffer): string {
  return frame.toString('latin1');
}

/** Latin-1 both ways keeps every byte as it was, so text edits never repair invalid UTF-8. */
function bytesOf(text: string): Buffer {
  return Buffer.from(text, 'latin1');
}

/** Replaces the value of a top-level-looking field in the frame's text, or adds the field. */
function setField(frame: Buffer, field: string, rawValue: string): Buffer {
  const text = textOf(frame);
  const pattern = new RegExp(`("${field}"\\s*:\\s*)("(?:[^"\\\\]|\\\\.)*"|[^,}\\]]*)`);
  if (pattern.test(text)) return bytesOf(text.replace(pattern, (_m, head: string) => head + rawValue));
  const close = text.lastIndexOf('}');
  if (close === -1) return bytesOf(`{"${field}":${rawValue}}`);
  const comma = /\{\s*$/.test(text.slice(0, close)) ? '' : ',';
  return bytesOf(`${text.slice(0, close)}${comma}"${field}":${rawValue}${text.slice(close)}`);
}

/** A JSON string literal, as Latin-1 text of its UTF-8 bytes. */
function jsonString(value: string): string {
  return textOf(Buffer.from(JSON.stringify(value), 'utf8'));
}

function nested(rng: Rng, depth: number): string {
  const opener = rng.chance(0.5) ? '[' : '{"a":';
  const closer = opener === '[' ? ']' : '}';
  const balanced = rng.chance(0.85);
  return opener.repeat(depth) + (opener === '[' ? '' : '1') + (balanced ? closer.repeat(depth) : '');
}

/** Every mutator, by name: one table, so a reproducer and the summary can say which ran. */
export const MUTATORS = {
  flipBits: (frame, { rng }) => {
    const out = Buffer.from(frame);
    for (let n = rng.int(1, 8); n > 0 && out.length > 0; n--) out[rng.int(0, out.length - 1)]! ^= 1 << rng.int(0, 7);
    return out;
  },
  setBytes: (frame, { rng }) => {
    const out = Buffer.from(frame);
    for (let n = rng.int(1, 4); n > 0 && out.length > 0; n--) out[rng.int(0, out.length - 1)] = rng.int(0, 255);
    return out;
  },
  insertBytes: (frame, { rng }) => {
    const piece = rng.chance(0.6)
      ? Buffer.from(Array.from({ length: rng.smallInt(16) + 1 }, () => rng.pick([...PUNCTUATION])))
      : rng.bytes(rng.smallInt(64) + 1);
    return insert(frame, rng.int(0, frame.length), piece);
  },
  deleteRange: (frame, { rng }) => {
    if (frame.length === 0) return frame;
    const from = rng.int(0, frame.length - 1);
    return Buffer.concat([frame.subarray(0, from), frame.subarray(from + rng.smallInt(frame.length - from) + 1)]);
  },
  truncate: (frame, { rng }) => frame.subarray(0, rng.int(0, frame.length)),
  splice: (frame, { rng, corpus }) => {
    const other = rng.pick(corpus);
    return Buffer.concat([frame.subarray(0, rng.int(0, frame.length)), other.subarray(rng.int(0, other.length))]);
  },
  separators: (frame, { rng }) => insert(frame, rng.int(0, frame.length), Buffer.from(rng.pick(SEPARATORS))),
  deepNesting: (frame, { rng }) => {
    const depth = rng.pick([2, 63, 64, 65, 100, 1000, 5000, 50_000]);
    return setField(frame, rng.pick(['msg', 'x', 'node', 'seq']), nested(rng, depth));
  },
  oddNumber: (frame, { rng }) =>
    setField(frame, rng.pick(['seq', 'ts', 'interval_ms', 'to', 'msg']), rng.pick(ODD_NUMERALS)),
  oddUnicode: (frame, { rng }) => {
    // Inside a string most of the time: that is where a decoder meets them for real.
    const text = textOf(frame);
    const quotes = [...text.matchAll(/"/g)].map((m) => m.index);
    const at = quotes.length > 0 && rng.chance(0.8) ? rng.pick(quotes) + 1 : rng.int(0, frame.length);
    return insert(frame, at, rng.pick(ODD_BYTES));
  },
  longString: (frame, { rng, maxFrameBytes }) => {
    const target = maxFrameBytes + rng.int(-40, 8);
    const filler = rng.pick(['x', '✓', '\\u0041', '\\"']);
    const base = setField(frame, 'msg', '""');
    const room = Math.max(0, target - base.length);
    const unit = Buffer.byteLength(filler, filler === '✓' ? 'utf8' : 'latin1');
    return setField(base, 'msg', '"' + textOf(Buffer.from(filler.repeat(Math.floor(room / unit)))) + '"');
  },
  renameNode: (frame, { rng, lookalikeIds }) => setField(frame, 'node', jsonString(rng.pick(lookalikeIds))),
  wrongType: (frame, { rng }) =>
    setField(
      frame,
      rng.pick(['node', 'seq', 'type', 'msg', 'acks', 'boot', 'interval_ms', 'to', 'resend']),
      rng.pick(['null', 'true', '"1"', '[]', '{}', '""', '0', '"ack"', '"skip"', '"hello"', `"${'b'.repeat(65)}"`]),
    ),
  duplicateKey: (frame, { rng }) => {
    const text = textOf(frame);
    const close = text.lastIndexOf('}');
    if (close === -1) return frame;
    const key = rng.pick(['seq', 'node', 'type', 'acks', '__proto__', 'constructor']);
    return bytesOf(`${text.slice(0, close)},"${key}":${rng.pick(['2', '"x"', '{}', 'true'])}${text.slice(close)}`);
  },
} satisfies Record<string, Mutator>;

export type MutatorName = keyof typeof MUTATORS;
export const MUTATOR_NAMES = Object.keys(MUTATORS) as MutatorName[];

/** One frame from the corpus, mutated by 0 to 4 mutators (0: sent as it is, so the valid paths run too). */
export function mutatedFrame(ctx: MutationContext): { bytes: Buffer; mutators: MutatorName[] } {
  const { rng } = ctx;
  let bytes = rng.pick(ctx.corpus);
  const mutators: MutatorName[] = [];
  const rounds = rng.chance(0.15) ? 0 : rng.int(1, 4);
  for (let i = 0; i < rounds; i++) {
    const name = rng.pick(MUTATOR_NAMES);
    bytes = MUTATORS[name](bytes, ctx);
    mutators.push(name);
  }
  return { bytes, mutators };
}

/** Node ids one edit away from `id` in ways a human would not see, plus lengths at the limit. */
export function lookalikesOf(id: string): string[] {
  return [
    id.toUpperCase(),
    id + ' ',
    ' ' + id,
    '\u200b' + id,
    id + '\u0000',
    id.replace(/o/g, '\u043e'), // Cyrillic o
    id.replace(/-/g, '\u2011'), // non-breaking hyphen
    id.slice(0, -1),
    id + id.slice(-1),
    '\u202e' + id,
    (id + 'x'.repeat(128)).slice(0, 128),
    (id + 'x'.repeat(129)).slice(0, 129),
  ].filter((candidate) => candidate !== id);
}
