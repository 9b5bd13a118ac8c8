import { StringDecoder } from 'node:string_decoder';
import { ProtocolError } from '../common/errors';

const CR = 0x0d;
const LF = 0x0a;

/** The seed's separator: a frame is one JSON object followed by `\r`. */
export const FRAME_SEPARATOR = '\r';
export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;
/** Deepest nesting of arrays and objects a frame may have; a message needs 1. */
export const DEFAULT_MAX_FRAME_DEPTH = 64;
const EXCERPT_CHARS = 64;

/** Encodes one value as a frame. */
export function encodeFrame(value: object): string {
  return JSON.stringify(value) + FRAME_SEPARATOR;
}

/** Where the decoder delivers what it finds, in the order the bytes arrived. */
export interface FrameSink {
  /** A frame that parsed to a JSON object. */
  frame(value: Record<string, unknown>): void;
  /** A frame that was refused; decoding goes on with the next frame. */
  error(error: ProtocolError): void;
}

export interface FrameDecoderOptions {
  /** Largest frame accepted, in bytes, without its separator. Default 1 MiB. */
  maxFrameBytes?: number;
  /** Deepest nesting of arrays and objects accepted, checked before the frame is parsed. Default 64. */
  maxFrameDepth?: number;
}

/**
 * Whether a JSON text nests arrays and objects deeper than `maxDepth`,
 * looking at the text only. No peer's value then reaches a recursive routine
 * (a `JSON.stringify` of an excerpt, a formatter) deep enough to overflow the
 * stack. A text with no more openers than `maxDepth` cannot be deeper: two
 * native scans decide that for almost every frame.
 */
export function nestsDeeperThan(text: string, maxDepth: number): boolean {
  let openers = 0;
  for (const opener of ['{', '[']) {
    for (let i = text.indexOf(opener); i !== -1 && openers <= maxDepth; i = text.indexOf(opener, i + 1)) openers++;
  }
  if (openers <= maxDepth) return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (inString) {
      if (code === 0x5c)
        i++; // backslash: the next character is escaped
      else if (code === 0x22) inString = false;
    } else if (code === 0x22) {
      inString = true;
    } else if (code === 0x7b || code === 0x5b) {
      if (++depth > maxDepth) return true;
    } else if (code === 0x7d || code === 0x5d) {
      depth--;
    }
  }
  return false;
}

/**
 * A printable excerpt of at most `maxChars` characters: control, backslash and
 * non-ASCII characters are escaped, and `…` ends one that was cut.
 */
export function excerptOf(text: string, maxChars = EXCERPT_CHARS): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    const shown =
      code >= 0x20 && code < 0x7f && code !== 0x5c
        ? text[i]!
        : code < 0x100
          ? '\\x' + code.toString(16).padStart(2, '0')
          : '\\u' + code.toString(16).padStart(4, '0');
    if (out.length + shown.length > maxChars - (i + 1 < text.length ? 1 : 0)) return out + '…';
    out += shown;
  }
  return out;
}

/** The nearer of two separator positions, where -1 means none. */
function nearer(cr: number, lf: number): number {
  return cr === -1 ? lf : lf === -1 ? cr : Math.min(cr, lf);
}

/** Position of the first separator in a chunk, or -1; no byte is searched twice. */
function firstSeparator(chunk: Buffer): number {
  const cr = chunk.indexOf(CR);
  return nearer(cr, cr === -1 ? chunk.indexOf(LF) : chunk.subarray(0, cr).indexOf(LF));
}

/**
 * A streaming decoder for `\r`-separated JSON frames (also `\n` and `\r\n`).
 *
 * Bytes may arrive in any split, and each is handled a bounded number of
 * times: a chunk becomes text in one UTF-8 conversion (a `StringDecoder` keeps
 * the bytes of a character cut at the chunk's end for the next one), and an
 * incomplete frame is kept as text that grows by concatenation (a rope in V8)
 * and is flattened once, by `JSON.parse`. A 1 MiB frame in 512-byte pieces thus
 * costs linear time. Frame sizes are counted in bytes: a frame longer than
 * `maxFrameBytes` is refused as soon as it grows past the limit, and its bytes
 * are dropped up to the next separator.
 */
export class FrameDecoder {
  readonly maxFrameBytes: number;
  readonly maxFrameDepth: number;
  private utf8 = new StringDecoder('utf8');
  /** The incomplete frame's text, and its size in bytes. */
  private pending = '';
  private pendingBytes = 0;
  /** Inside an oversized frame: drop bytes until the next separator. */
  private discarding = false;

  constructor(
    private readonly sink: FrameSink,
    options: FrameDecoderOptions = {},
  ) {
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.maxFrameDepth = options.maxFrameDepth ?? DEFAULT_MAX_FRAME_DEPTH;
  }

  /** Bytes of an incomplete frame held back, waiting for its separator. */
  get bufferedBytes(): number {
    return this.pendingBytes;
  }

  push(chunk: Buffer): void {
    if (this.discarding) {
      const first = firstSeparator(chunk);
      if (first === -1) return;
      this.discarding = false;
      chunk = chunk.subarray(first + 1);
    }
    const text = this.utf8.write(chunk);
    let position = 0;
    let cr = text.indexOf('\r');
    let lf = text.indexOf('\n');
    for (;;) {
      // Both positions only move forward, so no character is searched twice.
      if (cr !== -1 && cr < position) cr = text.indexOf('\r', position);
      if (lf !== -1 && lf < position) lf = text.indexOf('\n', position);
      const stop = nearer(cr, lf);
      if (stop === -1) break;
      if (position === 0 && this.pendingBytes > 0) {
        this.completePending(text.slice(0, stop), () => firstSeparator(chunk));
      } else if (stop > position) {
        // A frame inside one chunk is no larger than the chunk: count its bytes only
        // when the chunk is larger than the limit (a limit below the socket's read size).
        const frame = text.slice(position, stop);
        if (chunk.length > this.maxFrameBytes && Buffer.byteLength(frame) > this.maxFrameBytes) {
          this.refuseOversized(frame, false);
        } else {
          this.parseFrame(frame);
        }
      }
      position = stop + 1;
    }
    if (position === 0) {
      this.grow(text, chunk.length);
      return;
    }
    // The bytes after the last separator, including those of a character cut at the
    // chunk's end that the StringDecoder holds: scanning back covers only the new
    // incomplete frame, so each byte is still looked at a bounded number of times.
    let last = chunk.length - 1;
    while (chunk[last] !== CR && chunk[last] !== LF) last--;
    this.pending = text.slice(position);
    this.pendingBytes = chunk.length - last - 1;
    if (this.pendingBytes > this.maxFrameBytes) {
      this.refuseOversized(this.pending, true);
      this.discarding = true;
    }
  }

  /** The stream ended: a last frame that lacks only its separator is still a frame. */
  end(): void {
    const rest = this.utf8.end();
    if (this.discarding) {
      this.discarding = false;
      return;
    }
    if (this.pendingBytes > 0) this.completePending(rest, () => 0);
  }

  /** A chunk without a separator: all of it belongs to the incomplete frame. */
  private grow(text: string, bytes: number): void {
    if (this.pendingBytes + bytes > this.maxFrameBytes) {
      this.refuseOversized(this.pending || text, true);
      this.discarding = true;
      return;
    }
    this.pending += text;
    this.pendingBytes += bytes;
  }

  /**
   * `tail` ends the incomplete frame; `tailBytes` counts its bytes, asked only
   * when the frame may be over the limit (undecodable bytes became 3-byte
   * U+FFFD, so the text's length in UTF-8 can overstate the bytes received).
   */
  private completePending(tail: string, tailBytes: () => number): void {
    const text = this.pending + tail;
    const bytes = this.pendingBytes;
    this.pending = '';
    this.pendingBytes = 0;
    if (bytes + tail.length * 3 > this.maxFrameBytes && bytes + tailBytes() > this.maxFrameBytes) {
      this.refuseOversized(text, false);
      return;
    }
    this.parseFrame(text);
  }

  private parseFrame(text: string): void {
    if (nestsDeeperThan(text, this.maxFrameDepth)) {
      this.sink.error(
        new ProtocolError(
          'PICLUSTER_ERR_FRAME_TOO_DEEP',
          `frame nests arrays and objects deeper than ${this.maxFrameDepth}`,
          excerptOf(text),
        ),
      );
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (cause) {
      // Undecodable bytes became U+FFFD; only on this error path is it worth telling them apart.
      const code = text.includes('\uFFFD') ? 'PICLUSTER_ERR_INVALID_UTF8' : 'PICLUSTER_ERR_INVALID_JSON';
      this.sink.error(new ProtocolError(code, 'frame is not valid JSON', excerptOf(text), { cause }));
      return;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.sink.error(
        new ProtocolError('PICLUSTER_ERR_NOT_AN_OBJECT', 'frame is JSON but not an object', excerptOf(text)),
      );
      return;
    }
    this.sink.frame(value as Record<string, unknown>);
  }

  /** `open`: the refused frame is the one still arriving, whose cut character the StringDecoder may hold. */
  private refuseOversized(head: string, open: boolean): void {
    this.pending = '';
    this.pendingBytes = 0;
    // Bytes of a character cut at the end of the refused frame must not leak into the next
    // one; a frame already complete leaves the held bytes to the frame after it.
    if (open) this.utf8 = new StringDecoder('utf8');
    this.sink.error(
      new ProtocolError('PICLUSTER_ERR_FRAME_TOO_LARGE', `frame exceeds ${this.maxFrameBytes} bytes`, excerptOf(head)),
    );
  }
}
