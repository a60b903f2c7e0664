/**
 * The Git Source: desired state read from a Git repository with isomorphic-git.
 *
 * An http(s) URL is cloned once into a bare repository in `cacheDir` and fetched on every
 * `resolve()`; a local path is read in place (its `.git` directory, or the bare repository
 * itself) and "fetching" it is just re-reading its refs. Objects are read directly from the
 * object database: no working tree is ever checked out.
 */
import fs from 'node:fs';
import { mkdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import git from 'isomorphic-git';
import gitHttp from 'isomorphic-git/http/node';
import { GantryError, errorMessage, isGantryError } from '../errors.js';
import { GitObjectReader, type GitTreeEntry } from './git-objects.js';
import type { GitAuth } from '../config.js';
import type { Logger } from '../log.js';
import type { SyncMetrics } from '../metrics/index.js';
import { isKustomizationFile } from './kustomize/model.js';
import { watchRefs } from './ref-watch.js';
import { parseRevision, walkRevision } from './revparse.js';
import type { Revision, Source, SourceFile, SourcePathEntry } from './types.js';
import { GenerationCache } from './generation-cache.js';

/** Options for {@link GitSource}. */
export interface GitSourceOptions {
  /** An http(s) URL, a `file://` URL, or a local path (work tree or bare repository). */
  url: string;
  /** Where the clone of a remote lives, e.g. `<data-dir>/source`. Unused for local paths. */
  cacheDir: string;
  /**
   * The ref followed when `resolve()` is called without one: a branch name (followed), a tag or
   * a full/abbreviated commit id (pinned). Default: the remote's default branch (its HEAD).
   */
  ref?: string;
  /** Subdirectory of the repository holding the manifests, e.g. `deploy/prod`. */
  path?: string;
  /**
   * Credentials for http(s). A token is sent as HTTP basic auth with user `x-access-token`
   * and the token as password, which GitHub accepts for personal and app tokens, and GitLab
   * accepts for personal/project access tokens (GitLab ignores the user name). For GitLab OAuth
   * tokens pass `{ username: 'oauth2', password: token }` instead.
   */
  auth?: GitAuth;
  logger?: Logger;
  /** Times each fetch from a remote and counts the failures (`gantry_git_fetch_*`). */
  metrics?: SyncMetrics;
}

/** A tree entry with what it is. */
type TypedEntry = GitTreeEntry & { type: 'tree' | 'blob' | 'commit' };

/** Branch and tag names of the source. */
export interface RefList {
  branches: string[];
  tags: string[];
}

/** Manifest candidates: what `files()` returns besides symlinks. */
const MANIFEST_EXT = /\.(ya?ml|json)$/i;
const HEX_ID = /^[0-9a-f]{4,40}$/i;
/** Parallel object reads: enough to overlap file I/O without flooding the event loop. */
const READ_CONCURRENCY = 64;

/** Runs `fn` over `items` with at most `limit` calls in flight, preserving order. */
async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Splits credentials out of a URL so they are never logged or stored in the clone's config. */
function splitCredentials(url: string): { url: string; auth?: GitAuth } {
  try {
    const u = new URL(url);
    if (!u.username && !u.password) return { url };
    const auth = { username: decodeURIComponent(u.username), password: decodeURIComponent(u.password) };
    u.username = '';
    u.password = '';
    return { url: u.toString(), auth };
  } catch {
    return { url };
  }
}

/** The HTTP Authorization header of `auth` (none without credentials). */
export function authHeaders(auth: GitAuth | undefined): Record<string, string> {
  if (!auth) return {};
  const [user, password] = 'token' in auth ? ['x-access-token', auth.token] : [auth.username, auth.password];
  return { Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` };
}

interface IsoGitError {
  code?: string;
  data?: { statusCode?: number; statusMessage?: string };
  message?: string;
}

/** Maps a failed fetch to a GantryError whose message names the URL (never credentials). */
function remoteError(err: unknown, url: string): GantryError {
  if (isGantryError(err)) return err;
  const e = (err ?? {}) as IsoGitError;
  if (e.code === 'HttpError' && e.data?.statusCode !== undefined) {
    const status = e.data.statusCode;
    if (status === 401 || status === 403) {
      return new GantryError('AuthFailed', `authentication to ${url} failed (HTTP ${status}): check the configured credentials`, { cause: err });
    }
    if (status === 404) {
      return new GantryError('SourceUnavailable', `repository ${url} not found (HTTP 404): check the URL and that the credentials can read it`, { cause: err });
    }
    return new GantryError('SourceUnavailable', `fetching ${url} failed: HTTP ${status} ${e.data.statusMessage ?? ''}`.trim(), { cause: err });
  }
  return new GantryError('SourceUnavailable', `cannot fetch ${url}: ${errorMessage(err)}`, { cause: err });
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/** The Git directory of a local repository: `<p>/.git`, a `.git` file's target, or `p` if bare. */
async function findGitDir(p: string): Promise<string | undefined> {
  const dotgit = path.join(p, '.git');
  if (await isDir(dotgit)) return dotgit;
  try {
    const text = await readFile(dotgit, 'utf8');
    const m = /^gitdir:\s*(.+)$/m.exec(text);
    if (m?.[1]) return path.resolve(p, m[1].trim());
  } catch {
    // not a linked work tree
  }
  if ((await isDir(path.join(p, 'objects'))) && (await isDir(path.join(p, 'refs')))) return p;
  return undefined;
}

/**
 * A {@link Source} over a Git repository, local or http(s).
 *
 * Reads are cached by object id (trees and blobs are immutable), so reading the same revision
 * again, or a revision that differs in a few files, only reads what changed.
 */
export class GitSource implements Source {
  /** URL (or path) as shown in messages: credentials removed. */
  readonly displayUrl: string;
  private readonly remote: boolean;
  private readonly remoteUrl: string;
  private readonly auth?: GitAuth;
  private readonly subdir: string;
  private readonly opts: GitSourceOptions;
  private gitdir?: string;
  private defaultBranch?: string;
  /** isomorphic-git's cache (parsed pack indexes); dropped after each fetch. */
  private gitCache: object = {};
  private readonly trees = new GenerationCache<SourceFile[]>();
  private readonly blobs = new GenerationCache<Uint8Array>();
  /** Parsed trees, for `readPaths()`, which walks from the root tree for every path. */
  private readonly entries = new GenerationCache<TypedEntry[]>();
  /** `readPaths()` answers by root tree and path. */
  private readonly pathEntries = new GenerationCache<SourcePathEntry>();
  private readonly commitTrees = new GenerationCache<string>();
  private fetching: Promise<void> = Promise.resolve();
  private reader?: GitObjectReader;

  constructor(opts: GitSourceOptions) {
    this.opts = opts;
    this.remote = /^https?:\/\//i.test(opts.url);
    if (this.remote) {
      const split = splitCredentials(opts.url);
      this.remoteUrl = split.url;
      this.auth = opts.auth ?? split.auth;
    } else {
      this.remoteUrl = path.resolve(opts.url.startsWith('file://') ? fileURLToPath(opts.url) : opts.url);
    }
    this.displayUrl = this.remoteUrl;
    this.subdir = (opts.path ?? '').split('/').filter((s) => s !== '' && s !== '.').join('/');
    if (this.subdir.split('/').includes('..')) {
      throw new GantryError('InvalidArgument', `source path "${opts.path}" must stay inside the repository`);
    }
  }

  /**
   * Fetches (http) or re-reads refs (local path), then resolves `ref` (default: the configured
   * ref, else the default branch) to a commit: a branch, a tag (annotated tags are peeled), or a
   * full or abbreviated commit id.
   */
  async resolve(ref?: string, opts: { signal?: AbortSignal } = {}): Promise<Revision> {
    opts.signal?.throwIfAborted();
    await this.sync();
    opts.signal?.throwIfAborted();
    const wanted = ref ?? this.opts.ref ?? this.defaultBranch ?? (await this.headBranch()) ?? 'main';
    const commit = await this.lookup(wanted);
    const { commit: c } = await git.readCommit({ fs, gitdir: this.dir(), oid: commit, cache: this.gitCache });
    return {
      commit,
      ref: wanted,
      author: { name: c.author.name, email: c.author.email, timestamp: c.author.timestamp },
      committer: { name: c.committer.name, email: c.committer.email, timestamp: c.committer.timestamp },
      message: c.message,
    };
  }

  /**
   * The manifest candidates (`*.yaml`, `*.yml`, `*.json`, and every file in and below a
   * directory with a kustomization file) and symlinks of `commit` under the
   * configured subdirectory, with paths relative to the repository root and `oid` set to the blob id.
   */
  async files(commit: string, opts: { signal?: AbortSignal } = {}): Promise<SourceFile[]> {
    if (!this.gitdir) await this.sync();
    const full = HEX_ID.test(commit) && commit.length === 40 ? commit.toLowerCase() : await this.lookup(commit);
    this.trees.rotate();
    this.blobs.rotate();
    this.entries.rotate();
    this.pathEntries.rotate();
    this.commitTrees.rotate();
    let tree = await this.commitTree(full);
    const walked: string[] = [];
    for (const part of this.subdir ? this.subdir.split('/') : []) {
      const entries = await this.treeEntries(tree);
      const entry = entries.find((e) => e.name === part);
      walked.push(part);
      if (!entry || entry.type !== 'tree') {
        // An absent subdirectory must not read as "no manifests": that would prune everything.
        throw new GantryError('NotFound', `directory "${walked.join('/')}" not found in commit ${full.slice(0, 12)} of ${this.displayUrl}`, {
          disposition: 'stalled',
        });
      }
      tree = entry.oid;
    }
    const files = await this.readTreeFiles(tree, opts.signal, false);
    const prefix = this.subdir ? `${this.subdir}/` : '';
    return files.map((f) => ({ ...f, path: prefix + f.path }));
  }

  /**
   * Paths of `commit` anywhere in the repository, each a file (with its blob id), a symlink, a
   * directory or missing; a symlink met on the way is reported as itself (see {@link SourcePathEntry}).
   */
  async readPaths(commit: string, paths: readonly string[], opts: { signal?: AbortSignal } = {}): Promise<Map<string, SourcePathEntry>> {
    if (!this.gitdir) await this.sync();
    const full = HEX_ID.test(commit) && commit.length === 40 ? commit.toLowerCase() : await this.lookup(commit);
    const tree = await this.commitTree(full);
    const out = new Map<string, SourcePathEntry>();
    await mapLimit([...new Set(paths)], READ_CONCURRENCY, async (p) => {
      opts.signal?.throwIfAborted();
      // What a path is depends on the root tree only: a resync of the same commit asks again.
      const key = `${tree}:${p}`;
      let entry = this.pathEntries.get(key);
      if (!entry) {
        entry = await this.readPath(tree, p);
        this.pathEntries.set(key, entry);
      }
      out.set(p, entry);
    });
    return out;
  }

  /** The root tree of a commit (commits are immutable: cached). */
  private async commitTree(commit: string): Promise<string> {
    let tree = this.commitTrees.get(commit);
    if (tree === undefined) {
      tree = (await git.readCommit({ fs, gitdir: this.dir(), oid: commit, cache: this.gitCache })).commit.tree;
      this.commitTrees.set(commit, tree);
    }
    return tree;
  }

  private async readPath(root: string, p: string): Promise<SourcePathEntry> {
    const parts = p.split('/').filter((s) => s !== '');
    let tree = root;
    for (const [i, part] of parts.entries()) {
      const entry = (await this.treeEntries(tree)).find((e) => e.name === part);
      if (!entry || entry.type === 'commit') return { kind: 'missing' };
      const here = parts.slice(0, i + 1).join('/');
      const last = i === parts.length - 1;
      if (entry.mode === '120000') {
        const target = Buffer.from(await this.readBlob(entry.oid)).toString('utf8');
        return { kind: 'file', file: { path: here, symlinkTarget: target, oid: entry.oid }, ...(last ? {} : { through: true }) };
      }
      if (entry.type === 'blob') return last ? { kind: 'file', file: { path: here, content: await this.readBlob(entry.oid), oid: entry.oid } } : { kind: 'missing' };
      tree = entry.oid;
    }
    return { kind: 'directory' };
  }

  /**
   * For a local repository: watches its refs and calls `onChange` after a commit, a branch
   * move or a checkout (see ref-watch.ts). An http remote cannot be watched: resolves false.
   */
  async watch(onChange: () => void, signal: AbortSignal): Promise<boolean> {
    if (this.remote) return false;
    await this.sync();
    return watchRefs({ gitdir: this.dir(), onChange, signal, logger: this.opts.logger });
  }

  /** The raw object of `commit` (a full id), for signature verification. */
  async commitObject(commit: string): Promise<Uint8Array> {
    if (!this.gitdir) await this.sync();
    const obj = await this.objects().read(commit);
    if (obj?.type === 'commit') return new Uint8Array(obj.data.buffer, obj.data.byteOffset, obj.data.byteLength);
    const read = await git.readObject({ fs, gitdir: this.dir(), oid: commit, format: 'content', cache: this.gitCache });
    if (read.type !== 'commit') throw new GantryError('RefNotFound', `${commit.slice(0, 12)} in ${this.displayUrl} is a ${read.type}, not a commit`);
    return read.object as Uint8Array;
  }

  /** Branch and tag names (remote-tracking branches for http), sorted. */
  async listRefs(): Promise<RefList> {
    const gitdir = this.dir();
    const branches = this.remote ? await git.listBranches({ fs, gitdir, remote: 'origin' }) : await git.listBranches({ fs, gitdir });
    const tags = await git.listTags({ fs, gitdir });
    return { branches: branches.filter((b) => b !== 'HEAD').sort(), tags: tags.sort() };
  }

  private dir(): string {
    if (!this.gitdir) throw new GantryError('Internal', 'GitSource used before resolve()');
    return this.gitdir;
  }

  private objects(): GitObjectReader {
    return (this.reader ??= new GitObjectReader(this.dir()));
  }

  /** A tree's entries: the fast reader first, isomorphic-git for anything it cannot read. */
  private async treeEntries(oid: string): Promise<TypedEntry[]> {
    const cached = this.entries.get(oid);
    if (cached) return cached;
    const read = await this.readTreeEntries(oid);
    this.entries.set(oid, read);
    return read;
  }

  private async readTreeEntries(oid: string): Promise<TypedEntry[]> {
    const typed = (e: GitTreeEntry): GitTreeEntry & { type: 'tree' | 'blob' | 'commit' } => ({
      ...e,
      type: e.mode === '040000' ? 'tree' : e.mode === '160000' ? 'commit' : 'blob',
    });
    const obj = await this.objects().read(oid);
    if (obj?.type === 'tree') return GitObjectReader.parseTree(obj.data).map(typed);
    const { tree } = await git.readTree({ fs, gitdir: this.dir(), oid, cache: this.gitCache });
    return tree.map((e) => typed({ mode: e.mode, name: e.path, oid: e.oid }));
  }

  /** Serialised so two resolves never fetch into the same clone at once. */
  private sync(): Promise<void> {
    const run = this.fetching.then(() => (this.remote ? this.fetchRemote() : this.openLocal()));
    this.fetching = run.catch(() => undefined);
    return run;
  }

  private async openLocal(): Promise<void> {
    if (this.gitdir) return;
    const gitdir = await findGitDir(this.remoteUrl);
    if (!gitdir) throw new GantryError('SourceUnavailable', `${this.remoteUrl} is not a Git repository (no .git directory, and not a bare repository)`);
    this.gitdir = gitdir;
  }

  private async fetchRemote(): Promise<void> {
    const gitdir = this.opts.cacheDir;
    const started = Date.now();
    if (!(await isDir(path.join(gitdir, 'objects')))) {
      await mkdir(gitdir, { recursive: true });
      await git.init({ fs, gitdir, bare: true, defaultBranch: 'main' });
    }
    await git.addRemote({ fs, gitdir, remote: 'origin', url: this.remoteUrl, force: true });
    this.gitdir = gitdir;
    const timer = performance.now();
    try {
      const result = await git.fetch({
        fs,
        http: gitHttp,
        gitdir,
        remote: 'origin',
        singleBranch: false,
        tags: true,
        prune: true,
        headers: authHeaders(this.auth),
      });
      if (result.defaultBranch) this.defaultBranch = result.defaultBranch.replace(/^refs\/heads\//, '');
      this.opts.metrics?.fetched((performance.now() - timer) / 1000);
    } catch (err) {
      const failure = remoteError(err, this.displayUrl);
      this.opts.metrics?.fetched((performance.now() - timer) / 1000, failure.code);
      throw failure;
    } finally {
      // New packs may have arrived; cached pack indexes are keyed by file name, so start fresh.
      this.gitCache = {};
      this.reader?.refresh();
    }
    this.opts.logger?.debug({ url: this.displayUrl, ms: Date.now() - started }, 'fetched source');
  }

  private async headBranch(): Promise<string | undefined> {
    try {
      const head = await git.resolveRef({ fs, gitdir: this.dir(), ref: 'HEAD', depth: 1 });
      return head.startsWith('refs/heads/') ? head.slice('refs/heads/'.length) : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Resolves a revision to a commit id: a branch, tag, remote-tracking branch (`origin/main`) or
   * commit id, optionally followed by `~N` / `^N` steps (see revparse.ts).
   */
  private async lookup(rev: string): Promise<string> {
    const { base, steps } = parseRevision(rev);
    const commit = await this.lookupName(base);
    if (steps.length === 0) return commit;
    return walkRevision({ parents: async (oid) => (await git.readCommit({ fs, gitdir: this.dir(), oid, cache: this.gitCache })).commit.parent }, commit, steps, rev);
  }

  /**
   * The commit id two commits' histories last share (their merge base), or undefined when they
   * share none. Both must already be resolved commit ids of this source.
   */
  async mergeBase(a: string, b: string): Promise<string | undefined> {
    const bases = (await git.findMergeBase({ fs, gitdir: this.dir(), oids: [a, b], cache: this.gitCache })) as string[];
    return bases[0];
  }

  /** True when `rev` resolves in this source (after a fetch for http). */
  async has(rev: string): Promise<boolean> {
    await this.sync();
    try {
      await this.lookup(rev);
      return true;
    } catch (err) {
      if (isGantryError(err, 'RefNotFound') || isGantryError(err, 'InvalidArgument')) return false;
      throw err;
    }
  }

  /** Resolves a branch, tag or commit id to a commit id; RefNotFound lists what exists. */
  private async lookupName(ref: string): Promise<string> {
    const gitdir = this.dir();
    const branchRef = (name: string): string => (this.remote ? `refs/remotes/origin/${name}` : `refs/heads/${name}`);
    const candidates: string[] = [];
    if (ref === 'HEAD') candidates.push(this.remote ? branchRef(this.defaultBranch ?? 'main') : 'HEAD');
    else if (ref.startsWith('refs/heads/')) candidates.push(branchRef(ref.slice('refs/heads/'.length)));
    else if (ref.startsWith('refs/')) candidates.push(ref);
    else candidates.push(branchRef(ref), `refs/tags/${ref}`, `refs/remotes/${ref}`);
    for (const full of candidates) {
      let oid: string | undefined;
      try {
        oid = await git.resolveRef({ fs, gitdir, ref: full });
      } catch {
        continue;
      }
      return this.peel(oid, ref);
    }
    if (HEX_ID.test(ref)) {
      try {
        const oid = await git.expandOid({ fs, gitdir, oid: ref.toLowerCase(), cache: this.gitCache });
        return await this.peel(oid, ref);
      } catch (err) {
        if ((err as IsoGitError).code === 'AmbiguousError') {
          throw new GantryError('RefNotFound', `commit id '${ref}' is ambiguous in ${this.displayUrl}: give more digits`, { cause: err });
        }
        if (isGantryError(err)) throw err;
      }
    }
    const { branches, tags } = await this.listRefs();
    const what = HEX_ID.test(ref) ? 'branch, tag or commit' : 'branch or tag';
    throw new GantryError(
      'RefNotFound',
      `${what} '${ref}' not found in ${this.displayUrl}; branches: ${branches.join(', ') || '(none)'}` +
        (tags.length ? `; tags: ${tags.join(', ')}` : ''),
    );
  }

  /** Follows annotated tags to the commit they name. */
  private async peel(oid: string, ref: string): Promise<string> {
    const gitdir = this.dir();
    for (let depth = 0; depth < 10; depth++) {
      const obj = await git.readObject({ fs, gitdir, oid, format: 'parsed', cache: this.gitCache });
      if (obj.type === 'commit') return oid;
      if (obj.type !== 'tag') {
        throw new GantryError('RefNotFound', `'${ref}' in ${this.displayUrl} names a ${obj.type}, not a commit`);
      }
      oid = (obj.object as { object: string }).object;
    }
    throw new GantryError('RefNotFound', `tag '${ref}' in ${this.displayUrl} nests tags too deeply`);
  }

  /**
   * Files of one tree, recursively; cached by tree id (and whether a kustomization above it
   * makes every file count).
   */
  private async readTreeFiles(treeOid: string, signal: AbortSignal | undefined, inKustomization: boolean): Promise<SourceFile[]> {
    const cacheKey = inKustomization ? `${treeOid}:k` : treeOid;
    const cached = this.trees.get(cacheKey);
    if (cached) return cached;
    signal?.throwIfAborted();
    const tree = await this.treeEntries(treeOid);
    const subtrees = tree.filter((e) => e.type === 'tree');
    // Below a kustomization every file may be read by it (generator sources, patches).
    const kustomized = inKustomization || tree.some((e) => e.type === 'blob' && isKustomizationFile(e.name));
    const blobs = tree.filter((e) => e.type === 'blob' && (e.mode === '120000' || kustomized || MANIFEST_EXT.test(e.name)));
    const own = await mapLimit(blobs, READ_CONCURRENCY, async (e): Promise<SourceFile> => {
      const content = await this.readBlob(e.oid);
      if (e.mode === '120000') return { path: e.name, symlinkTarget: Buffer.from(content).toString('utf8'), oid: e.oid };
      return { path: e.name, content, oid: e.oid };
    });
    const nested = await mapLimit(subtrees, 8, async (e) => {
      const files = await this.readTreeFiles(e.oid, signal, kustomized);
      return files.map((f) => ({ ...f, path: `${e.name}/${f.path}` }));
    });
    const out = own.concat(...nested);
    this.trees.set(cacheKey, out);
    return out;
  }

  private async readBlob(oid: string): Promise<Uint8Array> {
    const cached = this.blobs.get(oid);
    if (cached) return cached;
    const obj = await this.objects().read(oid);
    const blob = obj?.type === 'blob' ? new Uint8Array(obj.data.buffer, obj.data.byteOffset, obj.data.byteLength) : (await git.readBlob({ fs, gitdir: this.dir(), oid, cache: this.gitCache })).blob;
    this.blobs.set(oid, blob);
    return blob;
  }
}
