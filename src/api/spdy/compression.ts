/**
 * SPDY/3 header compression: each direction of a connection is one zlib stream, primed with the
 * dictionary the SPDY/3 draft defines (section 2.6.10.1) and sync-flushed after every header
 * block. Node's zlib streams are asynchronous, so each context serializes its operations.
 */
import zlib from 'node:zlib';
import { GantryError } from '../../errors.js';

/** Header names the dictionary lists first, each preceded by its 32-bit length. */
const DICTIONARY_WORDS = [
  'options', 'head', 'post', 'put', 'delete', 'trace', 'accept', 'accept-charset', 'accept-encoding',
  'accept-language', 'accept-ranges', 'age', 'allow', 'authorization', 'cache-control', 'connection',
  'content-base', 'content-encoding', 'content-language', 'content-length', 'content-location',
  'content-md5', 'content-range', 'content-type', 'date', 'etag', 'expect', 'expires', 'from', 'host',
  'if-match', 'if-modified-since', 'if-none-match', 'if-range', 'if-unmodified-since', 'last-modified',
  'location', 'max-forwards', 'pragma', 'proxy-authenticate', 'proxy-authorization', 'range', 'referer',
  'retry-after', 'server', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'user-agent', 'vary', 'via',
  'warning', 'www-authenticate', 'method', 'get', 'status', '200 OK', 'version', 'HTTP/1.1', 'url',
  'public', 'set-cookie', 'keep-alive', 'origin',
];

/** The dictionary's tail: status codes and phrases, dates, common values, without lengths. */
const DICTIONARY_TAIL =
  '100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505' +
  '203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized' +
  '403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable' +
  'Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT' +
  'chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,' +
  'text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.';

/** The SPDY/3 zlib dictionary (1,423 bytes). */
export const SPDY3_DICTIONARY: Buffer = Buffer.concat([
  ...DICTIONARY_WORDS.flatMap((w) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(w.length, 0);
    return [len, Buffer.from(w, 'latin1')];
  }),
  Buffer.from(DICTIONARY_TAIL, 'latin1'),
]);

/** One direction's zlib context (inflate for what the peer sends, deflate for what we send). */
export class HeaderCodec {
  private readonly z: zlib.Inflate | zlib.Deflate;
  private queue: Promise<unknown> = Promise.resolve();
  private failed?: Error;

  constructor(mode: 'inflate' | 'deflate') {
    this.z = mode === 'inflate' ? zlib.createInflate({ dictionary: SPDY3_DICTIONARY }) : zlib.createDeflate({ dictionary: SPDY3_DICTIONARY });
    this.z.on('error', (err) => {
      this.failed = new GantryError('InvalidArgument', `SPDY: header block does not ${mode}: ${err.message}`, { cause: err });
    });
  }

  /** Runs one header block through the context and returns what came out of it. */
  process(block: Buffer): Promise<Buffer> {
    const run = this.queue.then(() => this.once(block));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Releases the zlib handle. */
  close(): void {
    this.z.close();
  }

  private once(block: Buffer): Promise<Buffer> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      if (block.length > 0) this.z.write(block);
      this.z.flush(zlib.constants.Z_SYNC_FLUSH, () => {
        if (this.failed) return reject(this.failed);
        const out: Buffer[] = [];
        for (let c = this.z.read() as Buffer | null; c !== null; c = this.z.read() as Buffer | null) out.push(c);
        resolve(Buffer.concat(out));
      });
    });
  }
}
