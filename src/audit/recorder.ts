/**
 * The Git recorder: one commit per store change (and per sync attempt) on the status branch of a
 * bare repository, written by a background writer so the control loop never waits for it.
 *
 * Each change writes the object's file (`<namespace>/<kind>/<name>.yaml`, or removes it), a
 * message in words from summarizeChange, and trailers (actor, desired and store revision,
 * object). Commits of a drained batch are chained in memory and the branch ref moves once per
 * batch, after all their objects are on disk: the ref only ever points at a complete commit.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { access, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import git from 'isomorphic-git';
import { dump } from 'js-yaml';
import http from 'isomorphic-git/http/node';
import { describeChanges, summarizeChange } from '../diff/summary.js';
import { errorMessage, GantryError, isGantryError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { objectKey } from '../model/keys.js';
import type { KubeObject } from '../model/types.js';
import type { WatchEvent } from '../store/types.js';
import { formatMessage, formatPerson, MAX_SUMMARY, parseMessage, summarizeSync, syncBody, TRAILERS } from './message.js';
import { commitBody, encodeObject, packEntry, PackWriter, type EncodedObject, type Signature } from './objects.js';
import { objectPathSegments, orderKeys, renderObjectFile, SYNC_DIR } from './render.js';
import type { BlameLine } from './blame.js';
import { HistoryReader } from './history.js';
import { TreeIndex, TreeNode } from './tree.js';
import { loadKeyFile } from './digest-key.js';
import type { HistoryEntry, ObjectChange, Recorder, SyncRecord } from './types.js';

/** Credentials for pushing: user and password, or a token (sent as the password). */
export type PushAuth = { username: string; password: string } | { token: string };

/** Where and how often to push the status branch. */
export interface PushOptions {
  /** http(s) URL of the remote repository. */
  url: string;
  auth?: PushAuth;
  /** How often to push when something new was committed. Default 60 s. */
  intervalMs?: number;
  /** Branch on the remote; default: the local status branch name. */
  remoteBranch?: string;
}

/** What the writer reports after each batch reaches the branch (for metrics and the bench). */
export interface CommittedBatch {
  /** The branch head after the batch. */
  head: string;
  /** One per committed change or sync record, in order. */
  items: Array<{ commit: string; enqueuedAt: number; committedAt: number }>;
}

/** Options for {@link openRecorder}. */
export interface RecorderOptions {
  /** The status branch. Default `status`. */
  branch?: string;
  /**
   * Committer of status commits (default `gantry <gantry@localhost>`); the author is the actor
   * of each change, with this email.
   */
  author?: { name: string; email: string };
  logger?: Logger;
  /** The branch gantry watches for desired state; pushing to it is refused. */
  watchedBranch?: string;
  push?: PushOptions;
  /** Most changes committed per ref update (and per pack). Default 128. */
  batchSize?: number;
  /** fsync objects and the ref before moving on (survives power loss; slower). Default false. */
  durable?: boolean;
  /**
   * After this many packs written (one per batch), run `git repack -d --geometric=2` in the
   * background, merging small packs with delta compression (needs the git command; skipped with a
   * warning without it). 0 disables. Default 50.
   */
  compactEvery?: number;
  /**
   * Decides, in the writer (not in recordChange), whether a change gets a commit; e.g. to leave
   * out node heartbeats that only move timestamps. Default: every change.
   */
  filter?: (event: WatchEvent) => boolean;
  /**
   * Open for reading only (`gantry history` while another process records): nothing is created,
   * cleaned or written, and history reads the branch head from disk on every query. Recording
   * throws `InvalidArgument`.
   */
  readonly?: boolean;
  /**
   * Key of the Secret digests (HMAC-SHA256). Default: the key in `history.key` beside the
   * repository (`<data-dir>/history.key`), made at first open. See digest-key.ts.
   */
  digestKey?: Buffer;
  /** The change time source (ms since the epoch), for tests. Default Date.now. */
  clock?: () => number;
  /** Called after each batch is on the branch. `enqueuedAt`/`committedAt` are performance.now() ms. */
  onCommitted?: (batch: CommittedBatch) => void;
  /** Called with the number of changes given up on after write failures (each is logged too). */
  onDropped?: (count: number) => void;
}

/** Counters of the recorder's queue. */
export interface RecorderStats {
  /** Waiting to be written. */
  queued: number;
  /** Committed since open. */
  committed: number;
  /** Given up after repeated write failures (logged). */
  dropped: number;
  /** Left out by the `filter` option. */
  skipped: number;
  /** The branch head, undefined before the first commit. */
  head: string | undefined;
  /** The head last pushed, when pushing is configured. */
  pushed: string | undefined;
}

type Item =
  | { kind: 'change'; event: WatchEvent; at: number; enqueuedAt: number }
  | { kind: 'sync'; record: SyncRecord; at: number; enqueuedAt: number };

const DEFAULT_AUTHOR = { name: 'gantry', email: 'gantry@localhost' };
/** Phrases shown in a summary line; the body lists them all when there are more. */
const SUMMARY_PHRASES = 4;
/** The writer yields to the event loop after this much synchronous work while building a batch. */
const YIELD_AFTER_MS = 2;
const WRITE_ATTEMPTS = 5;

function validBranch(name: string): boolean {
  return /^[A-Za-z0-9._/-]+$/.test(name) && !name.includes('..') && !name.startsWith('/') && !name.endsWith('/') && !name.endsWith('.lock');
}

function shortBranch(name: string): string {
  return name.replace(/^refs\/heads\//, '');
}

const nextTick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Opens (creating when missing) the status repository at `dir` (a bare repository, usually
 * `<data-dir>/history.git`) and starts its writer. Continues the existing branch if there is one.
 *
 * Throws `InvalidArgument` for a bad branch name, or when `push.remoteBranch` (default: the
 * status branch) is the watched branch.
 */
export async function openRecorder(dir: string, opts: RecorderOptions = {}): Promise<GitRecorder> {
  const branch = shortBranch(opts.branch ?? 'status');
  if (!validBranch(branch)) throw new GantryError('InvalidArgument', `cannot open the audit repository: "${branch}" is not a valid branch name`);
  if (opts.push) {
    const remoteBranch = shortBranch(opts.push.remoteBranch ?? branch);
    if (!validBranch(remoteBranch)) throw new GantryError('InvalidArgument', `cannot push the status branch: "${remoteBranch}" is not a valid branch name`);
    if (opts.watchedBranch !== undefined && shortBranch(opts.watchedBranch) === remoteBranch) {
      throw new GantryError(
        'InvalidArgument',
        `cannot push the status branch to "${remoteBranch}": it is the branch gantry watches for desired state; choose another remote branch`,
      );
    }
    if (!/^https?:\/\//.test(opts.push.url)) throw new GantryError('InvalidArgument', `cannot push the status branch to "${opts.push.url}": only http(s) URLs are supported`);
  }
  const gitdir = path.resolve(dir);
  const exists = await access(path.join(gitdir, 'HEAD')).then(() => true, () => false);
  const keyFile = defaultDigestKeyFile(gitdir);
  if (opts.readonly) {
    if (!exists) throw new GantryError('NotFound', `no audit history at ${gitdir}: it is not a Git repository`);
    // A reader digests (blame compares live Secrets) only when it may read the key.
    const digestKey = opts.digestKey ?? (await loadExistingKey(keyFile));
    const reader = new GitRecorder(gitdir, branch, { ...opts, ...(digestKey ? { digestKey } : {}) });
    await reader.refreshHead();
    return reader;
  }
  const digestKey = opts.digestKey ?? (await loadKeyFile(keyFile));
  if (!exists) await git.init({ fs, gitdir, bare: true, defaultBranch: branch });
  await removeLeftovers(gitdir, branch);
  const recorder = new GitRecorder(gitdir, branch, { ...opts, digestKey });
  await recorder.load();
  recorder.startPushTimer();
  return recorder;
}

/** The digest key file beside a status repository: `<data-dir>/history.key` for `<data-dir>/history.git`. */
export function defaultDigestKeyFile(gitdir: string): string {
  return path.join(path.dirname(path.resolve(gitdir)), 'history.key');
}

/** The key in `file` if there is one this process may read. */
async function loadExistingKey(file: string): Promise<Buffer | undefined> {
  if (!(await access(file).then(() => true, () => false))) return undefined;
  return loadKeyFile(file).catch(() => undefined);
}

/**
 * Removes temporary files a killed writer left behind (they were never renamed into place, so
 * nothing refers to them). Only the recorder writes this repository, and it is not running yet.
 */
async function removeLeftovers(gitdir: string, branch: string): Promise<void> {
  const dirs = [path.join(gitdir, 'objects', 'pack'), path.dirname(path.join(gitdir, 'refs', 'heads', ...branch.split('/')))];
  for (const dir of dirs) {
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const name of names) {
      if (name.startsWith('tmp_gantry_')) await rm(path.join(dir, name), { force: true });
    }
  }
}

/** Loads a tree and its subtrees from the repository into an index node. */
async function loadTree(gitdir: string, oid: string, node: TreeNode, cache: object): Promise<void> {
  const { tree } = await git.readTree({ fs, gitdir, oid, cache });
  for (const entry of tree) {
    if (entry.type === 'tree') {
      const child = new TreeNode();
      await loadTree(gitdir, entry.oid, child, cache);
      node.attach(entry.path, entry.oid, child);
    } else if (entry.type === 'blob') {
      node.attachFile(entry.path, entry.oid);
    }
  }
  node.oid = oid;
}

/** The recorder on a Git repository. Create with {@link openRecorder}. */
export class GitRecorder implements Recorder {
  /** The repository (bare) directory. */
  readonly gitdir: string;
  /** The status branch, e.g. `status`. */
  readonly branch: string;
  private readonly ref: string;
  private readonly author: { name: string; email: string };
  private readonly logger: Logger;
  private readonly writer: PackWriter;
  private readonly batchSize: number;
  private readonly clock: () => number;
  private index = new TreeIndex();
  private head: string | undefined;
  /** Store revision of the newest committed change. */
  private lastRevision = 0;
  /** The newest revision found on the branch at open, and the objects committed at it. */
  private replayRevision = 0;
  private keysAtLastRevision = new Set<string>();

  // The queue is an array with a moving start, so enqueue and dequeue are O(1) amortized.
  private queue: Item[] = [];
  private queueStart = 0;
  private enqueued = 0;
  private done = 0;
  private dropped = 0;
  private skipped = 0;
  private running = false;
  private closed = false;
  private waiters: Array<{ seq: number; resolve: () => void }> = [];

  private packsSinceCompact = 0;
  private compacting: Promise<void> | undefined;
  private compactDisabled = false;

  private pushTimer: NodeJS.Timeout | undefined;
  private pushing: Promise<void> = Promise.resolve();
  private pushedHead: string | undefined;

  /** Use {@link openRecorder}. */
  constructor(gitdir: string, branch: string, private readonly opts: RecorderOptions) {
    this.gitdir = gitdir;
    this.branch = branch;
    this.ref = `refs/heads/${branch}`;
    this.author = opts.author ?? DEFAULT_AUTHOR;
    this.logger = (opts.logger ?? silentLogger()).child({ component: 'audit' });
    this.writer = new PackWriter(gitdir);
    this.batchSize = Math.max(1, opts.batchSize ?? 128);
    this.clock = opts.clock ?? Date.now;
  }

  /** The Secret digest key; set for every recorder that writes. */
  digestKey(): Buffer {
    if (!this.opts.digestKey) throw new GantryError('InvalidArgument', `no audit digest key beside ${this.gitdir} (history.key) is readable here`);
    return this.opts.digestKey;
  }

  /** Reads the branch head and its tree into the in-memory index. */
  async load(): Promise<void> {
    const head = await git.resolveRef({ fs, gitdir: this.gitdir, ref: this.ref }).catch(() => undefined);
    const index = new TreeIndex();
    if (head) {
      const cache = {};
      const { commit } = await git.readCommit({ fs, gitdir: this.gitdir, oid: head, cache });
      await loadTree(this.gitdir, commit.tree, index.root, cache);
    }
    this.index = index;
    this.head = head;
    await this.loadLastRevision();
  }

  /** Reads the branch head from disk (for a read-only recorder, before each query). */
  async refreshHead(): Promise<void> {
    this.head = await git.resolveRef({ fs, gitdir: this.gitdir, ref: this.ref }).catch(() => undefined);
  }

  /**
   * Finds the newest store revision on the branch and every object committed at it: the changes
   * of one store transaction share a revision and a crash may have cut them between two batches,
   * so a restart resumes at that revision and skips what it already holds.
   */
  private async loadLastRevision(): Promise<void> {
    this.lastRevision = 0;
    this.keysAtLastRevision = new Set();
    const cache = {};
    let oid = this.head;
    // Sync records carry no store revision; look past a bounded number of them.
    for (let seen = 0; oid && seen < 10_000; seen++) {
      const { commit } = await git.readCommit({ fs, gitdir: this.gitdir, oid, cache });
      const parsed = parseMessage(commit.message);
      const rev = Number(parsed.trailers.get(TRAILERS.storeRevision));
      const key = parsed.trailers.get(TRAILERS.object);
      if (Number.isFinite(rev) && rev > 0 && key) {
        if (this.lastRevision === 0) this.lastRevision = rev;
        if (rev !== this.lastRevision) break;
        this.keysAtLastRevision.add(key);
      }
      oid = commit.parent[0];
    }
    this.replayRevision = this.lastRevision;
  }

  /**
   * The revision to watch the store from after a restart: just before the newest recorded one, so
   * the rest of a transaction cut by a crash is delivered again (what was already recorded of it
   * is skipped). 0 when nothing was recorded.
   */
  async lastStoreRevision(): Promise<number> {
    if (this.opts.readonly) {
      await this.refreshHead();
      await this.loadLastRevision();
    }
    return Math.max(0, this.lastRevision - 1);
  }

  /** Queues a store change; returns at once. Ignored (and logged) after close. */
  recordChange(event: WatchEvent): void {
    this.enqueue({ kind: 'change', event, at: this.clock(), enqueuedAt: performance.now() });
  }

  /** Queues a sync attempt; returns at once. */
  recordSync(record: SyncRecord): void {
    const parsed = Date.parse(record.at);
    this.enqueue({ kind: 'sync', record, at: Number.isNaN(parsed) ? this.clock() : parsed, enqueuedAt: performance.now() });
  }

  private enqueue(item: Item): void {
    if (this.opts.readonly) throw new GantryError('InvalidArgument', `the audit repository ${this.gitdir} is open read-only; nothing can be recorded`);
    if (this.closed) {
      this.logger.warn('audit recorder is closed; change not recorded');
      return;
    }
    this.queue.push(item);
    this.enqueued += 1;
    if (!this.running) {
      this.running = true;
      setImmediate(() => void this.drain());
    }
  }

  /** Resolves when everything queued before the call is committed (or dropped). */
  flush(): Promise<void> {
    const seq = this.enqueued;
    if (this.done >= seq) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ seq, resolve }));
  }

  /** Queue counters and heads. */
  stats(): RecorderStats {
    return { queued: this.enqueued - this.done, committed: this.done - this.dropped - this.skipped, dropped: this.dropped, skipped: this.skipped, head: this.head, pushed: this.pushedHead };
  }

  private async drain(): Promise<void> {
    try {
      while (this.queueStart < this.queue.length) {
        const end = Math.min(this.queue.length, this.queueStart + this.batchSize);
        const batch = this.queue.slice(this.queueStart, end);
        this.queueStart = end;
        if (this.queueStart > 4096 && this.queueStart * 2 > this.queue.length) {
          this.queue = this.queue.slice(this.queueStart);
          this.queueStart = 0;
        }
        try {
          await this.writeBatch(batch);
        } catch (err) {
          // Never leave flush() waiting: an unexpected failure drops the batch, loudly.
          this.drop(batch.length);
          this.logger.error({ err: errorMessage(err), changes: batch.length }, 'audit: batch failed; changes dropped');
        }
        this.done += batch.length;
        this.wakeWaiters();
      }
      // Drained: let go of the written items (events with whole objects) rather than keeping up
      // to the compaction threshold of them alive until the next burst.
      this.queue = [];
      this.queueStart = 0;
    } finally {
      this.running = false;
      // An item enqueued between the last check and `running = false` must still be drained.
      if (this.queueStart < this.queue.length) {
        this.running = true;
        setImmediate(() => void this.drain());
      }
      this.wakeWaiters();
    }
  }

  private drop(count: number): void {
    this.dropped += count;
    this.opts.onDropped?.(count);
  }

  private wakeWaiters(): void {
    if (!this.waiters.length) return;
    const ready = this.waiters.filter((w) => w.seq <= this.done);
    this.waiters = this.waiters.filter((w) => w.seq > this.done);
    for (const w of ready) w.resolve();
  }

  private signature(atMs: number): Signature {
    return { ...this.author, timestamp: Math.floor(atMs / 1000), timezoneOffset: 0 };
  }

  /** Builds the commits of a batch in memory, writes their objects, then moves the ref once. */
  private async writeBatch(batch: Item[]): Promise<void> {
    const objects = new Map<string, EncodedObject>();
    const commits: Array<{ commit: string; enqueuedAt: number }> = [];
    let parent = this.head;
    const startHead = this.head;
    let lastYield = performance.now();
    for (let i = 0; i < batch.length; i++) {
      if (performance.now() - lastYield > YIELD_AFTER_MS) {
        await nextTick();
        lastYield = performance.now();
      }
      const item = batch[i]!;
      if (item.kind === 'change' && this.alreadyRecorded(item.event)) {
        this.skipped += 1;
        continue;
      }
      if (item.kind === 'change' && this.opts.filter && !this.opts.filter(item.event)) {
        this.skipped += 1;
        continue;
      }
      try {
        const out: EncodedObject[] = [];
        const message = item.kind === 'change' ? this.stageChange(item.event, out) : this.stageSync(item.record, out);
        const tree = this.index.encode(out);
        const sig = this.signature(item.at);
        // The author is who made the change (`sync`, `controller/deployment`, `node/vm`), so
        // `git log --format=%an` and `git shortlog` of the status branch read as "who"; gantry commits.
        const actor = item.kind === 'change' ? item.event.origin?.actor ?? 'unknown' : 'sync';
        const author = { ...sig, name: actor };
        const commit = encodeObject('commit', commitBody({ tree, parent, author, committer: sig, message }));
        out.push(commit);
        for (const o of out) {
          if (objects.has(o.oid)) continue;
          packEntry(o);
          objects.set(o.oid, o);
        }
        parent = commit.oid;
        commits.push({ commit: commit.oid, enqueuedAt: item.enqueuedAt });
        if (item.kind === 'change') this.noteRevision(item.event);
      } catch (err) {
        // A change that cannot be rendered must not stop the ones after it.
        this.drop(1);
        this.logger.error({ err: errorMessage(err) }, 'audit: cannot record a change; skipped');
      }
    }
    if (!parent || parent === startHead) return;

    for (let attempt = 1; ; attempt++) {
      try {
        await this.writer.writeObjects([...objects.values()], { sync: this.opts.durable, yieldNow: nextTick });
        await this.writer.writeRef(this.ref, parent, { sync: this.opts.durable });
        break;
      } catch (err) {
        if (attempt >= WRITE_ATTEMPTS) {
          this.drop(commits.length);
          this.logger.error({ err: errorMessage(err), changes: commits.length }, 'audit: cannot write to the status repository; changes dropped');
          // The index already holds the dropped changes: rebuild it from what is on disk.
          await this.load().catch((e: unknown) => this.logger.error({ err: errorMessage(e) }, 'audit: cannot reload the status branch'));
          return;
        }
        this.logger.warn({ err: errorMessage(err), attempt }, 'audit: write to the status repository failed; retrying');
        await sleep(100 * 2 ** attempt);
      }
    }
    this.head = parent;
    this.packsSinceCompact += 1;
    const every = this.opts.compactEvery ?? 50;
    if (every > 0 && this.packsSinceCompact >= every && !this.compacting && !this.compactDisabled) {
      void this.compact();
    }
    if (this.opts.onCommitted) {
      const committedAt = performance.now();
      this.opts.onCommitted({ head: parent, items: commits.map((c) => ({ ...c, committedAt })) });
    }
  }

  /**
   * True for a change that was on the branch when it was opened: the newest recorded revision,
   * delivered again because the feed resumes just before it. Only replays are skipped; once a
   * newer revision arrives nothing is.
   */
  private alreadyRecorded(event: WatchEvent): boolean {
    if (this.keysAtLastRevision.size === 0) return false;
    if (event.revision > this.replayRevision) {
      this.keysAtLastRevision = new Set();
      return false;
    }
    return event.revision === this.replayRevision && this.keysAtLastRevision.has(objectKey(event.object));
  }

  private noteRevision(event: WatchEvent): void {
    if (event.revision > this.lastRevision) this.lastRevision = event.revision;
  }

  /** Updates the index for a change and returns its commit message. */
  private stageChange(event: WatchEvent, out: EncodedObject[]): string {
    const obj = event.object;
    const segments = objectPathSegments(obj);
    if (event.type === 'DELETED') {
      this.index.removeFile(segments);
    } else {
      const blob = encodeObject('blob', Buffer.from(renderObjectFile(obj, this.digestKey()), 'utf8'));
      out.push(blob);
      this.index.setFile(segments, blob.oid);
    }
    const phrases = describeChanges(event);
    // As many phrases as fit the summary line; the body lists them all when some are left out.
    let shown = Math.min(SUMMARY_PHRASES, Math.max(1, phrases.length));
    let summary = summarizeChange(event, { maxPhrases: shown, phrases });
    while (summary.length > MAX_SUMMARY && shown > 1) summary = summarizeChange(event, { maxPhrases: --shown, phrases });
    const body = phrases.length > shown || summary.length > MAX_SUMMARY ? phrases.map((p) => `- ${p}`).join('\n') : undefined;
    const origin = event.origin;
    return formatMessage(summary, body, [
      [TRAILERS.actor, origin?.actor ?? 'unknown'],
      [TRAILERS.desiredRevision, origin?.desiredRevision],
      [TRAILERS.desiredAuthor, origin?.desiredAuthor],
      [TRAILERS.desiredCommitter, origin?.desiredCommitter],
      [TRAILERS.storeRevision, event.revision],
      [TRAILERS.object, objectKey(obj)],
      [TRAILERS.reason, origin?.reason],
    ]);
  }

  /** Writes `_sync/last.yaml` for a sync record and returns its commit message. */
  private stageSync(record: SyncRecord, out: EncodedObject[]): string {
    const file = {
      outcome: record.outcome,
      at: record.at,
      revision: { commit: record.revision.commit, ref: record.revision.ref },
      summary: record.summary,
      issues: record.issues,
      error: record.error,
    };
    const blob = encodeObject('blob', Buffer.from(dump(orderKeys(file), { noRefs: true, lineWidth: -1 }), 'utf8'));
    out.push(blob);
    this.index.setFile([SYNC_DIR, 'last.yaml'], blob.oid);
    return formatMessage(summarizeSync(record), syncBody(record), [
      [TRAILERS.actor, 'sync'],
      [TRAILERS.desiredRevision, record.revision.commit],
      [TRAILERS.desiredAuthor, formatPerson(record.revision.author)],
      [TRAILERS.desiredCommitter, formatPerson(record.revision.committer)],
      [TRAILERS.sync, record.outcome],
    ]);
  }

  /**
   * Entries of the status branch, newest first: by default the last 100; `object` keeps only
   * changes to that object (a key, `Deployment/default/web`); `since` stops at older commits.
   * Reads what is committed: call {@link flush} first to include what is still queued.
   */
  async history(opts: { object?: string; since?: Date; limit?: number; signal?: AbortSignal } = {}): Promise<HistoryEntry[]> {
    try {
      return await this.walk(opts);
    } catch (err) {
      // A repack may have replaced the packs being read: read again from the new ones.
      if (isGantryError(err)) throw err;
      return this.walk(opts);
    }
  }

  private async walk(opts: { object?: string; since?: Date; limit?: number; signal?: AbortSignal }): Promise<HistoryEntry[]> {
    if (this.opts.readonly) await this.refreshHead();
    return new HistoryReader(this.gitdir).entries(this.head, opts);
  }

  /** Every recorded change of one object (key `Kind/namespace/name`), newest first. */
  objectHistory(key: string, opts: { since?: Date; limit?: number } = {}): Promise<HistoryEntry[]> {
    return this.history({ ...opts, object: key, limit: opts.limit ?? Number.MAX_SAFE_INTEGER });
  }

  /** See {@link Recorder.objectChange}. */
  async objectChange(entry: Pick<HistoryEntry, 'commit' | 'object'>): Promise<ObjectChange> {
    return (await this.objectChanges([entry]))[0]!;
  }

  /** See {@link Recorder.objectChanges}. */
  async objectChanges(entries: readonly Pick<HistoryEntry, 'commit' | 'object'>[]): Promise<ObjectChange[]> {
    // One reader for them all: it loads the pack indexes once.
    const reader = new HistoryReader(this.gitdir);
    const out: ObjectChange[] = [];
    // One entry at a time: a long history must not open hundreds of blob reads at once.
    for (const e of entries) out.push(await reader.objectChange(e.commit, e.object));
    return out;
  }

  /**
   * Who set each field of an object (key `Kind/namespace/name`): its recorded versions walked
   * oldest first (see blame.ts). With `live`, the fields are the live object's (Secret values
   * digested with this trail's key to compare), and a field the history has not caught up with is
   * `unrecorded`. Reads what is committed.
   */
  async blame(key: string, opts: { live?: KubeObject } = {}): Promise<BlameLine[]> {
    if (this.opts.readonly) await this.refreshHead();
    const query = () => new HistoryReader(this.gitdir).blame(this.head, key, { ...opts, ...(this.opts.digestKey ? { digestKey: this.opts.digestKey } : {}) });
    try {
      return await query();
    } catch (err) {
      // A repack may have replaced the packs being read: read again from the new ones.
      if (isGantryError(err)) throw err;
      return query();
    }
  }

  /** The object's file as recorded at a commit (default: the head), or undefined when absent. */
  async fileAt(filepath: string, commit?: string): Promise<string | undefined> {
    const oid = commit ?? this.head;
    return oid ? new HistoryReader(this.gitdir).fileAt(oid, filepath) : undefined;
  }

  /** Starts periodic pushes when configured. Called by {@link openRecorder}. */
  startPushTimer(): void {
    const push = this.opts.push;
    if (!push || this.pushTimer) return;
    this.pushTimer = setInterval(() => void this.push().catch(() => undefined), Math.max(1000, push.intervalMs ?? 60_000));
    this.pushTimer.unref();
  }

  /**
   * Pushes the status branch to the configured remote now (no-op when nothing is new or no push
   * is configured). Never forces: a diverged remote branch is an error, logged and thrown.
   */
  push(): Promise<void> {
    const run = async (): Promise<void> => {
      const p = this.opts.push;
      const head = this.head;
      if (!p || !head || head === this.pushedHead) return;
      const auth = p.auth;
      const remoteBranch = shortBranch(p.remoteBranch ?? this.branch);
      try {
        const result = await git.push({
          fs,
          http,
          gitdir: this.gitdir,
          url: p.url,
          ref: this.ref,
          remoteRef: `refs/heads/${remoteBranch}`,
          onAuth: auth ? () => ('token' in auth ? { username: 'gantry', password: auth.token } : auth) : undefined,
          onAuthFailure: () => ({ cancel: true }),
        });
        if (!result.ok) throw new Error(result.error ?? 'remote refused the push');
        this.pushedHead = head;
        this.logger.info({ url: p.url, branch: remoteBranch, head }, 'audit: status branch pushed');
      } catch (err) {
        this.logger.warn({ url: p.url, branch: remoteBranch, err: errorMessage(err) }, 'audit: push of the status branch failed');
        throw new GantryError('SourceUnavailable', `cannot push the status branch to ${p.url} (${remoteBranch}): ${errorMessage(err)}`, { cause: err });
      }
    };
    const next = this.pushing.then(run, run);
    this.pushing = next.catch(() => undefined);
    return next;
  }

  /**
   * Merges packs now with `git repack -d --geometric=2` (delta-compressed; packs written while it
   * runs are left alone, so the writer need not stop). Resolves when done; failures are logged.
   */
  compact(): Promise<void> {
    if (this.compacting) return this.compacting;
    this.packsSinceCompact = 0;
    const run = new Promise<void>((resolve) => {
      execFile('git', ['--git-dir', this.gitdir, '-c', 'gc.auto=0', 'repack', '-d', '-q', '--geometric=2'], { timeout: 10 * 60_000 }, (err) => {
        if (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
            this.compactDisabled = true;
            this.logger.warn('audit: the git command is not installed; packs of the status repository are not merged');
          } else {
            this.logger.warn({ err: errorMessage(err) }, 'audit: git repack of the status repository failed');
          }
        }
        resolve();
      });
    });
    this.compacting = run.finally(() => {
      this.compacting = undefined;
    });
    return this.compacting;
  }

  /** Flushes the queue, pushes once more when configured, and stops. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return this.flush();
    this.closed = true;
    await this.flush();
    if (this.pushTimer) clearInterval(this.pushTimer);
    this.pushTimer = undefined;
    if (this.opts.push) await this.push().catch(() => undefined);
    if (this.compacting) await this.compacting;
  }
}
