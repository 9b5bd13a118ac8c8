import fc from 'fast-check';
import type { ErrorCode, ProtocolError } from '../../src/common';
import { DEFAULT_MAX_FRAME_DEPTH, FrameDecoder } from '../../src/protocol';

/**
 * Properties of the decoder over inputs fast-check makes up: any objects, any
 * bytes, any splits. The examples and the split property on short frames are
 * in frame-decoder.test.ts.
 */

type Event = { frame: Record<string, unknown> } | { error: ErrorCode; excerpt: string };

/** The codes a decoder may give; the others belong to message validation. */
const DECODER_CODES: readonly ErrorCode[] = [
  'PICLUSTER_ERR_FRAME_TOO_LARGE',
  'PICLUSTER_ERR_FRAME_TOO_DEEP',
  'PICLUSTER_ERR_INVALID_JSON',
  'PICLUSTER_ERR_INVALID_UTF8',
  'PICLUSTER_ERR_NOT_AN_OBJECT',
];

/** Printable ASCII, backslash escapes included, and a final `…` when cut. */
const PRINTABLE_EXCERPT = /^[\x20-\x7e]*…?$/;

function decode(bytes: Uint8Array, cuts: number[], maxFrameBytes = 1024): { events: Event[]; decoder: FrameDecoder } {
  const events: Event[] = [];
  const decoder = new FrameDecoder(
    {
      frame: (value) => events.push({ frame: value }),
      error: (error: ProtocolError) => events.push({ error: error.code, excerpt: error.excerpt }),
    },
    { maxFrameBytes },
  );
  const buffer = Buffer.from(bytes);
  let start = 0;
  for (const cut of [...new Set(cuts.map((c) => c % (buffer.length + 1)))].sort((a, b) => a - b)) {
    decoder.push(buffer.subarray(start, cut));
    start = cut;
  }
  decoder.push(buffer.subarray(start));
  return { events, decoder };
}

const codesOf = (events: Event[]): string[] => events.map((e) => ('error' in e ? e.error : 'frame'));

/** Bytes that are mostly JSON's punctuation, separators and UTF-8 edge bytes: a decoder's hard cases. */
const hostileBytes = fc.array(
  fc.oneof(
    fc.integer({ min: 0, max: 255 }),
    fc.constantFrom(...Buffer.from('{}[]":,\\\r\n0e-'), 0xc0, 0xe2, 0xed, 0xf0, 0xf4, 0x80, 0xbf, 0xff),
  ),
  { maxLength: 400 },
);
const cutsArb = fc.array(fc.nat(), { maxLength: 24 });

describe('FrameDecoder, properties', () => {
  it('decodes any sequence of objects, split anywhere, to those objects in order', () => {
    const objectArb = fc.dictionary(
      fc.string({ unit: 'binary', maxLength: 6 }),
      fc.jsonValue({ maxDepth: 4, depthSize: 'small' }),
      { maxKeys: 5 },
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(objectArb, fc.constantFrom('\r', '\n', '\r\n', '\r\r\n')), { maxLength: 8 }),
        cutsArb,
        (frames, cuts) => {
          const text = frames.map(([value, sep]) => JSON.stringify(value) + sep).join('');
          const { events } = decode(Buffer.from(text), cuts, 1024 * 1024);
          // Through JSON and back: -0 is 0 and undefined is gone on the wire, for the decoder too.
          expect(events).toEqual(frames.map(([value]) => ({ frame: JSON.parse(JSON.stringify(value)) as unknown })));
        },
      ),
      { numRuns: 150 },
    );
  });

  it('never throws on any bytes in any split; every error has a decoder code and a short printable excerpt', () => {
    fc.assert(
      fc.property(hostileBytes, cutsArb, fc.integer({ min: 64, max: 512 }), (bytes, cuts, max) => {
        const { events, decoder } = decode(Uint8Array.from(bytes), cuts, max);
        for (const event of events) {
          if (!('error' in event)) continue;
          expect(DECODER_CODES).toContain(event.error);
          expect(event.excerpt.length).toBeLessThanOrEqual(64);
          expect(event.excerpt).toMatch(PRINTABLE_EXCERPT);
        }
        // Limits hold while bytes arrive: never more than the limit is held back.
        expect(decoder.bufferedBytes).toBeLessThanOrEqual(max);
      }),
      { numRuns: 1000 },
    );
  });

  it('gives the same frames and error codes whatever the split, for any bytes and a small limit', () => {
    fc.assert(
      fc.property(hostileBytes, cutsArb, (bytes, cuts) => {
        const input = Uint8Array.from(bytes);
        expect(codesOf(decode(input, cuts, 64).events)).toEqual(codesOf(decode(input, [], 64).events));
      }),
      { numRuns: 1000 },
    );
  });

  it('decodes a good frame after any garbage once a separator ends the garbage', () => {
    const good = { type: 'heartbeat', node: 'n', seq: 7, msg: 'after the garbage' };
    fc.assert(
      fc.property(hostileBytes, cutsArb, (garbage, cuts) => {
        const bytes = Buffer.concat([Buffer.from(garbage), Buffer.from(`\r${JSON.stringify(good)}\r`)]);
        const { events } = decode(bytes, cuts, 128);
        expect(events[events.length - 1]).toEqual({ frame: good });
      }),
      { numRuns: 1000 },
    );
  });

  it(`refuses nesting beyond ${DEFAULT_MAX_FRAME_DEPTH} levels, whatever surrounds it, and never parses it`, () => {
    fc.assert(
      fc.property(
        fc.integer({ min: DEFAULT_MAX_FRAME_DEPTH, max: 3000 }),
        fc.constantFrom('[', '{"a":'),
        fc.string({ maxLength: 20 }),
        cutsArb,
        (depth, opener, tail, cuts) => {
          const closer = opener === '[' ? ']' : '}';
          const inner = opener === '[' ? '' : '1';
          const deep = `{"msg":${JSON.stringify(tail)},"x":${opener.repeat(depth)}${inner}${closer.repeat(depth)}}`;
          const { events } = decode(Buffer.from(deep + '\r'), cuts, 1024 * 1024);
          expect(codesOf(events)).toEqual(['PICLUSTER_ERR_FRAME_TOO_DEEP']);
        },
      ),
      { numRuns: 200 },
    );
  });
});
