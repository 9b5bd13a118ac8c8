import fc from 'fast-check';
import type { ProtocolError } from '../../src/common';
import { DEFAULT_MAX_FRAME_DEPTH, FrameDecoder, encodeFrame, excerptOf } from '../../src/protocol';
import { nestsDeeperThan } from '../../src/protocol/frame';

type Event = { frame: Record<string, unknown> } | { error: string };

function collect(maxFrameBytes?: number): { decoder: FrameDecoder; events: Event[] } {
  const events: Event[] = [];
  const decoder = new FrameDecoder(
    {
      frame: (value) => events.push({ frame: value }),
      error: (error: ProtocolError) => events.push({ error: error.code }),
    },
    maxFrameBytes === undefined ? {} : { maxFrameBytes },
  );
  return { decoder, events };
}

function decodeInPieces(bytes: Buffer, cuts: number[], maxFrameBytes?: number): Event[] {
  const { decoder, events } = collect(maxFrameBytes);
  let start = 0;
  for (const cut of [...new Set(cuts)].sort((a, b) => a - b)) {
    decoder.push(bytes.subarray(start, cut));
    start = cut;
  }
  decoder.push(bytes.subarray(start));
  return events;
}

const sample = [
  { msg: 'Hello World, I am client 1' },
  { type: 'heartbeat', node: 'slave-1', seq: 2, msg: 'I am still alive, client: slave-1' },
  { msg: 'ünïcödé ✓ 𝄞 emoji 🎉' },
];
const wire = Buffer.from(sample.map((m) => encodeFrame(m)).join(''));

describe('FrameDecoder', () => {
  it('decodes frames ended by \\r, the seed format', () => {
    expect(decodeInPieces(wire, [])).toEqual(sample.map((frame) => ({ frame })));
  });

  it('decodes the same frames one byte at a time, multi-byte characters split across pieces', () => {
    const cuts = Array.from({ length: wire.length }, (_, i) => i + 1);
    expect(decodeInPieces(wire, cuts)).toEqual(sample.map((frame) => ({ frame })));
  });

  it('accepts \\n and \\r\\n separators and skips empty frames', () => {
    const bytes = Buffer.from('{"a":1}\n{"b":2}\r\n\r\n\n{"c":3}\r\r');
    expect(decodeInPieces(bytes, [])).toEqual([{ frame: { a: 1 } }, { frame: { b: 2 } }, { frame: { c: 3 } }]);
  });

  it('holds an incomplete frame until its separator arrives', () => {
    const { decoder, events } = collect();
    decoder.push(Buffer.from('{"msg":"par'));
    expect(events).toEqual([]);
    expect(decoder.bufferedBytes).toBe(11);
    decoder.push(Buffer.from('tial"}\r'));
    expect(events).toEqual([{ frame: { msg: 'partial' } }]);
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('gives the same frames and errors for any split of the stream (property)', () => {
    const frame = fc.oneof(
      fc
        .dictionary(fc.string({ maxLength: 8 }), fc.oneof(fc.string({ unit: 'grapheme' }), fc.integer()), {
          maxKeys: 4,
        })
        .map((o) => JSON.stringify(o)),
      fc.constantFrom('not json', '[1,2]', '42', '"str"', '{"unterminated"', '\u00ff\u00fe'),
    );
    const stream = fc.tuple(fc.array(frame, { maxLength: 12 }), fc.constantFrom('\r', '\n', '\r\n'));
    fc.assert(
      fc.property(stream, fc.array(fc.nat(), { maxLength: 20 }), ([frames, sep], rawCuts) => {
        const bytes = Buffer.from(frames.map((f) => f + sep).join(''));
        const whole = decodeInPieces(bytes, []);
        const cuts = rawCuts.map((c) => c % (bytes.length + 1));
        expect(decodeInPieces(bytes, cuts)).toEqual(whole);
        const nonEmpty = frames.filter((f) => f !== '');
        expect(whole).toHaveLength(nonEmpty.length);
      }),
      { numRuns: 300 },
    );
  });

  describe('errors have stable codes and the decoder goes on', () => {
    it('invalid JSON', () => {
      expect(decodeInPieces(Buffer.from('{nope\r{"ok":1}\r'), [])).toEqual([
        { error: 'PICLUSTER_ERR_INVALID_JSON' },
        { frame: { ok: 1 } },
      ]);
    });

    it('JSON that is not an object', () => {
      expect(decodeInPieces(Buffer.from('[1]\r42\rnull\r"s"\r{"ok":1}\r'), [])).toEqual([
        { error: 'PICLUSTER_ERR_NOT_AN_OBJECT' },
        { error: 'PICLUSTER_ERR_NOT_AN_OBJECT' },
        { error: 'PICLUSTER_ERR_NOT_AN_OBJECT' },
        { error: 'PICLUSTER_ERR_NOT_AN_OBJECT' },
        { frame: { ok: 1 } },
      ]);
    });

    it('invalid UTF-8 that breaks the JSON', () => {
      const bytes = Buffer.concat([
        Buffer.from('{"msg":'),
        Buffer.from([0xc3, 0x28, 0xff]),
        Buffer.from('}\r{"ok":1}\r'),
      ]);
      expect(decodeInPieces(bytes, [])).toEqual([{ error: 'PICLUSTER_ERR_INVALID_UTF8' }, { frame: { ok: 1 } }]);
    });

    it('binary garbage', () => {
      const garbage = Buffer.from(
        Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256).filter((b) => b !== 13 && b !== 10),
      );
      const events = decodeInPieces(Buffer.concat([garbage, Buffer.from('\r{"ok":1}\r')]), [100, 1000]);
      expect(events).toEqual([{ error: 'PICLUSTER_ERR_INVALID_UTF8' }, { frame: { ok: 1 } }]);
    });
  });

  describe('maximum frame size', () => {
    it('accepts a frame of exactly the limit and refuses one byte more', () => {
      const exact = `{"m":"${'x'.repeat(64 - 8)}"}`;
      expect(Buffer.byteLength(exact)).toBe(64);
      expect(decodeInPieces(Buffer.from(exact + '\r'), [], 64)).toEqual([{ frame: { m: 'x'.repeat(56) } }]);
      const over = `{"m":"${'x'.repeat(57)}"}`;
      expect(decodeInPieces(Buffer.from(over + '\r{"ok":1}\r'), [], 64)).toEqual([
        { error: 'PICLUSTER_ERR_FRAME_TOO_LARGE' },
        { frame: { ok: 1 } },
      ]);
    });

    it('refuses an oversized frame while it arrives, holding no more than the limit', () => {
      const { decoder, events } = collect(1024);
      const piece = Buffer.alloc(512, 0x61);
      decoder.push(piece);
      decoder.push(piece);
      expect(events).toEqual([]);
      decoder.push(piece); // 1536 bytes and no separator yet
      expect(events).toEqual([{ error: 'PICLUSTER_ERR_FRAME_TOO_LARGE' }]);
      for (let i = 0; i < 100; i++) decoder.push(piece);
      expect(decoder.bufferedBytes).toBe(0);
      expect(events).toHaveLength(1);
      decoder.push(Buffer.from('tail of the huge frame\r{"ok":1}\r'));
      expect(events).toEqual([{ error: 'PICLUSTER_ERR_FRAME_TOO_LARGE' }, { frame: { ok: 1 } }]);
    });

    it('counts bytes, not characters', () => {
      const threeByteChars = `{"m":"${'✓'.repeat(20)}"}`; // 28 characters, 68 bytes
      expect(decodeInPieces(Buffer.from(threeByteChars + '\r'), [], 64)).toEqual([
        { error: 'PICLUSTER_ERR_FRAME_TOO_LARGE' },
      ]);
      const cuts = Array.from({ length: 80 }, (_, i) => i);
      expect(decodeInPieces(Buffer.from(threeByteChars + '\r{"ok":1}\r'), cuts, 64)).toEqual([
        { error: 'PICLUSTER_ERR_FRAME_TOO_LARGE' },
        { frame: { ok: 1 } },
      ]);
    });

    it('refuses an oversized tail after a frame at once', () => {
      const { decoder, events } = collect(64);
      decoder.push(Buffer.from('{"ok":1}\r' + 'a'.repeat(100)));
      expect(events).toEqual([{ frame: { ok: 1 } }, { error: 'PICLUSTER_ERR_FRAME_TOO_LARGE' }]);
      expect(decoder.bufferedBytes).toBe(0);
      decoder.push(Buffer.from('aaa\r{"ok":2}\r'));
      expect(events).toEqual([{ frame: { ok: 1 } }, { error: 'PICLUSTER_ERR_FRAME_TOO_LARGE' }, { frame: { ok: 2 } }]);
    });

    it('keeps a character cut at the chunk end for the frame after a refused one', () => {
      const { decoder, events } = collect(64);
      const euro = Buffer.from('€');
      const big = Buffer.from(`{"msg":"${'x'.repeat(100)}"}`);
      decoder.push(Buffer.concat([big, Buffer.from('\r{"msg":"'), euro.subarray(0, 2)]));
      decoder.push(Buffer.concat([euro.subarray(2), Buffer.from('"}\r')]));
      expect(events).toEqual([{ error: 'PICLUSTER_ERR_FRAME_TOO_LARGE' }, { frame: { msg: '€' } }]);
    });

    it('counts undecodable bytes as the bytes received, not as the U+FFFD they became', () => {
      const frame = Buffer.concat([Buffer.from('{"msg":"'), Buffer.alloc(40, 0xff), Buffer.from('"}')]); // 50 bytes
      const whole = decodeInPieces(Buffer.concat([frame, Buffer.from('\r')]), [], 64);
      const split = decodeInPieces(Buffer.concat([frame, Buffer.from('\r')]), [10, 30], 64);
      for (const events of [whole, split]) expect(events).toEqual([{ frame: { msg: '\uFFFD'.repeat(40) } }]);
    });

    it('defaults to 1 MiB', () => {
      const { decoder } = collect();
      expect(decoder.maxFrameBytes).toBe(1024 * 1024);
    });
  });

  it('end() delivers a last frame that lacks only its separator', () => {
    const { decoder, events } = collect();
    decoder.push(Buffer.from('{"msg":"last"}'));
    decoder.end();
    expect(events).toEqual([{ frame: { msg: 'last' } }]);
  });
});

describe('maximum nesting depth', () => {
  /** Depth of arrays and objects in a JSON value, walked without recursion. */
  function depthOf(value: unknown): number {
    let deepest = 0;
    const stack: Array<[unknown, number]> = [[value, 0]];
    while (stack.length > 0) {
      const [v, d] = stack.pop()!;
      if (typeof v !== 'object' || v === null) continue;
      deepest = Math.max(deepest, d + 1);
      for (const child of Object.values(v)) stack.push([child, d + 1]);
    }
    return deepest;
  }

  it('refuses a 50,000-deep frame before parsing it, and goes on with the next frame', () => {
    const deep = `{"msg": ${'['.repeat(50_000)}${']'.repeat(50_000)}}\r`;
    const { decoder, events } = collect();
    decoder.push(Buffer.from(deep + encodeFrame({ msg: 'after' })));
    expect(events).toEqual([{ error: 'PICLUSTER_ERR_FRAME_TOO_DEEP' }, { frame: { msg: 'after' } }]);
  });

  it(`accepts ${DEFAULT_MAX_FRAME_DEPTH} levels by default and refuses one more`, () => {
    const nested = (levels: number): string => `${'{"a":'.repeat(levels - 1)}{}${'}'.repeat(levels - 1)}\r`;
    const { decoder, events } = collect();
    decoder.push(Buffer.from(nested(DEFAULT_MAX_FRAME_DEPTH) + nested(DEFAULT_MAX_FRAME_DEPTH + 1)));
    expect(events.map((e) => ('error' in e ? e.error : 'frame'))).toEqual(['frame', 'PICLUSTER_ERR_FRAME_TOO_DEEP']);
  });

  it('does not count brackets inside strings, escaped quotes included', () => {
    expect(nestsDeeperThan(JSON.stringify({ msg: '[[[{{{"\\"[[[' }), 2)).toBe(false);
    expect(nestsDeeperThan('{"a":"\\"[[["}', 1)).toBe(false);
    expect(nestsDeeperThan('{"a":[[1]]}', 2)).toBe(true);
  });

  it('measures the depth of any JSON value exactly (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), fc.integer({ min: 1, max: 8 }), (value, max) => {
        expect(nestsDeeperThan(JSON.stringify(value), max)).toBe(depthOf(value) > max);
      }),
    );
  });
});

describe('excerptOf', () => {
  it('escapes control, backslash and non-ASCII characters and shortens long input', () => {
    expect(excerptOf('A\u0000\\\u00ff\n\u2603')).toBe('A\\x00\\x5c\\xff\\x0a\\u2603');
    expect(excerptOf('a'.repeat(100))).toBe('a'.repeat(63) + '…');
    expect(excerptOf('a'.repeat(64))).toBe('a'.repeat(64));
    // The limit holds for the escaped output, not the input.
    const escaped = excerptOf('\u0001'.repeat(100));
    expect(escaped.length).toBeLessThanOrEqual(64);
    expect(escaped.endsWith('…')).toBe(true);
  });
});
