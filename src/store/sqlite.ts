/**
 * The embedded Store backend: one SQLite file (better-sqlite3), safe to share between the
 * server and the CLI on the same machine.
 *
 * Layout: `objects` holds the current objects as JSON text keyed by `Kind/namespace/name`;
 * `changes` is the change log (one row per revision) that watches replay and follow; `meta`
 * holds the current revision and how far the log has been compacted. Every write runs in a
 * `BEGIN IMMEDIATE` transaction that reads the revision from `meta`, so several processes
 * writing the same file still get one gap-free global revision sequence.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { GantryError, errorMessage, isGantryError } from '../errors.js';
import { kindInfo } from '../model/kinds.js';
import { refKey, type ObjectRef } from '../model/keys.js';
import { matchesRequirements, toRequirements } from '../model/selectors.js';
import type { KubeObject, StringMap } from '../model/types.js';
import { silentLogger, type Logger } from '../log.js';
import {
  alreadyExistsError,
  checkUpdatePrecondition,
  normalizeRef,
  notFoundError,
  nowTimestamp,
  prepareCreate,
  prepareUpdate,
  refOf,
  staleError,
} from './common.js';
import type {
  ListOptions,
  ListResult,
  Store,
  TxnOp,
  TxnResult,
  WatchEvent,
  WatchOptions,
  WriteOptions,
  WriteOrigin,
} from './types.js';
import { Watcher, type ChangePage, type ChangeRow, type ChangeSource } from './watcher.js';

/** Options for {@link openSqliteStore}. */
export interface SqliteStoreOptions {
  /** Changes kept in the log for watches to resume from (default 10,000). Older ones are compacted. */
  compactKeep?: number;
  logger?: Logger;
  /**
   * `synchronous=FULL`: fsync the WAL on every commit, so commits also survive power loss and
   * OS crashes (about one fsync per write). Default false: `synchronous=NORMAL`; see the comment
   * in {@link SqliteStore.open}.
   */
  durable?: boolean;
  /** How long a write waits for another process's write lock before failing (default 5000 ms). */
  busyTimeoutMs?: number;
  /** How often watchers look for commits by other processes (default 100 ms, only while watching). */
  pollIntervalMs?: number;
  /**
   * Open an existing store for reading only (the CLI beside a running server): nothing is
   * created, writes fail with `StoreUnavailable`, watches still follow the writer's commits.
   */
  readonly?: boolean;
}

const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (
  name  TEXT PRIMARY KEY,
  value INTEGER NOT NULL
);
INSERT OR IGNORE INTO meta (name, value) VALUES ('schema', ${SCHEMA_VERSION}), ('revision', 0), ('compacted', 0);
CREATE TABLE IF NOT EXISTS objects (
  key              TEXT NOT NULL UNIQUE,
  kind             TEXT NOT NULL,
  namespace        TEXT NOT NULL,
  name             TEXT NOT NULL,
  resource_version INTEGER NOT NULL,
  labels           TEXT,
  json             TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS changes (
  revision INTEGER PRIMARY KEY,
  type     TEXT NOT NULL,
  key      TEXT NOT NULL,
  kind     TEXT NOT NULL,
  object   TEXT NOT NULL,
  prev     TEXT,
  origin   TEXT
);
`;

interface ObjectRow {
  json: string;
}

interface ListRow {
  labels: string | null;
  json: string;
}

/** What one committed write batch produced. */
interface Applied {
  revision: number;
  objects: KubeObject[];
  rows: ChangeRow[];
}

/** How a single-object delete treats a missing object (txn ops fail instead). */
type MissingDelete = 'fail' | 'ignore';

/** Opens (creating if needed) the store in the SQLite file at `path`. See {@link SqliteStore.open}. */
export function openSqliteStore(path: string, opts: SqliteStoreOptions = {}): SqliteStore {
  return SqliteStore.open(path, opts);
}

/** The SQLite {@link Store}. Create with {@link openSqliteStore}. */
export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private readonly log: Logger;
  private readonly keep: number;
  private readonly pollIntervalMs: number;
  private closed = false;
  private readonly readonly: boolean;

  private readonly watchers = new Set<Watcher>();
  /** Every change up to this revision has been pushed to the live watchers. */
  private dispatched: number;
  private dataVersion = 0;
  private pollTimer?: NodeJS.Timeout;

  private readonly stmts: ReturnType<typeof prepareStatements>;
  private readonly writeTxn: Database.Transaction<(ops: TxnOp[], origin: string | null, missing: MissingDelete) => Applied>;
  private readonly readTxn: <T>(fn: () => T) => T;

  /**
   * Opens (creating it and its directory if needed) the store at `path`. Throws `StoreUnavailable` naming the path
   * when the file cannot be opened or is not a gantry store.
   *
   * Durability: the file is in WAL mode. With `synchronous=NORMAL` (the default) a commit is in
   * the WAL, in the OS page cache, before the write returns; a killed process (kill -9, crash)
   * loses nothing it committed, because the kernel still writes those pages. Only a power loss
   * or OS crash can drop the last commits (never corrupt the file). That is the trade etcd's
   * users would not make but a single-machine control plane can: everything is level-triggered
   * and re-converges. `durable: true` selects `synchronous=FULL` for power-loss durability.
   */
  static open(path: string, opts: SqliteStoreOptions = {}): SqliteStore {
    let db: Database.Database;
    const readonly = opts.readonly ?? false;
    try {
      // Like etcd with its data dir, a writable store makes the directory it lives in.
      if (!readonly && path !== ':memory:' && !path.startsWith('file:')) mkdirSync(dirname(path), { recursive: true });
      db = new Database(path, { timeout: opts.busyTimeoutMs ?? 5000, readonly, fileMustExist: readonly });
    } catch (err) {
      throw new GantryError('StoreUnavailable', `cannot open store ${path}: ${errorMessage(err)}`, { cause: err });
    }
    try {
      db.pragma(`busy_timeout = ${Math.max(0, Math.floor(opts.busyTimeoutMs ?? 5000))}`);
      if (!readonly) {
        const mode = db.pragma('journal_mode = WAL', { simple: true });
        if (String(mode).toLowerCase() !== 'wal' && path !== ':memory:') {
          throw new Error(`cannot switch the file to WAL mode (journal_mode is ${String(mode)})`);
        }
        db.pragma(`synchronous = ${opts.durable ? 'FULL' : 'NORMAL'}`);
        db.transaction(() => db.exec(SCHEMA)).immediate();
      }
      const hasMeta = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'`).pluck().get();
      if (!hasMeta) throw new Error('it is not a gantry store (no meta table)');
      const schema = db.prepare(`SELECT value FROM meta WHERE name = 'schema'`).pluck().get() as number;
      if (schema > SCHEMA_VERSION) {
        throw new Error(`it was written by a newer gantry (schema ${schema}, this one knows ${SCHEMA_VERSION})`);
      }
    } catch (err) {
      db.close();
      throw new GantryError('StoreUnavailable', `cannot open store ${path}: ${errorMessage(err)}`, { cause: err });
    }
    return new SqliteStore(db, path, { ...opts, readonly });
  }

  private constructor(
    db: Database.Database,
    readonly path: string,
    opts: SqliteStoreOptions,
  ) {
    this.db = db;
    this.log = opts.logger ?? silentLogger();
    this.keep = Math.max(1, Math.floor(opts.compactKeep ?? 10_000));
    this.pollIntervalMs = opts.pollIntervalMs ?? 100;
    this.readonly = opts.readonly ?? false;
    this.stmts = prepareStatements(db);
    this.writeTxn = db.transaction((ops: TxnOp[], origin: string | null, missing: MissingDelete) =>
      this.apply(ops, origin, missing),
    );
    const read = db.transaction((fn: () => unknown) => fn());
    this.readTxn = <T>(fn: () => T): T => read(fn) as T;
    this.dispatched = this.stmts.getMeta.get('revision') as number;
  }

  async get<T extends KubeObject = KubeObject>(ref: ObjectRef): Promise<T | undefined> {
    return this.guard('get', () => {
      const json = this.stmts.getObject.get(refKey(normalizeRef(ref))) as string | undefined;
      return json === undefined ? undefined : (JSON.parse(json) as T);
    });
  }

  async list<T extends KubeObject = KubeObject>(kind: string, opts: ListOptions = {}): Promise<ListResult<T>> {
    let reqs;
    try {
      reqs = toRequirements(opts.labelSelector);
    } catch (err) {
      throw new GantryError('InvalidArgument', `cannot list ${kind}: bad label selector: ${errorMessage(err)}`, {
        cause: err,
      });
    }
    const info = kindInfo(kind);
    // Cluster-scoped kinds ignore a namespace, as Kubernetes does.
    const namespace = info && !info.namespaced ? undefined : opts.namespace || undefined;
    return this.guard('list', () =>
      this.readTxn(() => {
        const rows = (
          namespace === undefined
            ? this.stmts.listKind.all(`${kind}/`, `${kind}0`)
            : this.stmts.listNamespace.all(`${kind}/${namespace}/`, `${kind}/${namespace}0`, namespace)
        ) as ListRow[];
        const items: T[] = [];
        for (const row of rows) {
          if (reqs.length > 0) {
            const labels = row.labels === null ? undefined : (JSON.parse(row.labels) as StringMap);
            if (!matchesRequirements(reqs, labels)) continue;
          }
          items.push(JSON.parse(row.json) as T);
        }
        const revision = this.stmts.getMeta.get('revision') as number;
        return { items, revision };
      }),
    );
  }

  async create<T extends KubeObject>(obj: T, opts: WriteOptions = {}): Promise<T> {
    return this.write([{ op: 'create', object: obj }], opts.origin, 'fail').objects[0] as T;
  }

  async update<T extends KubeObject>(obj: T, opts: WriteOptions = {}): Promise<T> {
    // Controllers rewrite unchanged status all the time: answer a no-op without taking the
    // write lock. Seeing the stored object unchanged at this read is as good as at commit.
    const unchanged = this.guard('update', () => this.unchangedByUpdate(obj));
    if (unchanged) return unchanged as T;
    return this.write([{ op: 'update', object: obj }], opts.origin, 'fail').objects[0] as T;
  }

  async delete(
    ref: ObjectRef,
    opts: WriteOptions & { resourceVersion?: string } = {},
  ): Promise<KubeObject | undefined> {
    return this.write([{ op: 'delete', ref, resourceVersion: opts.resourceVersion }], opts.origin, 'ignore').objects[0];
  }

  async txn(ops: TxnOp[], opts: WriteOptions = {}): Promise<TxnResult> {
    const { revision, objects } = this.write(ops, opts.origin, 'fail');
    return { revision, objects };
  }

  /**
   * Changes in revision order. Throws `StoreUnavailable` at once when the store is closed;
   * a `fromRevision` older than the log keeps fails on the first `next()` with `Conflict`.
   */
  watch(opts: WatchOptions = {}): AsyncIterable<WatchEvent> {
    const from = this.guard('watch', () => opts.fromRevision ?? (this.stmts.getMeta.get('revision') as number));
    const source: ChangeSource = {
      readAfter: (after, limit) => this.guard('watch', () => this.readAfter(after, limit)),
      wentLive: (w, head) => this.wentLive(w, head),
      detach: (w) => this.detach(w),
    };
    const watcher = new Watcher(source, { from, kinds: opts.kinds, signal: opts.signal });
    if (!watcher.isEnded) this.attach(watcher);
    return watcher;
  }

  async revision(): Promise<number> {
    return this.guard('revision', () => this.stmts.getMeta.get('revision') as number);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    for (const w of [...this.watchers]) w.end();
    this.stopPolling();
    this.closed = true;
    this.db.close();
  }

  /** The oldest revision a watch may resume from (changes after it are all in the log). */
  async compactedRevision(): Promise<number> {
    return this.guard('compactedRevision', () => this.stmts.getMeta.get('compacted') as number);
  }

  // ---- writes ----

  /** The stored object when `obj` is a valid update that would change nothing, else undefined. */
  private unchangedByUpdate(obj: KubeObject): KubeObject | undefined {
    const { ref, key } = refOf(obj, 'update');
    const json = this.stmts.getObject.get(key) as string | undefined;
    if (json === undefined) return undefined;
    const stored = JSON.parse(json) as KubeObject;
    if (obj.metadata.resourceVersion !== stored.metadata.resourceVersion) return undefined;
    return prepareUpdate(ref, obj, stored, 0).changed ? undefined : stored;
  }

  private write(ops: TxnOp[], origin: WriteOrigin | undefined, missing: MissingDelete): Applied {
    if (this.readonly && !this.closed) {
      throw new GantryError('StoreUnavailable', `cannot write: store ${this.path} is open read-only`, {
        disposition: 'stalled',
      });
    }
    const applied = this.guard('write', () =>
      this.writeTxn.immediate(ops, origin === undefined ? null : JSON.stringify(origin), missing),
    );
    if (applied.rows.length > 0) this.afterCommit(applied.rows);
    return applied;
  }

  /** Runs inside the write transaction; any throw rolls everything back. */
  private apply(ops: TxnOp[], origin: string | null, missing: MissingDelete): Applied {
    const s = this.stmts;
    const start = s.getMeta.get('revision') as number;
    let rev = start;
    const objects: KubeObject[] = [];
    const rows: ChangeRow[] = [];
    // One clock reading per transaction: its creates happen at the same instant.
    let timestamp: string | undefined;
    const record = (type: ChangeRow['type'], key: string, kind: string, object: string, prev: string | null): void => {
      s.insertChange.run(rev, type, key, kind, object, prev, origin);
      rows.push({ revision: rev, type, kind, object, prev, origin });
    };
    for (const op of ops) {
      switch (op.op) {
        case 'create': {
          const p = prepareCreate(op.object, rev + 1, (timestamp ??= nowTimestamp()));
          const json = JSON.stringify(p.object);
          const labels = labelsJson(p.object);
          const info = s.insertObject.run(p.key, p.ref.kind, p.ref.namespace ?? '', p.ref.name, rev + 1, labels, json);
          if (info.changes === 0) throw alreadyExistsError(p.ref);
          rev++;
          record('ADDED', p.key, p.ref.kind, json, null);
          objects.push(JSON.parse(json) as KubeObject);
          break;
        }
        case 'update': {
          const { ref, key } = refOf(op.object, 'update');
          const prevJson = s.getObject.get(key) as string | undefined;
          if (prevJson === undefined) throw notFoundError('update', ref);
          const stored = JSON.parse(prevJson) as KubeObject;
          checkUpdatePrecondition(ref, op.object, stored);
          const p = prepareUpdate(ref, op.object, stored, rev + 1);
          if (!p.changed) {
            objects.push(stored);
            break;
          }
          const json = JSON.stringify(p.object);
          s.updateObject.run(rev + 1, labelsJson(p.object), json, key);
          rev++;
          record('MODIFIED', key, ref.kind, json, prevJson);
          objects.push(JSON.parse(json) as KubeObject);
          break;
        }
        case 'delete': {
          const ref = normalizeRef(op.ref);
          const key = refKey(ref);
          const prevJson = s.getObject.get(key) as string | undefined;
          if (prevJson === undefined) {
            if (missing === 'ignore') break;
            throw notFoundError('delete', ref);
          }
          const stored = JSON.parse(prevJson) as KubeObject;
          if (op.resourceVersion !== undefined && op.resourceVersion !== stored.metadata.resourceVersion) {
            throw staleError('delete', ref, op.resourceVersion, stored.metadata.resourceVersion);
          }
          s.deleteObject.run(key);
          rev++;
          // As Kubernetes does, the DELETED event's object carries the deletion's revision.
          const gone = JSON.parse(prevJson) as KubeObject;
          gone.metadata.resourceVersion = String(rev);
          record('DELETED', key, ref.kind, JSON.stringify(gone), prevJson);
          objects.push(stored);
          break;
        }
        default:
          throw new GantryError('InvalidArgument', `unknown txn op ${JSON.stringify((op as { op?: unknown }).op)}`);
      }
    }
    if (rev !== start) {
      s.setMeta.run(rev, 'revision');
      this.compact(rev);
    }
    return { revision: rev, objects, rows };
  }

  /** Drops the oldest changes, in batches so that the delete is amortized over many writes. */
  private compact(rev: number): void {
    const compacted = this.stmts.getMeta.get('compacted') as number;
    const slack = Math.floor(this.keep / 10);
    if (rev - compacted <= this.keep + slack) return;
    const upTo = rev - this.keep;
    this.stmts.deleteChanges.run(upTo);
    this.stmts.setMeta.run(upTo, 'compacted');
    this.log.debug({ store: this.path, compacted: upTo }, 'compacted the store change log');
  }

  // ---- watch hub ----

  private readAfter(after: number, limit: number): ChangePage {
    return this.readTxn(() => ({
      rows: this.stmts.changesAfter.all(after, limit) as ChangeRow[],
      head: this.stmts.getMeta.get('revision') as number,
      compacted: this.stmts.getMeta.get('compacted') as number,
    }));
  }

  private attach(w: Watcher): void {
    this.watchers.add(w);
    if (!this.pollTimer && this.pollIntervalMs > 0) {
      this.dataVersion = this.stmts.dataVersion.get() as number;
      this.pollTimer = setInterval(() => this.poll(), this.pollIntervalMs);
    }
  }

  private detach(w: Watcher): void {
    this.watchers.delete(w);
    if (this.watchers.size === 0) this.stopPolling();
  }

  private stopPolling(): void {
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = undefined;
  }

  private liveWatchers(): Watcher[] {
    const live: Watcher[] = [];
    for (const w of this.watchers) if (w.live) live.push(w);
    return live;
  }

  private wentLive(w: Watcher, head: number): void {
    // With no other live watcher nobody depends on the older dispatch point, so it can jump
    // to this snapshot instead of re-reading changes the new watcher has already seen.
    if (!this.liveWatchers().some((o) => o !== w)) this.dispatched = Math.max(this.dispatched, head);
  }

  private deliver(live: Watcher[], rows: ChangeRow[]): void {
    for (const w of live) {
      for (const row of rows) {
        if (!w.live) break;
        w.push(row);
      }
    }
  }

  private afterCommit(rows: ChangeRow[]): void {
    const first = rows[0]!.revision;
    const last = rows[rows.length - 1]!.revision;
    const live = this.liveWatchers();
    if (live.length > 0) {
      // Another process committed between our last dispatch and this write: deliver those first.
      if (first > this.dispatched + 1) this.pullForeign(live, first - 1);
      this.deliver(live, rows);
    }
    this.dispatched = last;
  }

  /** Reads changes after the dispatch point (up to `upTo`, or the head) and pushes them. */
  private pullForeign(live: Watcher[], upTo?: number): void {
    const page = this.readTxn(() => ({
      rows: this.stmts.changesBetween.all(this.dispatched, upTo ?? Number.MAX_SAFE_INTEGER) as ChangeRow[],
      head: this.stmts.getMeta.get('revision') as number,
      compacted: this.stmts.getMeta.get('compacted') as number,
    }));
    if (page.compacted > this.dispatched) {
      // Changes we never pushed are gone; each watcher re-reads the log and fails if it needs them.
      for (const w of live) w.demote();
    } else {
      this.deliver(live, page.rows);
    }
    this.dispatched = upTo ?? Math.max(this.dispatched, page.head);
  }

  private poll(): void {
    if (this.closed) return;
    try {
      const version = this.stmts.dataVersion.get() as number;
      if (version === this.dataVersion) return;
      this.dataVersion = version;
      const live = this.liveWatchers();
      if (live.length > 0) this.pullForeign(live);
    } catch (err) {
      this.log.warn({ store: this.path, err: errorMessage(err) }, 'cannot read changes from the store');
    }
  }

  /** Runs `fn`, turning SQLite failures into `StoreUnavailable` naming the file. */
  private guard<T>(what: string, fn: () => T): T {
    if (this.closed) throw new GantryError('StoreUnavailable', `cannot ${what}: store ${this.path} is closed`);
    try {
      return fn();
    } catch (err) {
      if (isGantryError(err)) throw err;
      const code = (err as { code?: unknown }).code;
      const busy = code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED';
      throw new GantryError(
        'StoreUnavailable',
        busy
          ? `cannot ${what} in store ${this.path}: another process holds the write lock (${errorMessage(err)})`
          : `cannot ${what} in store ${this.path}: ${errorMessage(err)}`,
        { cause: err, disposition: busy ? 'waiting' : 'transient', retryAfterMs: busy ? 100 : undefined },
      );
    }
  }
}

function labelsJson(obj: KubeObject): string | null {
  const labels = obj.metadata.labels;
  return labels && Object.keys(labels).length > 0 ? JSON.stringify(labels) : null;
}

function prepareStatements(db: Database.Database) {
  return {
    getMeta: db.prepare('SELECT value FROM meta WHERE name = ?').pluck(),
    setMeta: db.prepare('UPDATE meta SET value = ? WHERE name = ?'),
    getObject: db.prepare('SELECT json FROM objects WHERE key = ?').pluck(),
    // Keys are `Kind/...`, so the range [`Kind/`, `Kind0`) is exactly one kind, in key order.
    listKind: db.prepare('SELECT labels, json FROM objects WHERE key >= ? AND key < ? ORDER BY key'),
    listNamespace: db.prepare(
      'SELECT labels, json FROM objects WHERE key >= ? AND key < ? AND namespace = ? ORDER BY key',
    ),
    insertObject: db.prepare(
      `INSERT INTO objects (key, kind, namespace, name, resource_version, labels, json)
       VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING`,
    ),
    updateObject: db.prepare('UPDATE objects SET resource_version = ?, labels = ?, json = ? WHERE key = ?'),
    deleteObject: db.prepare('DELETE FROM objects WHERE key = ?'),
    insertChange: db.prepare(
      'INSERT INTO changes (revision, type, key, kind, object, prev, origin) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
    changesAfter: db.prepare(
      'SELECT revision, type, kind, object, prev, origin FROM changes WHERE revision > ? ORDER BY revision LIMIT ?',
    ),
    changesBetween: db.prepare(
      'SELECT revision, type, kind, object, prev, origin FROM changes WHERE revision > ? AND revision <= ? ORDER BY revision',
    ),
    deleteChanges: db.prepare('DELETE FROM changes WHERE revision <= ?'),
    dataVersion: db.prepare('PRAGMA data_version').pluck(),
  };
}
