/**
 * A Source over a plain directory: what `gantry validate PATH` and `gantry plan` read from a
 * working copy, uncommitted edits included.
 *
 * Like a Git source it has a root (the repository) and a subdirectory whose manifests are
 * loaded; a kustomization there may read files elsewhere under the root (`../../base`), never
 * above it. `DirSource.around(dir)` takes the Git work tree holding `dir` as the root, so
 * `gantry validate overlays/prod` reads the repository's `base/` as a sync would.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, readFile, readdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import { GantryError } from '../errors.js';
import { isKustomizationFile } from './kustomize/model.js';
import type { Revision, Source, SourceFile, SourcePathEntry } from './types.js';

/** Options for {@link DirSource}. */
export interface DirSourceOptions {
  /** The repository root: nothing above it is ever read. */
  root: string;
  /** The subdirectory of `root` whose manifests are loaded, like `--path`. Default: the root. */
  path?: string;
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

/** The top of the Git work tree holding `dir` (the nearest directory with a `.git`), if any. */
export function workTreeRoot(dir: string): string | undefined {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    if (existsSync(path.join(d, '.git'))) return d;
    if (path.dirname(d) === d) return undefined;
  }
}

/**
 * A {@link Source} over a directory. `resolve()` returns the pseudo revision
 * `{ commit: 'working-tree', ref: <directory> }`; `files()` walks the subdirectory, skipping
 * `.git` and `node_modules`, and reports symlinks with their targets instead of following them.
 * Paths are relative to the root.
 */
export class DirSource implements Source {
  /** The pseudo commit id of a directory. */
  static readonly COMMIT = 'working-tree';
  private readonly root: string;
  private readonly subdir: string;
  private readonly skip: Set<string>;

  constructor(opts: DirSourceOptions) {
    this.root = path.resolve(opts.root);
    this.subdir = (opts.path ?? '').split(/[\\/]/).filter((s) => s !== '' && s !== '.').join('/');
    if (this.subdir.split('/').includes('..')) {
      throw new GantryError('InvalidArgument', `path "${opts.path}" must stay inside ${this.root}`);
    }
    this.skip = new Set(opts.skip ?? ['.git', 'node_modules']);
  }

  /**
   * A source loading `dir`, rooted at the Git work tree around it; outside a work tree, `dir`
   * itself is the root (there is no repository to read more of).
   */
  static around(dir: string, opts: Omit<DirSourceOptions, 'root' | 'path'> = {}): DirSource {
    const abs = path.resolve(dir);
    const top = workTreeRoot(abs) ?? abs;
    return new DirSource({ ...opts, root: top, path: path.relative(top, abs).split(path.sep).join('/') });
  }

  /** The directory whose manifests are loaded. */
  get directory(): string {
    return this.subdir ? path.join(this.root, ...this.subdir.split('/')) : this.root;
  }

  /** The pseudo revision of the directory (it has no history). */
  async resolve(_ref?: string, opts: { signal?: AbortSignal } = {}): Promise<Revision> {
    opts.signal?.throwIfAborted();
    const dir = this.directory;
    let st;
    try {
      st = await lstat(dir);
    } catch (err) {
      throw new GantryError('NotFound', `directory ${dir} does not exist`, { cause: err, disposition: 'stalled' });
    }
    if (!st.isDirectory()) throw new GantryError('InvalidArgument', `${dir} is not a directory`);
    return { commit: DirSource.COMMIT, ref: dir };
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
    await walk(this.directory, this.subdir, false);

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

  /**
   * Paths under the root (relative to it), each a file with its blob id, a symlink, a
   * directory or missing; a symlink met on the way is reported as itself, never followed, so
   * nothing outside the root is read. Skipped directory names (`.git`) read as missing.
   */
  async readPaths(_commit: string, paths: readonly string[], opts: { signal?: AbortSignal } = {}): Promise<Map<string, SourcePathEntry>> {
    const out = new Map<string, SourcePathEntry>();
    for (const p of new Set(paths)) {
      opts.signal?.throwIfAborted();
      out.set(p, await this.readPath(p));
    }
    return out;
  }

  private async readPath(p: string): Promise<SourcePathEntry> {
    const parts = p.split('/').filter((s) => s !== '' && s !== '.');
    let abs = this.root;
    for (const [i, part] of parts.entries()) {
      if (part === '..' || this.skip.has(part)) return { kind: 'missing' };
      abs = path.join(abs, part);
      let st;
      try {
        st = await lstat(abs);
      } catch {
        return { kind: 'missing' };
      }
      const here = parts.slice(0, i + 1).join('/');
      const last = i === parts.length - 1;
      if (st.isSymbolicLink()) return { kind: 'file', file: { path: here, symlinkTarget: await readlink(abs) }, ...(last ? {} : { through: true }) };
      if (st.isFile()) {
        if (!last) return { kind: 'missing' };
        const content = new Uint8Array(await readFile(abs));
        return { kind: 'file', file: { path: here, content, oid: blobId(content) } };
      }
      if (!st.isDirectory()) return { kind: 'missing' };
    }
    return { kind: 'directory' };
  }
}
