/**
 * Just enough tar (ustar) for images: writing deterministic layers, and indexing the members of a
 * tarball so blobs can be streamed from it by offset without extracting.
 */
import { open } from 'node:fs/promises';
import { GantryError } from '../../errors.js';

/** One member to write. */
export interface TarEntry {
  /** Path inside the archive, without leading `/` (directories may end in `/`). */
  name: string;
  type: 'file' | 'dir' | 'symlink';
  /** Permission bits; default 0o644 (files), 0o755 (dirs), 0o777 (symlinks). */
  mode?: number;
  data?: Buffer;
  /** Symlink target. */
  linkname?: string;
  uid?: number;
  gid?: number;
  /** Seconds since the epoch; default 0 so archives are reproducible. */
  mtime?: number;
}

const BLOCK = 512;

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

function header(e: TarEntry): Buffer {
  const h = Buffer.alloc(BLOCK);
  let name = e.type === 'dir' && !e.name.endsWith('/') ? `${e.name}/` : e.name;
  let prefix = '';
  if (Buffer.byteLength(name) > 100) {
    const cut = name.lastIndexOf('/', name.length - 2);
    prefix = name.slice(0, cut);
    name = name.slice(cut + 1);
    if (Buffer.byteLength(name) > 100 || Buffer.byteLength(prefix) > 155) throw new GantryError('InvalidArgument', `tar member name too long: ${e.name}`);
  }
  const size = e.type === 'file' ? (e.data?.length ?? 0) : 0;
  const mode = e.mode ?? (e.type === 'dir' ? 0o755 : e.type === 'symlink' ? 0o777 : 0o644);
  h.write(name, 0, 100, 'utf8');
  h.write(octal(mode, 8), 100, 8, 'ascii');
  h.write(octal(e.uid ?? 0, 8), 108, 8, 'ascii');
  h.write(octal(e.gid ?? 0, 8), 116, 8, 'ascii');
  h.write(octal(size, 12), 124, 12, 'ascii');
  h.write(octal(e.mtime ?? 0, 12), 136, 12, 'ascii');
  h.write('        ', 148, 8, 'ascii');
  h.write(e.type === 'file' ? '0' : e.type === 'dir' ? '5' : '2', 156, 1, 'ascii');
  if (e.linkname) h.write(e.linkname, 157, 100, 'utf8');
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  h.write('root', 265, 32, 'ascii');
  h.write('root', 297, 32, 'ascii');
  h.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 7) + ' ', 148, 8, 'ascii');
  return h;
}

/** A tar archive of `entries` in the given order, with the two zero blocks at the end. */
export function writeTar(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    parts.push(header(e));
    if (e.type === 'file' && e.data?.length) {
      parts.push(e.data);
      const pad = (BLOCK - (e.data.length % BLOCK)) % BLOCK;
      if (pad) parts.push(Buffer.alloc(pad));
    }
  }
  parts.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(parts);
}

/** Where a regular file's bytes sit inside a tarball. */
export interface TarMember {
  name: string;
  offset: number;
  size: number;
}

/**
 * Indexes the regular files of an uncompressed tarball (ustar, GNU long names, pax `path`).
 * @returns members by normalized name (no leading `./`).
 */
export async function indexTar(file: string): Promise<Map<string, TarMember>> {
  const out = new Map<string, TarMember>();
  const fh = await open(file, 'r');
  try {
    const { size: total } = await fh.stat();
    const h = Buffer.alloc(BLOCK);
    let pos = 0;
    let longName: string | undefined;
    while (pos + BLOCK <= total) {
      await fh.read(h, 0, BLOCK, pos);
      if (h.every((b) => b === 0)) break;
      const str = (start: number, len: number): string => {
        const raw = h.subarray(start, start + len);
        const end = raw.indexOf(0);
        return raw.subarray(0, end < 0 ? len : end).toString('utf8');
      };
      const size = parseInt(str(124, 12).trim() || '0', 8);
      const type = String.fromCharCode(h[156]!);
      const dataPos = pos + BLOCK;
      let name = str(0, 100);
      const prefix = str(345, 155);
      if (str(257, 5) === 'ustar' && prefix) name = `${prefix}/${name}`;
      if (type === 'L' || type === 'x') {
        const body = Buffer.alloc(size);
        await fh.read(body, 0, size, dataPos);
        if (type === 'L') longName = body.toString('utf8').replace(/\0.*$/s, '');
        else {
          const m = /\d+ path=([^\n]*)\n/.exec(body.toString('utf8'));
          if (m) longName = m[1];
        }
      } else {
        if (longName) name = longName;
        longName = undefined;
        if (type === '0' || type === '\0') out.set(name.replace(/^\.\//, ''), { name, offset: dataPos, size });
      }
      pos = dataPos + Math.ceil(size / BLOCK) * BLOCK;
    }
  } finally {
    await fh.close();
  }
  return out;
}
