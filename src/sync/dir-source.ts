/**
 * A Source over a plain directory: what `gantry validate PATH` and `gantry plan` read from a
 * working copy, uncommitted edits included.
 */
import { createHash } from 'node:crypto';
import { lstat, readFile, readdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import { GantryError } from '../errors.js';
import { isKustomizationFile } from './kustomize/model.js';
import type { Revision, Source, SourceFile } from './types.js';

/** Options for {@link DirSource}. */
export interface DirSourceOptions {
  /** The directory to read. */
  root: string;
  /** Directory names never entered. Default: `.git`, `node_modules`. */
  skip?: string[];
}

const MANIFEST_EXT = /\.(ya?ml|json)$/i;
/** Parallel file reads: overlaps I/O without opening thousands of files at once. */
const READ_CONCURRENCY = 64;

/** The id Git would give this content as a blob, so a file reads as unchanged across sources. */
function blobId(content: Uint8Array): string {
  return createHash('sha1').update(`blob ${content.byteLength}\0`).update(content).digest('hex');
}

/**
 * A {@link Source} over a directory. `resolve()` returns the pseudo revision
 * `{ commit: 'working-tree', ref: <root> }`; `files()` walks the tree, skipping `.git` and
 * `node_modules`, and reports symlinks with their targets instead of following them.
 */
export class DirSource implements Source {
  /** The pseudo commit id of a directory. */
  static readonly COMMIT = 'working-tree';
  private readonly root: string;
  private readonly skip: Set<string>;

  constructor(opts: DirSourceOptions) {
    this.root = path.resolve(opts.root);
    this.skip = new Set(opts.skip ?? ['.git', 'node_modules']);
  }

  /** The pseudo revision of the directory (it has no history). */
  async resolve(_ref?: string, opts: { signal?: AbortSignal } = {}): Promise<Revision> {
    opts.signal?.throwIfAborted();
    let st;
    try {
      st = await lstat(this.root);
    } catch (err) {
      throw new GantryError('NotFound', `directory ${this.root} does not exist`, { cause: err, disposition: 'stalled' });
    }
    if (!st.isDirectory()) throw new GantryError('InvalidArgument', `${this.root} is not a directory`);
    return { commit: DirSource.COMMIT, ref: this.root };
  }

  /**
   * Manifest candidates and symlinks under the directory, and every file in and below a
   * directory with a kustomization file; paths relative to the root with `/`.
   */
  async files(_commit?: string, opts: { signal?: AbortSignal } = {}): Promise<SourceFile[]> {
    await this.resolve(undefined, opts);
    const found: Array<{ rel: string; abs: string; link: boolean }> = [];
    const walk = async (dir: string, rel: string, inKustomization: boolean): Promise<void> => {
      opts.signal?.throwIfAborted();
      const entries = await readdir(dir, { withFileTypes: true });
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      // Below a kustomization every file may be read by it (generator sources, patches).
      const kustomized = inKustomization || entries.some((e) => e.isFile() && isKustomizationFile(e.name));
      const subdirs: Promise<void>[] = [];
      for (const e of entries) {
        const abs = path.join(dir, e.name);
        const r = rel ? `${rel}/${e.name}` : e.name;
        if (e.isSymbolicLink()) found.push({ rel: r, abs, link: true });
        else if (e.isDirectory()) {
          if (!this.skip.has(e.name)) subdirs.push(walk(abs, r, kustomized));
        } else if (e.isFile() && (kustomized || MANIFEST_EXT.test(e.name))) found.push({ rel: r, abs, link: false });
      }
      await Promise.all(subdirs);
    };
    await walk(this.root, '', false);

    const out = new Array<SourceFile>(found.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < found.length) {
        const i = next++;
        const f = found[i] as (typeof found)[number];
        if (f.link) {
          out[i] = { path: f.rel, symlinkTarget: await readlink(f.abs) };
        } else {
          const content = new Uint8Array(await readFile(f.abs));
          out[i] = { path: f.rel, content, oid: blobId(content) };
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, found.length) }, worker));
    return out;
  }
}
