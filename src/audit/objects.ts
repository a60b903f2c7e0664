/**
 * Git object encoding and crash-safe loose-object writing for the status branch.
 *
 * isomorphic-git reads this repository (log, trees, blobs) and pushes it, but the recorder writes
 * objects itself: isomorphic-git writes a loose object in place and never rewrites an existing
 * file, so a process killed mid-write would leave a truncated object that no later write repairs.
 * Here every object and the branch ref are written to a temporary file and renamed, so a file in
 * the repository is always complete, and hashing/deflating in memory lets one batch of commits be
 * written with a few parallel file operations.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { deflateSync } from 'node:zlib';

/** Git object types the recorder writes. */
export type GitObjectType = 'blob' | 'tree' | 'commit';

/** An object ready to be written: its id and its deflated loose-object bytes. */
export interface EncodedObject {
  oid: string;
  deflated: Buffer;
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

/** Hashes and deflates an object. Level 1: the repository favours write speed over size. */
export function encodeObject(type: GitObjectType, body: Buffer): EncodedObject {
  const header = Buffer.from(`${type} ${body.length}\0`, 'latin1');
  const full = Buffer.concat([header, body]);
  const oid = createHash('sha1').update(full).digest('hex');
  return { oid, deflated: deflateSync(full, { level: 1 }) };
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

/** Writes loose objects and refs of one bare repository, atomically. */
export class LooseObjectWriter {
  private readonly madeDirs = new Set<string>();
  private tmpCounter = 0;

  constructor(private readonly gitdir: string) {}

  private tmpName(dir: string): string {
    this.tmpCounter += 1;
    return path.join(dir, `tmp_${process.pid}_${this.tmpCounter}`);
  }

  /** Writes `data` to `file` through a temporary file and a rename; optionally fsyncs first. Objects are read-only (0444) as Git makes them. */
  private async writeAtomic(dir: string, file: string, data: Buffer | string, sync: boolean, mode: number): Promise<void> {
    const tmp = this.tmpName(dir);
    const handle = await open(tmp, 'w', mode);
    try {
      await handle.writeFile(data);
      if (sync) await handle.sync();
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

  /** Writes objects, `concurrency` at a time. Objects already in the repository are rewritten identically. */
  async writeObjects(objects: Iterable<EncodedObject>, opts: { concurrency?: number; sync?: boolean } = {}): Promise<void> {
    const list = [...objects];
    const concurrency = Math.max(1, opts.concurrency ?? 16);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < list.length) {
        const obj = list[next++]!;
        const dir = path.join(this.gitdir, 'objects', obj.oid.slice(0, 2));
        if (!this.madeDirs.has(dir)) {
          await mkdir(dir, { recursive: true });
          this.madeDirs.add(dir);
        }
        await this.writeAtomic(dir, path.join(dir, obj.oid.slice(2)), obj.deflated, opts.sync ?? false, 0o444);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, list.length) }, worker));
  }

  /** Points a ref (e.g. `refs/heads/status`) at a commit; the file is replaced atomically. */
  async writeRef(ref: string, oid: string, opts: { sync?: boolean } = {}): Promise<void> {
    const file = path.join(this.gitdir, ...ref.split('/'));
    const dir = path.dirname(file);
    await mkdir(dir, { recursive: true });
    await this.writeAtomic(dir, file, `${oid}\n`, opts.sync ?? false, 0o644);
  }
}
