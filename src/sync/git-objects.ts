/**
 * A read-only Git object reader for the bulk path of `GitSource.files()`: trees and blobs
 * straight from loose objects and packfiles with Node's native zlib.
 *
 * isomorphic-git reads each object through a path that stats the loose file, lists the pack
 * directory and inflates with a JavaScript zlib; at 10,000 manifests that is seconds. This
 * reader keeps pack indexes and packs in memory, inflates natively and caches delta bases, and
 * returns undefined for anything it does not handle (alternates, unknown pack versions), so
 * the caller can fall back to isomorphic-git.
 */
import { readFileSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { inflateSync } from 'node:zlib';

/** Object type names as Git spells them. */
export type GitObjectType = 'commit' | 'tree' | 'blob' | 'tag';

/** An object's type and content. */
export interface GitObject {
  type: GitObjectType;
  data: Buffer;
}

/** One entry of a tree object. */
export interface GitTreeEntry {
  mode: string;
  name: string;
  oid: string;
}

let nextPackId = 1;
const PACK_TYPES: Record<number, GitObjectType> = { 1: 'commit', 2: 'tree', 3: 'blob', 4: 'tag' };
const OFS_DELTA = 6;
const REF_DELTA = 7;
/** Delta bases kept inflated, by total size: deltified manifests share a few large bases. */
const BASE_CACHE_BYTES = 32 * 1024 * 1024;

interface Pack {
  /** Distinguishes packs in the delta-base cache. */
  id: number;
  /** Sorted 20-byte object ids. */
  ids: Buffer;
  fanout: Uint32Array;
  count: number;
  offsets32: Buffer;
  offsets64: Buffer;
  pack: Buffer;
}

/** Parses a version 2 pack index; undefined for other versions. */
function parseIndex(idx: Buffer, pack: Buffer, id: number): Pack | undefined {
  if (idx.readUInt32BE(0) !== 0xff744f63 || idx.readUInt32BE(4) !== 2) return undefined;
  const fanout = new Uint32Array(256);
  for (let i = 0; i < 256; i++) fanout[i] = idx.readUInt32BE(8 + i * 4);
  const count = fanout[255] as number;
  const idsStart = 8 + 256 * 4;
  const crcStart = idsStart + count * 20;
  const off32Start = crcStart + count * 4;
  const off64Start = off32Start + count * 4;
  return {
    id,
    ids: idx.subarray(idsStart, crcStart),
    fanout,
    count,
    offsets32: idx.subarray(off32Start, off64Start),
    offsets64: idx.subarray(off64Start),
    pack,
  };
}

function findOffset(p: Pack, id: Buffer): number | undefined {
  const first = id[0] as number;
  let lo = first === 0 ? 0 : (p.fanout[first - 1] as number);
  let hi = (p.fanout[first] as number) - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    // Compares the index's id at `mid` with the wanted one.
    const cmp = p.ids.compare(id, 0, 20, mid * 20, mid * 20 + 20);
    if (cmp === 0) {
      const off = p.offsets32.readUInt32BE(mid * 4);
      if (off & 0x80000000) return Number(p.offsets64.readBigUInt64BE((off & 0x7fffffff) * 8));
      return off;
    }
    if (cmp < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return undefined;
}

/** Applies a Git delta to its base. */
function applyDelta(base: Buffer, delta: Buffer): Buffer {
  let pos = 0;
  const varint = (): number => {
    let result = 0;
    let shift = 0;
    let byte: number;
    do {
      byte = delta[pos++] as number;
      result += (byte & 0x7f) * 2 ** shift;
      shift += 7;
    } while (byte & 0x80);
    return result;
  };
  const baseSize = varint();
  if (baseSize !== base.length) throw new Error(`delta base size mismatch (${baseSize} != ${base.length})`);
  const out = Buffer.allocUnsafe(varint());
  let o = 0;
  while (pos < delta.length) {
    const op = delta[pos++] as number;
    if (op & 0x80) {
      let offset = 0;
      let size = 0;
      for (let bit = 0; bit < 4; bit++) if (op & (1 << bit)) offset += (delta[pos++] as number) * 2 ** (8 * bit);
      for (let bit = 0; bit < 3; bit++) if (op & (0x10 << bit)) size |= (delta[pos++] as number) << (8 * bit);
      if (size === 0) size = 0x10000;
      o += base.copy(out, o, offset, offset + size);
    } else if (op > 0) {
      o += delta.copy(out, o, pos, pos + op);
      pos += op;
    } else {
      throw new Error('invalid delta opcode 0');
    }
  }
  if (o !== out.length) throw new Error('delta result size mismatch');
  return out;
}

/** Reads objects of one Git directory. Not safe across a repack: call {@link refresh} after fetches. */
export class GitObjectReader {
  private packs?: Promise<Pack[]>;
  private bases = new Map<string, GitObject>();
  private baseBytes = 0;
  private loadedNames = '';
  private syncReads = 0;

  constructor(private readonly gitdir: string) {}

  /** Forgets loaded packs (new ones may have arrived). */
  refresh(): void {
    this.packs = undefined;
    this.bases.clear();
    this.baseBytes = 0;
  }

  /** The object, or undefined when this reader cannot find or decode it. */
  async read(oid: string): Promise<GitObject | undefined> {
    try {
      const found = await this.find(oid);
      if (found || !(await this.packsChanged())) return found;
      // A repack (git gc) in a local repository replaces packs and prunes loose objects.
      this.refresh();
      return await this.find(oid);
    } catch {
      return undefined;
    }
  }

  private async find(oid: string): Promise<GitObject | undefined> {
    const packs = await (this.packs ??= this.loadPacks());
    const id = Buffer.from(oid, 'hex');
    for (const p of packs) {
      const off = findOffset(p, id);
      if (off !== undefined) return this.readPacked(p, off);
    }
    return this.readLoose(oid);
  }

  /** Parses a tree object's entries. */
  static parseTree(data: Buffer): GitTreeEntry[] {
    const out: GitTreeEntry[] = [];
    let pos = 0;
    while (pos < data.length) {
      const space = data.indexOf(0x20, pos);
      const nul = data.indexOf(0, space);
      if (space < 0 || nul < 0) throw new Error('malformed tree');
      const mode = data.toString('latin1', pos, space);
      out.push({ mode: mode.length === 5 ? `0${mode}` : mode, name: data.toString('utf8', space + 1, nul), oid: data.toString('hex', nul + 1, nul + 21) });
      pos = nul + 21;
    }
    return out;
  }

  private async packNames(): Promise<string[]> {
    try {
      return (await readdir(path.join(this.gitdir, 'objects', 'pack'))).filter((n) => n.endsWith('.idx')).sort();
    } catch {
      return [];
    }
  }

  private async packsChanged(): Promise<boolean> {
    return (await this.packNames()).join('\n') !== this.loadedNames;
  }

  private async loadPacks(): Promise<Pack[]> {
    const dir = path.join(this.gitdir, 'objects', 'pack');
    const names = await this.packNames();
    this.loadedNames = names.join('\n');
    const packs = await Promise.all(
      names.map(async (n) => {
        try {
          const [idx, pack] = await Promise.all([readFile(path.join(dir, n)), readFile(path.join(dir, n.replace(/\.idx$/, '.pack')))]);
          return parseIndex(idx, pack, nextPackId++);
        } catch {
          return undefined;
        }
      }),
    );
    return packs.filter((p): p is Pack => p !== undefined);
  }

  private async readLoose(oid: string): Promise<GitObject | undefined> {
    // Loose objects are small: a synchronous read costs less than a thread-pool round trip
    // (three of them: open, read, close). Yield now and then so the event loop stays live.
    if (++this.syncReads % 256 === 0) await new Promise((resolve) => setImmediate(resolve));
    let raw: Buffer;
    try {
      raw = inflateSync(readFileSync(path.join(this.gitdir, 'objects', oid.slice(0, 2), oid.slice(2))));
    } catch {
      return undefined;
    }
    const space = raw.indexOf(0x20);
    const nul = raw.indexOf(0, space);
    const type = raw.toString('latin1', 0, space) as GitObjectType;
    return { type, data: raw.subarray(nul + 1) };
  }

  private async readPacked(p: Pack, offset: number): Promise<GitObject | undefined> {
    const key = `${p.id}:${offset}`;
    const cached = this.bases.get(key);
    if (cached) return cached;
    const buf = p.pack;
    let pos = offset;
    let byte = buf[pos++] as number;
    const type = (byte >> 4) & 7;
    while (byte & 0x80) byte = buf[pos++] as number;
    let obj: GitObject | undefined;
    if (type === OFS_DELTA) {
      byte = buf[pos++] as number;
      let back = byte & 0x7f;
      while (byte & 0x80) {
        byte = buf[pos++] as number;
        back = (back + 1) * 128 + (byte & 0x7f);
      }
      const base = await this.readPacked(p, offset - back);
      if (!base) return undefined;
      obj = { type: base.type, data: applyDelta(base.data, inflateSync(buf.subarray(pos))) };
    } else if (type === REF_DELTA) {
      const base = await this.find(buf.toString('hex', pos, pos + 20));
      if (!base) return undefined;
      obj = { type: base.type, data: applyDelta(base.data, inflateSync(buf.subarray(pos + 20))) };
    } else {
      const name = PACK_TYPES[type];
      if (!name) return undefined;
      obj = { type: name, data: inflateSync(buf.subarray(pos)) };
    }
    // Only objects others are deltified against are worth keeping; which those are is unknown
    // up front, so keep recent ones within a byte budget.
    this.bases.set(key, obj);
    this.baseBytes += obj.data.length;
    while (this.baseBytes > BASE_CACHE_BYTES && this.bases.size > 1) {
      const [k, v] = this.bases.entries().next().value as [string, GitObject];
      this.bases.delete(k);
      this.baseBytes -= v.data.length;
    }
    return obj;
  }
}
