/**
 * The client side of kubectl's port-forward, as tests play it: the SPDY/3.1 upgrade (POST), the
 * websocket tunnel of SPDY (GET, Kubernetes' subprotocol), and a SPDY client session that opens
 * kubelet-style stream pairs (error, then data) per forwarded connection.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { Duplex } from 'node:stream';
import { HeaderCodec } from '../../src/api/spdy/compression.js';
import { dataFrame, encodeHeaderBlock, FLAG_FIN, type Frame, FrameReader, pingFrame, synStreamFrame } from '../../src/api/spdy/frames.js';
import { PORT_FORWARD_PROTOCOL } from '../../src/api/portforward.js';

/** Sends a SPDY upgrade (POST) for `path`; resolves with the socket after a 101, or the status and body. */
export function spdyUpgrade(port: number, path: string, headers: Record<string, string> = {}): Promise<{ code: number; body: string; sock: net.Socket }> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const hdrs = { Connection: 'Upgrade', Upgrade: 'SPDY/3.1', 'X-Stream-Protocol-Version': PORT_FORWARD_PROTOCOL, 'Content-Length': '0', ...headers };
    sock.write(`POST ${path} HTTP/1.1\r\nHost: x\r\n${Object.entries(hdrs).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`);
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const code = Number(/^HTTP\/1\.1 (\d+)/.exec(buf.toString('latin1'))?.[1]);
      if (code === 101) {
        sock.off('data', onData);
        if (buf.length > end + 4) sock.unshift(buf.subarray(end + 4));
        return resolve({ code, body: '', sock });
      }
      sock.on('end', () => resolve({ code, body: buf.subarray(end + 4).toString(), sock }));
    };
    sock.on('data', onData);
    sock.on('error', reject);
  });
}

/** The client half of SPDY, as the test plays kubectl. */
export class SpdyTestClient {
  private readonly reader = new FrameReader();
  private readonly deflate = new HeaderCodec('deflate');
  private readonly inflate = new HeaderCodec('inflate');
  private chain: Promise<void> = Promise.resolve();
  private nextId = 1;
  private readonly streams = new Map<number, { chunks: Buffer[]; replied: () => void; done: (how: 'fin' | 'reset') => void }>();
  private readonly pings = new Map<number, () => void>();
  goneAway = false;

  constructor(private readonly sock: Duplex) {
    sock.on('data', (d: Buffer) => {
      this.reader.push(d);
      for (let f = this.reader.next(); f; f = this.reader.next()) {
        const frame = f;
        this.chain = this.chain.then(() => this.handle(frame));
      }
    });
  }

  private async handle(f: Frame): Promise<void> {
    if (f.type === 'synReply') {
      await this.inflate.process(f.headerBlock);
      this.streams.get(f.streamId)?.replied();
    } else if (f.type === 'data') {
      const s = this.streams.get(f.streamId);
      s?.chunks.push(f.data);
      if (f.flags & FLAG_FIN) s?.done('fin');
    } else if (f.type === 'rstStream') this.streams.get(f.streamId)?.done('reset');
    else if (f.type === 'ping') this.pings.get(f.id)?.();
    else if (f.type === 'goAway') this.goneAway = true;
  }

  /** Opens a stream; resolves once the server replied. */
  async open(headers: Record<string, string>): Promise<{ id: number; write(b: Buffer): void; end(): void; result: Promise<{ how: 'fin' | 'reset'; data: Buffer }> }> {
    const id = this.nextId;
    this.nextId += 2;
    let replied!: () => void;
    const ok = new Promise<void>((r) => (replied = r));
    let done!: (how: 'fin' | 'reset') => void;
    const chunks: Buffer[] = [];
    const result = new Promise<{ how: 'fin' | 'reset'; data: Buffer }>((r) => (done = (how) => r({ how, data: Buffer.concat(chunks) })));
    this.streams.set(id, { chunks, replied, done });
    const block = await this.deflate.process(encodeHeaderBlock(Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]]))));
    this.sock.write(synStreamFrame(id, block));
    await ok;
    return {
      id,
      write: (b) => {
        for (let at = 0; at < b.length; at += 60_000) this.sock.write(dataFrame(id, b.subarray(at, at + 60_000)));
      },
      end: () => void this.sock.write(dataFrame(id, Buffer.alloc(0), true)),
      result,
    };
  }

  /** Forwards one connection as kubectl does: error stream (half-closed at once), then data. */
  async connection(port: number, requestId: number, payload: Buffer): Promise<{ data: Buffer; error: string; dataHow: string }> {
    const common = { port: String(port), requestID: String(requestId) };
    const error = await this.open({ streamType: 'error', ...common });
    error.end();
    const data = await this.open({ streamType: 'data', ...common });
    data.write(payload);
    data.end();
    const [d, e] = await Promise.all([data.result, error.result]);
    return { data: d.data, error: e.data.toString(), dataHow: d.how };
  }

  ping(id: number): Promise<void> {
    return new Promise((resolve) => {
      this.pings.set(id, resolve);
      this.sock.write(pingFrame(id));
    });
  }

  close(): void {
    this.deflate.close();
    this.inflate.close();
    this.sock.destroy();
  }
}

/**
 * A websocket client reduced to what the tunnel needs (binary messages, masked as clients must).
 * `ws`'s own client refuses Kubernetes' subprotocol: it has a '/', which HTTP tokens may not.
 */
export function tunnelClient(port: number, path: string, protocol: string): Promise<{ code: number; protocol?: string; stream: Duplex }> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    sock.on('error', reject);
    sock.write(
      `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n` +
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Protocol: ${protocol}\r\n\r\n`,
    );
    let buf = Buffer.alloc(0);
    let open = false;
    const stream = new Duplex({
      read() {},
      write(chunk: Buffer, _e, cb) {
        const mask = randomBytes(4);
        const len = chunk.length;
        const head = len < 126 ? Buffer.from([0x82, 0x80 | len]) : len < 65536 ? Buffer.from([0x82, 0x80 | 126, len >> 8, len & 255]) : Buffer.concat([Buffer.from([0x82, 0x80 | 127]), (() => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(len)); return b; })()]);
        const body = Buffer.from(chunk);
        for (let i = 0; i < body.length; i++) body[i]! ^= mask[i % 4]!;
        sock.write(Buffer.concat([head, mask, body]), cb);
      },
      destroy(err, cb) {
        sock.destroy();
        cb(err);
      },
    });
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (!open) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const headText = buf.subarray(0, end).toString('latin1');
        const code = Number(/^HTTP\/1\.1 (\d+)/.exec(headText)?.[1]);
        buf = buf.subarray(end + 4);
        if (code !== 101) return resolve({ code, stream });
        open = true;
        resolve({ code, protocol: /sec-websocket-protocol: *(\S+)/i.exec(headText)?.[1], stream });
      }
      for (;;) {
        if (buf.length < 2) return;
        let len = buf[1]! & 0x7f;
        let at = 2;
        if (len === 126) {
          if (buf.length < 4) return;
          len = buf.readUInt16BE(2);
          at = 4;
        } else if (len === 127) {
          if (buf.length < 10) return;
          len = Number(buf.readBigUInt64BE(2));
          at = 10;
        }
        if (buf.length < at + len) return;
        const opcode = buf[0]! & 0x0f;
        const payload = buf.subarray(at, at + len);
        buf = buf.subarray(at + len);
        if (opcode === 2 || opcode === 0) stream.push(payload);
        else if (opcode === 8) stream.push(null);
      }
    });
  });
}

