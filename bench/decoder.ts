import { performance } from 'node:perf_hooks';
import { StringDecoder } from 'node:string_decoder';
import { FrameDecoder, encodeFrame, heartbeatText, toFrame } from '../src/protocol';
import { fmt, median } from './stats';

const PIECE = 512;

function heartbeatFrames(count: number): string[] {
  return Array.from({ length: count }, (_, i) =>
    encodeFrame(
      toFrame({
        type: 'heartbeat',
        node: `slave-${i % 50}`,
        seq: i + 1,
        ts: 1764000000000 + i,
        msg: heartbeatText(`slave-${i % 50}`),
      }),
    ),
  );
}

function pieces(bytes: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size));
  return out;
}

function timeIt(fn: () => void, runs: number): number {
  return timeEach([fn], runs)[0]!;
}

/** Median time of each function, run in turn (ABAB…) so drift and GC debt hit them alike. */
function timeEach(fns: Array<() => void>, runs: number): number[] {
  for (const fn of fns) fn(); // warm-up
  const times = fns.map((): number[] => []);
  for (let i = 0; i < runs; i++) {
    fns.forEach((fn, k) => {
      const t0 = performance.now();
      fn();
      times[k]!.push(performance.now() - t0);
    });
  }
  return times.map(median);
}

/**
 * The least any decoder of these pieces must do: bytes to text, cut at `\r`, `JSON.parse`.
 * No `\n`, no size limit, no error handling: a floor to read the decoder's ratio against.
 */
function minimalSplitter(onValue: (value: { seq: number }) => void): (chunk: Buffer) => void {
  const utf8 = new StringDecoder('utf8');
  let pending = '';
  return (chunk) => {
    const text = utf8.write(chunk);
    let position = 0;
    for (let cr = text.indexOf('\r'); cr !== -1; cr = text.indexOf('\r', position)) {
      onValue(JSON.parse(position === 0 ? pending + text.slice(0, cr) : text.slice(position, cr)) as { seq: number });
      position = cr + 1;
    }
    pending = position === 0 ? pending + text : text.slice(position);
  };
}

/** Decoder frames/s vs bare JSON.parse of the same frames, already split into strings, and vs the floor. */
export function decoderThroughput(
  frameCount = 200_000,
  runs = 15,
): { decoderPerSec: number; parsePerSec: number; ratio: number; floorRatio: number; frameBytes: number } {
  const frames = heartbeatFrames(frameCount);
  const texts = frames.map((f) => f.slice(0, -1));
  const chunks = pieces(Buffer.from(frames.join('')), PIECE);
  let sink = 0;
  const [parseMs, decodeMs, floorMs] = timeEach(
    [
      () => {
        for (const text of texts) sink += (JSON.parse(text) as { seq: number }).seq;
      },
      () => {
        const decoder = new FrameDecoder({ frame: (v) => (sink += v.seq as number), error: () => undefined });
        for (const chunk of chunks) decoder.push(chunk);
      },
      () => {
        const push = minimalSplitter((v) => (sink += v.seq));
        for (const chunk of chunks) push(chunk);
      },
    ],
    runs,
  ) as [number, number, number];
  if (sink === 0) throw new Error('nothing decoded');
  return {
    decoderPerSec: (frameCount / decodeMs) * 1000,
    parsePerSec: (frameCount / parseMs) * 1000,
    ratio: parseMs / decodeMs,
    floorRatio: parseMs / floorMs,
    frameBytes: Buffer.byteLength(frames[0]!),
  };
}

/** One big frame in 512-byte pieces: our decoder vs the seed's concatenate-and-split-again approach. */
export function largeFrame(mib: number, runs = 5, seedToo = true): { decoderMs: number; seedMs: number | undefined } {
  const body = JSON.stringify({ type: 'blob', node: 'n', seq: 1, msg: 'x'.repeat(mib * 1024 * 1024 - 64) });
  const chunks = pieces(Buffer.from(body + '\r'), PIECE);
  const decoderMs = timeIt(() => {
    let got = 0;
    const decoder = new FrameDecoder(
      {
        frame: () => (got += 1),
        error: (e) => {
          throw e;
        },
      },
      { maxFrameBytes: (mib + 1) * 1024 * 1024 },
    );
    for (const chunk of chunks) decoder.push(chunk);
    if (got !== 1) throw new Error('frame not decoded');
  }, runs);
  if (!seedToo) return { decoderMs, seedMs: undefined };
  const seedMs = timeIt(() => {
    // The seed: append each piece to a string and split the whole buffer again.
    let buffered = '';
    let got = 0;
    for (const chunk of chunks) {
      buffered += chunk.toString('latin1');
      const parts = buffered.split('\r');
      if (parts.length > 1) {
        for (const part of parts.slice(0, -1)) got += JSON.parse(part) ? 1 : 0;
        buffered = parts.at(-1)!;
      }
    }
    if (got !== 1) throw new Error('frame not decoded');
  }, 1);
  return { decoderMs, seedMs };
}

export function reportDecoder(): string[] {
  const out: string[] = [];
  const t = decoderThroughput();
  out.push(`decoder, ${t.frameBytes}-byte heartbeat frames in ${PIECE}-byte pieces:`);
  out.push(`  bare JSON.parse   ${fmt(t.parsePerSec)} frames/s`);
  out.push(
    `  FrameDecoder      ${fmt(t.decoderPerSec)} frames/s   ratio ${fmt(t.ratio, 2)} × JSON.parse (target ≥ 0.85)`,
  );
  out.push(`  minimal splitter  ratio ${fmt(t.floorRatio, 2)} × JSON.parse (text, cut at \\r, parse: no checks)`);
  out.push(`one large frame in ${PIECE}-byte pieces (time per MiB constant = linear):`);
  for (const mib of [1, 2, 4, 8, 16]) {
    // The seed's approach is quadratic: past 2 MiB it takes minutes, so it is left out there.
    const { decoderMs, seedMs } = largeFrame(mib, 5, mib <= 2);
    const seed =
      seedMs === undefined ? '' : `   seed-style split ${fmt(seedMs, 0)} ms (${fmt(seedMs / mib, 0)} ms/MiB)`;
    out.push(
      `  ${String(mib).padStart(2)} MiB  FrameDecoder ${fmt(decoderMs, 1)} ms (${fmt(decoderMs / mib, 2)} ms/MiB)${seed}`,
    );
  }
  return out;
}
