/**
 * SPDY/3.1 framing, as much of it as a Kubernetes streaming client speaks: the frame layout,
 * reading frames out of a byte stream, writing them, and the (uncompressed) header block.
 *
 * Written here rather than taken from npm: `spdy-transport` (the maintained-looking package,
 * last released 2018) enforces SPDY/3.1 flow control with a 64 KiB initial window, but
 * Kubernetes' client side (moby/spdystream) never sends WINDOW_UPDATE or SETTINGS, so a server
 * that honours windows stalls after 64 KiB towards the client. kubelet's own server is
 * spdystream too and ignores flow control; so does this one. Malformed input is a
 * {@link GantryError} (InvalidArgument: the peer's fault), never skipped.
 */
import { GantryError } from '../../errors.js';

/** The SPDY version this module speaks. */
export const SPDY_VERSION = 3;

/** Control frame types (SPDY/3 section 2.6). */
export const FrameType = {
  SynStream: 1,
  SynReply: 2,
  RstStream: 3,
  Settings: 4,
  Ping: 6,
  GoAway: 7,
  Headers: 8,
  WindowUpdate: 9,
} as const;

/** The FIN flag, on DATA frames and on SYN_STREAM / SYN_REPLY / HEADERS. */
export const FLAG_FIN = 0x01;
/** SYN_STREAM: the sender will send nothing on this stream. */
export const FLAG_UNIDIRECTIONAL = 0x02;

/** RST_STREAM status codes used here. */
export const RstStatus = { ProtocolError: 1, InvalidStream: 2, RefusedStream: 3, Cancel: 5, InternalError: 6 } as const;

/** The largest frame payload accepted; far above what any client sends, it bounds memory. */
export const MAX_FRAME_LENGTH = 16 * 2 ** 20;

/** A parsed frame; header blocks stay compressed (they share one zlib context per direction). */
export type Frame =
  | { type: 'data'; streamId: number; flags: number; data: Buffer }
  | { type: 'synStream'; streamId: number; associatedId: number; priority: number; flags: number; headerBlock: Buffer }
  | { type: 'synReply'; streamId: number; flags: number; headerBlock: Buffer }
  | { type: 'headers'; streamId: number; flags: number; headerBlock: Buffer }
  | { type: 'rstStream'; streamId: number; status: number }
  | { type: 'settings'; flags: number; entries: { id: number; flags: number; value: number }[] }
  | { type: 'ping'; id: number }
  | { type: 'goAway'; lastGoodStreamId: number; status: number }
  | { type: 'windowUpdate'; streamId: number; delta: number }
  | { type: 'unknown'; frameType: number };

function protocolError(message: string): GantryError {
  return new GantryError('InvalidArgument', `SPDY: ${message}`);
}

/**
 * Cuts a byte stream into frames. Push bytes as they arrive; {@link next} returns a whole frame
 * or undefined when more bytes are needed.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;

  /** Appends bytes read from the connection. */
  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /** The next complete frame, or undefined. Throws on a malformed frame. */
  next(): Frame | undefined {
    if (this.buffered < 8) return undefined;
    const head = this.peek(8);
    const length = head.readUIntBE(5, 3);
    if (length > MAX_FRAME_LENGTH) throw protocolError(`frame of ${length} bytes exceeds ${MAX_FRAME_LENGTH}`);
    if (this.buffered < 8 + length) return undefined;
    const whole = this.take(8 + length);
    const flags = whole[4]!;
    const body = whole.subarray(8);
    if ((whole[0]! & 0x80) === 0) return { type: 'data', streamId: whole.readUInt32BE(0) & 0x7fffffff, flags, data: body };
    const version = whole.readUInt16BE(0) & 0x7fff;
    if (version !== SPDY_VERSION) throw protocolError(`version ${version} is not ${SPDY_VERSION}`);
    return parseControl(whole.readUInt16BE(2), flags, body);
  }

  private peek(n: number): Buffer {
    if (this.chunks[0]!.length < n) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0]!.subarray(0, n);
  }

  private take(n: number): Buffer {
    if (this.chunks[0]!.length < n) this.chunks = [Buffer.concat(this.chunks)];
    const first = this.chunks[0]!;
    const out = first.subarray(0, n);
    if (first.length === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.buffered -= n;
    return out;
  }
}

function need(body: Buffer, n: number, what: string): void {
  if (body.length < n) throw protocolError(`${what} frame of ${body.length} bytes is shorter than ${n}`);
}

function parseControl(type: number, flags: number, body: Buffer): Frame {
  switch (type) {
    case FrameType.SynStream:
      need(body, 10, 'SYN_STREAM');
      return {
        type: 'synStream',
        streamId: body.readUInt32BE(0) & 0x7fffffff,
        associatedId: body.readUInt32BE(4) & 0x7fffffff,
        priority: body[8]! >> 5,
        flags,
        headerBlock: body.subarray(10),
      };
    case FrameType.SynReply:
      need(body, 4, 'SYN_REPLY');
      return { type: 'synReply', streamId: body.readUInt32BE(0) & 0x7fffffff, flags, headerBlock: body.subarray(4) };
    case FrameType.Headers:
      need(body, 4, 'HEADERS');
      return { type: 'headers', streamId: body.readUInt32BE(0) & 0x7fffffff, flags, headerBlock: body.subarray(4) };
    case FrameType.RstStream:
      need(body, 8, 'RST_STREAM');
      return { type: 'rstStream', streamId: body.readUInt32BE(0) & 0x7fffffff, status: body.readUInt32BE(4) };
    case FrameType.Settings: {
      need(body, 4, 'SETTINGS');
      const count = body.readUInt32BE(0);
      need(body, 4 + count * 8, 'SETTINGS');
      const entries = [];
      for (let i = 0; i < count; i++) {
        const at = 4 + i * 8;
        entries.push({ flags: body[at]!, id: body.readUIntBE(at + 1, 3), value: body.readUInt32BE(at + 4) });
      }
      return { type: 'settings', flags, entries };
    }
    case FrameType.Ping:
      need(body, 4, 'PING');
      return { type: 'ping', id: body.readUInt32BE(0) };
    case FrameType.GoAway:
      need(body, 4, 'GOAWAY');
      // SPDY/2-style GOAWAYs carry no status; spdystream sends the SPDY/3 form with one.
      return { type: 'goAway', lastGoodStreamId: body.readUInt32BE(0) & 0x7fffffff, status: body.length >= 8 ? body.readUInt32BE(4) : 0 };
    case FrameType.WindowUpdate:
      need(body, 8, 'WINDOW_UPDATE');
      return { type: 'windowUpdate', streamId: body.readUInt32BE(0) & 0x7fffffff, delta: body.readUInt32BE(4) & 0x7fffffff };
    default:
      // The spec says to ignore control frames of unknown type.
      return { type: 'unknown', frameType: type };
  }
}

function controlFrame(type: number, flags: number, body: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt16BE(0x8000 | SPDY_VERSION, 0);
  head.writeUInt16BE(type, 2);
  head[4] = flags;
  head.writeUIntBE(body.length, 5, 3);
  return Buffer.concat([head, body]);
}

/** A DATA frame; `data` must be at most {@link MAX_FRAME_LENGTH} bytes. */
export function dataFrame(streamId: number, data: Buffer, fin = false): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(streamId & 0x7fffffff, 0);
  head[4] = fin ? FLAG_FIN : 0;
  head.writeUIntBE(data.length, 5, 3);
  return data.length === 0 ? head : Buffer.concat([head, data]);
}

/** A SYN_REPLY carrying an already compressed header block. */
export function synReplyFrame(streamId: number, headerBlock: Buffer, fin = false): Buffer {
  const id = Buffer.alloc(4);
  id.writeUInt32BE(streamId & 0x7fffffff, 0);
  return controlFrame(FrameType.SynReply, fin ? FLAG_FIN : 0, Buffer.concat([id, headerBlock]));
}

/** A SYN_STREAM (for clients; unit tests play one). */
export function synStreamFrame(streamId: number, headerBlock: Buffer, opts: { fin?: boolean; associatedId?: number; priority?: number } = {}): Buffer {
  const body = Buffer.alloc(10);
  body.writeUInt32BE(streamId & 0x7fffffff, 0);
  body.writeUInt32BE((opts.associatedId ?? 0) & 0x7fffffff, 4);
  body[8] = ((opts.priority ?? 0) & 0x7) << 5;
  return controlFrame(FrameType.SynStream, opts.fin ? FLAG_FIN : 0, Buffer.concat([body, headerBlock]));
}

/** A RST_STREAM. */
export function rstStreamFrame(streamId: number, status: number): Buffer {
  const body = Buffer.alloc(8);
  body.writeUInt32BE(streamId & 0x7fffffff, 0);
  body.writeUInt32BE(status, 4);
  return controlFrame(FrameType.RstStream, 0, body);
}

/** A PING (the answer to a ping echoes its id). */
export function pingFrame(id: number): Buffer {
  const body = Buffer.alloc(4);
  body.writeUInt32BE(id >>> 0, 0);
  return controlFrame(FrameType.Ping, 0, body);
}

/** A GOAWAY. */
export function goAwayFrame(lastGoodStreamId: number, status = 0): Buffer {
  const body = Buffer.alloc(8);
  body.writeUInt32BE(lastGoodStreamId & 0x7fffffff, 0);
  body.writeUInt32BE(status, 4);
  return controlFrame(FrameType.GoAway, 0, body);
}

/** Header names and values; a name may repeat (SPDY joins repeated values with NUL). */
export type HeaderList = Record<string, string[]>;

/** Serializes headers into an uncompressed SPDY/3 header block (names lower-cased, as required). */
export function encodeHeaderBlock(headers: HeaderList): Buffer {
  const parts: Buffer[] = [];
  const names = Object.keys(headers);
  const count = Buffer.alloc(4);
  count.writeUInt32BE(names.length, 0);
  parts.push(count);
  for (const name of names) {
    for (const text of [name.toLowerCase(), headers[name]!.join('\0')]) {
      const bytes = Buffer.from(text, 'utf8');
      const len = Buffer.alloc(4);
      len.writeUInt32BE(bytes.length, 0);
      parts.push(len, bytes);
    }
  }
  return Buffer.concat(parts);
}

/** Parses an uncompressed header block; names come back lower-cased. */
export function decodeHeaderBlock(block: Buffer): HeaderList {
  const out: HeaderList = {};
  let at = 0;
  const u32 = (): number => {
    if (at + 4 > block.length) throw protocolError('header block ends inside a length');
    const v = block.readUInt32BE(at);
    at += 4;
    return v;
  };
  const str = (): string => {
    const n = u32();
    if (at + n > block.length) throw protocolError(`header block ends inside a ${n}-byte string`);
    const s = block.toString('utf8', at, at + n);
    at += n;
    return s;
  };
  const count = u32();
  for (let i = 0; i < count; i++) {
    const name = str().toLowerCase();
    const values = str().split('\0');
    out[name] = [...(out[name] ?? []), ...values];
  }
  return out;
}
