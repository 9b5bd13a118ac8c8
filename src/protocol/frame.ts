import { isUtf8 } from 'node:buffer';
import { ProtocolError, type ErrorCode } from '../common/errors';

const CR = 0x0d;
const LF = 0x0a;

/** The seed's separator: a frame is one JSON object followed by `\r`. */
export const FRAME_SEPARATOR = '\r';
export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;
const EXCERPT_CHARS = 64;

/** Encodes one value as a frame. */
export function encodeFrame(value: object): string {
  return JSON.stringify(value) + FRAME_SEPARATOR;
}

/** Where the decoder delivers what it finds, in the order the bytes arrived. */
export interface FrameSink {
  /** A frame that parsed to a JSON object. `bytes` excludes the separator. */
  frame(value: Record<string, unknown>, bytes: number): void;
  /** A frame that was refused; decoding goes on with the next frame. */
  error(error: ProtocolError): void;
}

export interface FrameDecoderOptions {
  /** Largest frame accepted, in bytes, without its separator. Default 1 MiB. */
  maxFrameBytes?: number;
}

/** A printable excerpt of raw bytes: control and non-ASCII bytes are escaped. */
export function excerptOf(bytes: Uint8Array, maxChars = EXCERPT_CHARS): string {
  let out = '';
  const end = Math.min(bytes.length, maxChars);
  for (let i = 0; i < end; i++) {
    const b = bytes[i]!;
    out += b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : '\\x' + b.toString(16).padStart(2, '0');
  }
  return bytes.length > maxChars ? out + '…' : out;
}

/**
 * A streaming decoder for `\r`-separated JSON frames (also `\n` and `\r\n`).
 *
 * Bytes may arrive in any split. Each byte is scanned once: the decoder
 * remembers the next separator positions in the current chunk and keeps an
 * incomplete frame as a list of chunk slices, joined once when the frame ends,
 * so a 1 MiB frame in 512-byte pieces costs linear time. A frame longer than
 * `maxFrameBytes` is refused as soon as it grows past the limit and its bytes
 * are discarded up to the next separator.
 */
export class FrameDecoder {
  readonly maxFrameBytes: number;
  private parts: Buffer[] = [];
  private partBytes = 0;
  /** Inside an oversized frame: drop bytes until the next separator. */
  private discarding = false;

  constructor(
    private readonly sink: FrameSink,
    options: FrameDecoderOptions = {},
  ) {
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  }

  /** Bytes of an incomplete frame held back, waiting for its separator. */
  get bufferedBytes(): number {
    return this.partBytes;
  }

  push(chunk: Buffer): void {
    const length = chunk.length;
    let start = 0;
    let nextCr = chunk.indexOf(CR);
    let nextLf = chunk.indexOf(LF);
    while (start < length) {
      // Both positions move forward only, so no byte is searched twice.
      if (nextCr !== -1 && nextCr < start) nextCr = chunk.indexOf(CR, start);
      if (nextLf !== -1 && nextLf < start) nextLf = chunk.indexOf(LF, start);
      const end = nextCr === -1 ? nextLf : nextLf === -1 ? nextCr : Math.min(nextCr, nextLf);
      if (end === -1) {
        this.hold(chunk, start, length);
        return;
      }
      this.complete(chunk, start, end);
      start = end + 1;
    }
  }

  /** The stream ended: a last frame that lacks only its separator is still a frame. */
  end(): void {
    if (this.discarding) {
      this.discarding = false;
      return;
    }
    if (this.partBytes === 0) return;
    const frame = Buffer.concat(this.parts, this.partBytes);
    this.parts = [];
    this.partBytes = 0;
    this.parse(frame);
  }

  private hold(chunk: Buffer, start: number, end: number): void {
    if (this.discarding) return;
    const bytes = end - start;
    if (this.partBytes + bytes > this.maxFrameBytes) {
      this.refuseOversized(chunk.subarray(start, end), false);
      return;
    }
    // A copy, so a few held bytes don't pin the whole socket chunk in memory.
    this.parts.push(Buffer.from(chunk.subarray(start, end)));
    this.partBytes += bytes;
  }

  private complete(chunk: Buffer, start: number, end: number): void {
    if (this.discarding) {
      this.discarding = false;
      return;
    }
    const bytes = this.partBytes + end - start;
    if (bytes > this.maxFrameBytes) {
      this.refuseOversized(chunk.subarray(start, end), true);
      return;
    }
    if (bytes === 0) return; // an empty frame, or the `\n` of `\r\n`
    let frame = chunk.subarray(start, end);
    if (this.partBytes > 0) {
      this.parts.push(frame);
      frame = Buffer.concat(this.parts, bytes);
      this.parts = [];
      this.partBytes = 0;
    }
    this.parse(frame);
  }

  private parse(frame: Buffer): void {
    let value: unknown;
    try {
      value = JSON.parse(frame.toString('utf8'));
    } catch (cause) {
      // Only now, on the error path, tell bad encoding from bad syntax.
      const code: ErrorCode = isUtf8(frame) ? 'PICLUSTER_ERR_INVALID_JSON' : 'PICLUSTER_ERR_INVALID_UTF8';
      this.sink.error(new ProtocolError(code, 'frame is not valid JSON', excerptOf(frame), { cause }));
      return;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.sink.error(
        new ProtocolError('PICLUSTER_ERR_NOT_AN_OBJECT', 'frame is JSON but not an object', excerptOf(frame)),
      );
      return;
    }
    this.sink.frame(value as Record<string, unknown>, frame.length);
  }

  private refuseOversized(tail: Buffer, separatorSeen: boolean): void {
    const head = this.parts[0] ?? tail;
    this.parts = [];
    this.partBytes = 0;
    this.discarding = !separatorSeen;
    this.sink.error(
      new ProtocolError('PICLUSTER_ERR_FRAME_TOO_LARGE', `frame exceeds ${this.maxFrameBytes} bytes`, excerptOf(head)),
    );
  }
}
