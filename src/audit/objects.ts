/**
 * Git object encoding and crash-safe writing for the status branch.
 *
 * isomorphic-git reads this repository (log, trees, blobs) and pushes it, but the recorder writes
 * objects itself, one packfile per batch of commits: a batch of hundreds of commits costs a few
 * file operations instead of five files per commit (loose objects), which was both the
 * throughput limit and a file-count problem (10k changes made 50k files). Pack and index are
 * written to temporary files and renamed, index last (a pack exists for readers once its index
 * does), and the branch ref moves only afterwards, so a crash never leaves a ref pointing at a
 * missing or partial object. (isomorphic-git's own loose writer writes in place and never rewrites
 * an existing file, so a killed write would leave a truncated object forever.)
 */
import { createHash } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import zlib, { deflateSync } from 'node:zlib';

/** Git object types the recorder writes. */
export type GitObjectType = 'blob' | 'tree' | 'commit';

/** An object ready to be packed: its id, type and raw body. */
export interface EncodedObject {
  oid: string;
  type: GitObjectType;
  body: Buffer;
  /** The packed entry (header + deflated body), once computed by {@link packEntry}. */
  entry?: Buffer;
}

/** A person and time, as Git records authors and committers. */
export interface Signature {
  name: string;
  email: string;
  /** Seconds since the epoch. */
  timestamp: number;
  /** Minutes east of UTC; 0 (UTC) by default. */
  timezoneOffset?: number;
}

/**
 * Bodies larger than this are stored without compression. Large trees (a directory of many
 * pods) are mostly random object ids that compress poorly, and deflating them dominated the cost
 * of a commit; a repack (git's delta compression) shrinks them later.
 */
const STORE_ABOVE_BYTES = 8 * 1024;

const PACK_TYPE: Record<GitObjectType, number> = { commit: 1, tree: 2, blob: 3 };

/** Hashes an object (its id is the SHA-1 of `<type> <size>\0<body>`). */
export function encodeObject(type: GitObjectType, body: Buffer): EncodedObject {
  const hash = createHash('sha1');
  hash.update(`${type} ${body.length}\0`, 'latin1');
  hash.update(body);
  return { oid: hash.digest('hex'), type, body };
}

let crcTable: Uint32Array | undefined;

/** CRC-32 as zlib computes it; node's zlib.crc32 where available (20.15+). */
function crc32(buf: Buffer): number {
  const native = (zlib as unknown as { crc32?: (b: Buffer) => number }).crc32;
  if (native) return native(buf);
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < buf.length; i++) c = crcTable[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** The packed entry header: type and size in git's variable-length encoding. */
function entryHeader(type: GitObjectType, size: number): Buffer {
  const bytes: number[] = [];
  let byte = (PACK_TYPE[type] << 4) | (size & 0x0f);
  let rest = Math.floor(size / 16);
  while (rest > 0) {
    bytes.push(byte | 0x80);
    byte = rest & 0x7f;
    rest = Math.floor(rest / 128);
  }
  bytes.push(byte);
  return Buffer.from(bytes);
}

/**
 * The object's pack entry: type/size header and deflated body. Computed as each object is staged
 * so that deflating is spread between the writer's yields instead of blocking at pack time.
 */
export function packEntry(obj: EncodedObject): Buffer {
  obj.entry ??= Buffer.concat([entryHeader(obj.type, obj.body.length), deflateSync(obj.body, { level: obj.type === 'tree' && obj.body.length > STORE_ABOVE_BYTES ? 0 : 1 })]);
  return obj.entry;
}

/** Bytes hashed between yields while finishing a pack. */
const HASH_CHUNK = 512 * 1024;

/**
 * A packfile (version 2, no deltas) and its index (version 2), in memory. The pack is returned
 * as chunks (header + entries, then the checksum) so it need not be copied into one buffer;
 * `yieldNow`, when given, is awaited between chunks so hashing a large pack never holds the
 * event loop for long.
 */
export async function buildPack(
  objects: readonly EncodedObject[],
  yieldNow?: () => Promise<void>,
): Promise<{ name: string; chunks: Buffer[]; idx: Buffer }> {
  const head = Buffer.alloc(12);
  head.write('PACK', 0, 'latin1');
  head.writeUInt32BE(2, 4);
  head.writeUInt32BE(objects.length, 8);
  const chunks: Buffer[] = [];
  let pending: Buffer[] = [head];
  let pendingBytes = head.length;
  const hash = createHash('sha1');
  let offset = 12;
  const entries: Array<{ oid: Buffer; crc: number; offset: number }> = [];
  const cut = async (): Promise<void> => {
    const chunk = pending.length === 1 ? pending[0]! : Buffer.concat(pending);
    hash.update(chunk);
    chunks.push(chunk);
    pending = [];
    pendingBytes = 0;
    if (yieldNow) await yieldNow();
  };
  for (const obj of objects) {
    const entry = packEntry(obj);
    entries.push({ oid: Buffer.from(obj.oid, 'hex'), crc: crc32(entry), offset });
    pending.push(entry);
    pendingBytes += entry.length;
    offset += entry.length;
    if (pendingBytes >= HASH_CHUNK) await cut();
  }
  if (offset >= 2 ** 31) throw new Error('pack too large for a 32-bit index');
  if (pending.length) await cut();
  const packSum = hash.digest();
  chunks.push(packSum);

  entries.sort((a, b) => Buffer.compare(a.oid, b.oid));
  const n = entries.length;
  const idx = Buffer.alloc(8 + 256 * 4 + n * 28 + 40);
  idx.writeUInt32BE(0xff744f63, 0);
  idx.writeUInt32BE(2, 4);
  const fanout = new Uint32Array(256);
  for (const e of entries) fanout[e.oid[0]!]! += 1;
  let cumulative = 0;
  for (let i = 0; i < 256; i++) {
    cumulative += fanout[i]!;
    idx.writeUInt32BE(cumulative, 8 + i * 4);
  }
  let pos = 8 + 1024;
  for (const e of entries) pos += e.oid.copy(idx, pos);
  for (const e of entries) pos = idx.writeUInt32BE(e.crc >>> 0, pos);
  for (const e of entries) pos = idx.writeUInt32BE(e.offset, pos);
  pos += packSum.copy(idx, pos);
  createHash('sha1').update(idx.subarray(0, pos)).digest().copy(idx, pos);
  return { name: `pack-${packSum.toString('hex')}`, chunks, idx };
}

function formatTimezone(minutesEast: number): string {
  const sign = minutesEast < 0 ? '-' : '+';
  const abs = Math.abs(minutesEast);
  return `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}${String(abs % 60).padStart(2, '0')}`;
}

/** Names and emails must not break the header line format. */
function clean(s: string): string {
  return s.replace(/[<>\n\r]/g, '');
}

function formatSignature(sig: Signature): string {
  return `${clean(sig.name)} <${clean(sig.email)}> ${Math.floor(sig.timestamp)} ${formatTimezone(sig.timezoneOffset ?? 0)}`;
}

/** The body of a commit object. `message` gets a final newline if it lacks one. */
export function commitBody(opts: { tree: string; parent?: string; author: Signature; committer: Signature; message: string }): Buffer {
  let text = `tree ${opts.tree}\n`;
  if (opts.parent) text += `parent ${opts.parent}\n`;
  text += `author ${formatSignature(opts.author)}\ncommitter ${formatSignature(opts.committer)}\n\n`;
  text += opts.message.endsWith('\n') ? opts.message : `${opts.message}\n`;
  return Buffer.from(text, 'utf8');
}

/** Writes packs and refs of one bare repository, atomically. */
export class PackWriter {
  private tmpCounter = 0;

  constructor(private readonly gitdir: string) {}

  private tmpName(dir: string): string {
    this.tmpCounter += 1;
    return path.join(dir, `tmp_gantry_${process.pid}_${this.tmpCounter}`);
  }

  /** Writes `data` to `file` through a temporary file and a rename; optionally fsyncs first. */
  private async writeAtomic(file: string, data: Buffer | string | Buffer[], opts: { sync: boolean; mode: number }): Promise<void> {
    const dir = path.dirname(file);
    const tmp = this.tmpName(dir);
    let handle;
    try {
      handle = await open(tmp, 'w', opts.mode);
    } catch (err) {
      // The directory may have been removed (or never made): make it and try once more.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      await mkdir(dir, { recursive: true });
      handle = await open(tmp, 'w', opts.mode);
    }
    try {
      if (Array.isArray(data)) {
        for (const chunk of data) await handle.write(chunk);
      } else {
        await handle.writeFile(data);
      }
      if (opts.sync) await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await rename(tmp, file);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  /** Writes objects as one pack (pack first, index last). Returns the pack's name. */
  async writeObjects(objects: readonly EncodedObject[], opts: { sync?: boolean; yieldNow?: () => Promise<void> } = {}): Promise<string | undefined> {
    if (!objects.length) return undefined;
    const { name, chunks, idx } = await buildPack(objects, opts.yieldNow);
    const dir = path.join(this.gitdir, 'objects', 'pack');
    const sync = opts.sync ?? false;
    await this.writeAtomic(path.join(dir, `${name}.pack`), chunks, { sync, mode: 0o444 });
    await this.writeAtomic(path.join(dir, `${name}.idx`), idx, { sync, mode: 0o444 });
    return name;
  }

  /** Points a ref (e.g. `refs/heads/status`) at a commit; the file is replaced atomically. */
  async writeRef(ref: string, oid: string, opts: { sync?: boolean } = {}): Promise<void> {
    const file = path.join(this.gitdir, ...ref.split('/'));
    await this.writeAtomic(file, `${oid}\n`, { sync: opts.sync ?? false, mode: 0o644 });
  }
}
