/**
 * The server end of a SPDY/3.1 connection over any byte stream (an upgraded HTTP socket, or a
 * websocket tunnel): it accepts the streams a client opens, answers each with SYN_REPLY, and
 * hands them out as Duplexes. It never opens streams itself (Kubernetes' streaming protocols
 * do not need server-initiated ones).
 *
 * Flow control is not enforced (see ./frames.ts): the socket's own backpressure paces writes,
 * and a stream that is not being read pauses the connection until it reads again, ends or goes.
 */
import { Duplex } from 'node:stream';
import { errorMessage } from '../../errors.js';
import { HeaderCodec } from './compression.js';
import {
  dataFrame,
  decodeHeaderBlock,
  encodeHeaderBlock,
  FLAG_FIN,
  FLAG_UNIDIRECTIONAL,
  type Frame,
  FrameReader,
  goAwayFrame,
  type HeaderList,
  pingFrame,
  RstStatus,
  rstStreamFrame,
  synReplyFrame,
} from './frames.js';

/** Bytes per DATA frame we send: small enough to interleave streams, large enough to be cheap. */
const DATA_CHUNK = 32 * 1024;

/** Options for {@link SpdyServerSession}. */
export interface SpdyServerSessionOptions {
  /** Called with each stream the client opens, after it was answered. */
  onStream: (stream: SpdyStream) => void;
  /** Called once when the connection is gone (closed by either side or broken). */
  onClose?: (err?: Error) => void;
}

/** One SPDY stream: readable is what the client sends, writable goes back to it. */
export class SpdyStream extends Duplex {
  /** The headers of the client's SYN_STREAM, names lower-cased. */
  readonly headers: HeaderList;
  private remoteDone = false;
  private localDone = false;

  constructor(
    readonly id: number,
    headers: HeaderList,
    private readonly session: SpdyServerSession,
  ) {
    super({ allowHalfOpen: true });
    this.headers = headers;
  }

  /** The first value of a header (case-insensitive), or undefined. */
  header(name: string): string | undefined {
    return this.headers[name.toLowerCase()]?.[0];
  }

  /** @internal The client sent data. */
  receive(data: Buffer, fin: boolean): void {
    if (this.remoteDone) return;
    if (data.length > 0 && !this.push(data)) this.session.pauseInput();
    if (fin) this.remoteFinish();
  }

  /** @internal The client will send no more (FIN, or a unidirectional stream). */
  remoteFinish(): void {
    if (this.remoteDone) return;
    this.remoteDone = true;
    this.push(null);
    // An ended stream never asks to read again: if its last frame filled its buffer and paused
    // the connection, it must not hold the other streams back.
    this.session.resumeInput();
  }

  /** @internal The client reset the stream, or the connection went away. */
  reset(reason?: Error): void {
    this.remoteDone = true;
    this.localDone = true;
    this.destroy(reason);
  }

  override _read(): void {
    this.session.resumeInput();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.localDone) return cb(new Error(`SPDY stream ${this.id} is closed for writing`));
    const frames: Buffer[] = [];
    for (let at = 0; at < chunk.length; at += DATA_CHUNK) frames.push(dataFrame(this.id, chunk.subarray(at, at + DATA_CHUNK)));
    this.session.send(Buffer.concat(frames), cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.localDone) return cb();
    this.localDone = true;
    this.session.send(dataFrame(this.id, Buffer.alloc(0), true), cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    // A stream torn down before both halves finished is cancelled for the client too.
    if (!this.localDone || !this.remoteDone) {
      this.localDone = true;
      this.remoteDone = true;
      this.session.send(rstStreamFrame(this.id, err ? RstStatus.InternalError : RstStatus.Cancel));
    }
    this.session.forget(this.id);
    this.session.resumeInput();
    cb(err);
  }

  /** @internal The SYN_STREAM was unidirectional: nothing may be written back. */
  markLocalDone(): void {
    this.localDone = true;
  }
}

/** The server side of one SPDY connection. */
export class SpdyServerSession {
  private readonly reader = new FrameReader();
  private readonly inflate = new HeaderCodec('inflate');
  private readonly deflate = new HeaderCodec('deflate');
  private readonly streams = new Map<number, SpdyStream>();
  private chain: Promise<void> = Promise.resolve();
  private lastStreamId = 0;
  private closed = false;
  private paused = false;
  private readonly closeListeners: ((err?: Error) => void)[] = [];

  constructor(
    private readonly socket: Duplex,
    private readonly opts: SpdyServerSessionOptions,
  ) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.close());
    socket.on('close', () => this.close());
    socket.on('error', (err: Error) => this.close(err));
  }

  /** Runs `fn` once the connection is gone (at once if it already is). */
  onClosed(fn: (err?: Error) => void): void {
    if (this.closed) fn();
    else this.closeListeners.push(fn);
  }

  /** Number of open streams (for tests and metrics). */
  get streamCount(): number {
    return this.streams.size;
  }

  /** Says GOAWAY and closes the connection; every open stream is reset. */
  close(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.streams.values()) s.reset(err);
    this.streams.clear();
    this.inflate.close();
    this.deflate.close();
    if (!this.socket.destroyed && this.socket.writable) {
      // Tear the socket down once the GOAWAY has left (or after a second, if it cannot).
      const timer = setTimeout(() => this.socket.destroy(), 1000);
      timer.unref();
      this.socket.end(goAwayFrame(this.lastStreamId, err ? 1 : 0), () => {
        clearTimeout(timer);
        this.socket.destroy();
      });
    } else this.socket.destroy();
    this.opts.onClose?.(err);
    for (const fn of this.closeListeners.splice(0)) fn(err);
  }

  /** @internal Writes bytes to the connection; `cb` runs when they were handed to the socket. */
  send(bytes: Buffer, cb?: (err?: Error | null) => void): void {
    if (this.closed || this.socket.destroyed) {
      cb?.(new Error('SPDY connection is closed'));
      return;
    }
    this.socket.write(bytes, (err) => cb?.(err ?? null));
  }

  /** @internal */
  forget(id: number): void {
    this.streams.delete(id);
  }

  /** @internal A stream's reader is full: stop reading the connection until it drains. */
  pauseInput(): void {
    if (!this.paused) {
      this.paused = true;
      this.socket.pause();
    }
  }

  /** @internal */
  resumeInput(): void {
    if (this.paused) {
      this.paused = false;
      this.socket.resume();
    }
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    this.reader.push(chunk);
    try {
      for (let f = this.reader.next(); f; f = this.reader.next()) {
        const frame = f;
        // Header blocks decompress asynchronously; the chain keeps frames in wire order.
        this.chain = this.chain.then(() => this.handle(frame)).catch((err: unknown) => this.close(err instanceof Error ? err : new Error(errorMessage(err))));
      }
    } catch (err) {
      this.close(err instanceof Error ? err : new Error(errorMessage(err)));
    }
  }

  private async handle(frame: Frame): Promise<void> {
    if (this.closed) return;
    switch (frame.type) {
      case 'data': {
        this.streams.get(frame.streamId)?.receive(frame.data, (frame.flags & FLAG_FIN) !== 0);
        return;
      }
      case 'synStream': {
        const headers = decodeHeaderBlock(await this.inflate.process(frame.headerBlock));
        if (this.closed) return;
        if (frame.streamId <= this.lastStreamId || frame.streamId % 2 === 0) {
          this.send(rstStreamFrame(frame.streamId, RstStatus.ProtocolError));
          return;
        }
        this.lastStreamId = frame.streamId;
        const stream = new SpdyStream(frame.streamId, headers, this);
        this.streams.set(frame.streamId, stream);
        // The reply goes out before the stream is handed over, so it precedes any of our data.
        const reply = await this.deflate.process(encodeHeaderBlock({}));
        if (this.closed) return;
        this.send(synReplyFrame(frame.streamId, reply, (frame.flags & FLAG_UNIDIRECTIONAL) !== 0));
        if (frame.flags & FLAG_UNIDIRECTIONAL) stream.markLocalDone();
        if (frame.flags & FLAG_FIN) stream.remoteFinish();
        this.opts.onStream(stream);
        return;
      }
      case 'headers': {
        // Keep the inflate context in step; the extra headers mean nothing to port-forward.
        await this.inflate.process(frame.headerBlock);
        if (frame.flags & FLAG_FIN) this.streams.get(frame.streamId)?.remoteFinish();
        return;
      }
      case 'synReply':
        await this.inflate.process(frame.headerBlock);
        return;
      case 'rstStream':
        this.streams.get(frame.streamId)?.reset();
        return;
      case 'ping':
        // Client pings carry odd ids; answering one of our own (even) would be a loop.
        if (frame.id % 2 === 1) this.send(pingFrame(frame.id));
        return;
      case 'goAway':
        this.close();
        return;
      case 'settings':
      case 'windowUpdate':
      case 'unknown':
        return;
    }
  }
}
