/**
 * The distributed Store backend: etcd v3 (`--store etcd://host:2379[,host2:2379]`).
 *
 * Key layout under a prefix (default `/gantry/`):
 * - `objects/<Kind>/<namespace>/<name>` (cluster-scoped: `objects/<Kind>/<name>`) → the object
 *   as JSON, with `metadata.resourceVersion` set to the gantry revision of its last write;
 * - `meta` → `{"revision": N, "compacted": C}`: the store revision and how far the log is trimmed;
 * - `log/<last revision, 16 digits>` → one entry per committed write: its origin and its changes
 *   (revision, type, kind, object, previous object), which watches replay and follow.
 *
 * Why gantry keeps its own revision instead of using etcd's: the Store contract gives every op of
 * a transaction its own consecutive revision and its own watch event (a txn may even create and
 * then update the same object), while an etcd Txn commits all its ops at one etcd revision and may
 * not touch a key twice. So the store revision lives in `meta`, and every write is one etcd Txn
 * guarded by a compare on `meta`'s mod revision: the puts and deletes of the objects (each key's
 * final state), the new `meta` and the log entry land together or not at all. Because every
 * write goes through `meta`, that one compare covers every key the write read (optimistic
 * concurrency: a writer that lost the race re-reads and tries again; a genuine conflict, such as a
 * stale resourceVersion, is then reported as `Conflict`). Writes from one process are queued, so
 * they never race each other.
 *
 * Reads that must agree (a list and its revision) are one read-only Txn, served at one etcd
 * revision. Watches read the log with range reads and follow it with an etcd Watch; see
 * `etcd-watch.ts`. The log is trimmed to `compactKeep` changes in the same Txn as a write, and
 * etcd's own MVCC history is compacted periodically (as the Kubernetes API server does) so that
 * etcd's database does not grow without end.
 *
 * etcd limits: a Txn carries at most `--max-txn-ops` operations (128 by default) and a request at
 * most `--max-request-bytes` (1.5 MiB). A gantry transaction needs one op per object it touches
 * plus two or three; applying a large plan at once needs etcd started with larger limits (the
 * failure says so).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { GantryError, errorMessage, isGantryError } from '../errors.js';
import { kindInfo } from '../model/kinds.js';
import { refKey } from '../model/keys.js';
import type { ObjectRef } from '../model/keys.js';
import { matchesRequirements, toRequirements } from '../model/selectors.js';
import type { KubeObject } from '../model/types.js';
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
import { EtcdClient, prefixEnd, type Compare, type EtcdTls, type RequestOp, type WatchEventKv } from './etcd-client.js';
import { EtcdWatcher, type LogBatch, type LogChange, type LogPage, type LogSource } from './etcd-watch.js';
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

/** Options for {@link openEtcdStore}. */
export interface EtcdStoreOptions {
  /** `host:port` of each etcd member (ignored when `client` is given). */
  endpoints?: string[];
  /** TLS for the endpoints: `true` for system roots, or PEM material. */
  tls?: EtcdTls | boolean;
  /** A client to share (e.g. with the leader elector); the store then does not close it. */
  client?: EtcdClient;
  /** Key prefix of this store's data (default `/gantry/`). Several gantries may share one etcd under different prefixes. */
  prefix?: string;
  /** Changes kept in the log for watches to resume from (default 10,000). */
  compactKeep?: number;
  /**
   * How often etcd's MVCC history is compacted to the revision seen one interval earlier
   * (default 5 minutes; 0 disables it, e.g. when etcd runs with --auto-compaction-retention).
   */
  historyCompactIntervalMs?: number;
  /** How long a watch keeps reconnecting to an unreachable etcd before it fails (default 60 s). */
  watchRetryMs?: number;
  logger?: Logger;
}

/** What one committed write produced. */
interface Applied {
  revision: number;
  objects: KubeObject[];
}

interface Meta {
  revision: number;
  compacted: number;
}

/** How a single-object delete treats a missing object (txn ops fail instead). */
type MissingDelete = 'fail' | 'ignore';

/** An op with its key settled before any read (a generated name is chosen once, kept across retries). */
type SettledOp =
  | { op: 'create'; key: string; ref: ObjectRef; object: KubeObject }
  | { op: 'update'; key: string; ref: ObjectRef; object: KubeObject }
  | { op: 'delete'; key: string; ref: ObjectRef; resourceVersion?: string };

/** A write waiting for its batch. */
interface PendingWrite {
  ops: SettledOp[];
  origin: WriteOrigin | undefined;
  missing: MissingDelete;
  resolve(applied: Applied): void;
  reject(err: unknown): void;
}

/** What became of one write of a batch. */
type WriteOutcome = { applied: Applied } | { error: unknown };

/**
 * Most ops of writes combined in one flush's etcd Txn (a single larger write still goes alone):
 * with one key put per op, a log entry per write and `meta`, this stays under etcd's default
 * --max-txn-ops of 128.
 */
const BATCH_OPS = 48;

/** Range ops per read-only Txn when reading the keys a write touches (below etcd's default of 128). */
const READ_CHUNK = 100;
/** Attempts of a write that keeps losing the race to other writers. */
const WRITE_ATTEMPTS = 100;

/**
 * Opens the store on etcd, checking that etcd answers. Throws `StoreUnavailable` naming the
 * endpoints when it does not.
 */
export async function openEtcdStore(opts: EtcdStoreOptions): Promise<EtcdStore> {
  const owned = !opts.client;
  const client = opts.client ?? new EtcdClient({ endpoints: opts.endpoints ?? [], tls: opts.tls });
  const store = new EtcdStore(client, owned, opts);
  try {
    await store.revision();
  } catch (err) {
    await store.close();
    throw new GantryError('StoreUnavailable', `cannot open the etcd store at ${client.describe()}: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  store.startHistoryCompaction();
  return store;
}

function pad(revision: number): string {
  return String(revision).padStart(16, '0');
}

/** The etcd {@link Store}. Open with {@link openEtcdStore}. */
export class EtcdStore implements Store {
  readonly prefix: string;
  private readonly log: Logger;
  private readonly keep: number;
  private readonly watchRetryMs: number;
  private readonly historyIntervalMs: number;
  private readonly watchers = new Set<EtcdWatcher>();
  private queue: Promise<unknown> = Promise.resolve();
  /** Writes waiting for the next flush; see {@link write}. */
  private readonly pending: PendingWrite[] = [];
  private flushQueued = false;
  private closed = false;
  private compactTimer?: NodeJS.Timeout;
  private readonly metaKey: string;
  private readonly objectsPrefix: string;
  private readonly logPrefix: string;

  /** Use {@link openEtcdStore}. */
  constructor(
    readonly client: EtcdClient,
    private readonly ownsClient: boolean,
    opts: EtcdStoreOptions,
  ) {
    let prefix = opts.prefix ?? '/gantry/';
    if (!prefix.endsWith('/')) prefix += '/';
    this.prefix = prefix;
    this.metaKey = `${prefix}meta`;
    this.objectsPrefix = `${prefix}objects/`;
    this.logPrefix = `${prefix}log/`;
    this.log = opts.logger ?? silentLogger();
    this.keep = Math.max(1, Math.floor(opts.compactKeep ?? 10_000));
    this.watchRetryMs = opts.watchRetryMs ?? 60_000;
    this.historyIntervalMs = opts.historyCompactIntervalMs ?? 5 * 60_000;
  }

  async get<T extends KubeObject = KubeObject>(ref: ObjectRef): Promise<T | undefined> {
    this.check('get');
    const res = await this.client.range({ key: this.objectKey(refKey(normalizeRef(ref))) });
    const kv = res.kvs[0];
    return kv ? (JSON.parse(kv.value.toString('utf8')) as T) : undefined;
  }

  async list<T extends KubeObject = KubeObject>(kind: string, opts: ListOptions = {}): Promise<ListResult<T>> {
    this.check('list');
    let reqs;
    try {
      reqs = toRequirements(opts.labelSelector);
    } catch (err) {
      throw new GantryError('InvalidArgument', `cannot list ${kind}: bad label selector: ${errorMessage(err)}`, { cause: err });
    }
    const info = kindInfo(kind);
    // Cluster-scoped kinds ignore a namespace, as Kubernetes does.
    const namespace = info && !info.namespaced ? undefined : opts.namespace || undefined;
    const start = namespace === undefined ? `${this.objectsPrefix}${kind}/` : `${this.objectsPrefix}${kind}/${namespace}/`;
    // One read-only Txn: the objects and the revision they are consistent at, at one etcd revision.
    const res = await this.client.txn({
      success: [{ range: { key: this.metaKey } }, { range: { key: start, rangeEnd: prefixEnd(start) } }],
    });
    const meta = this.parseMeta(res.responses[0]?.kvs[0]?.value);
    const items: T[] = [];
    for (const kv of res.responses[1]?.kvs ?? []) {
      const obj = JSON.parse(kv.value.toString('utf8')) as T;
      // A namespace list by prefix would also match a cluster-scoped key `Kind/<ns>/...`; names have no "/", so it cannot.
      if (reqs.length > 0 && !matchesRequirements(reqs, obj.metadata.labels)) continue;
      items.push(obj);
    }
    return { items, revision: meta.revision };
  }

  async create<T extends KubeObject>(obj: T, opts: WriteOptions = {}): Promise<T> {
    return (await this.write([{ op: 'create', object: obj }], opts.origin, 'fail')).objects[0] as T;
  }

  async update<T extends KubeObject>(obj: T, opts: WriteOptions = {}): Promise<T> {
    return (await this.write([{ op: 'update', object: obj }], opts.origin, 'fail')).objects[0] as T;
  }

  async delete(ref: ObjectRef, opts: WriteOptions & { resourceVersion?: string } = {}): Promise<KubeObject | undefined> {
    return (await this.write([{ op: 'delete', ref, resourceVersion: opts.resourceVersion }], opts.origin, 'ignore')).objects[0];
  }

  async txn(ops: TxnOp[], opts: WriteOptions = {}): Promise<TxnResult> {
    return this.write(ops, opts.origin, 'fail');
  }

  /**
   * Changes in revision order. Throws `StoreUnavailable` at once when the store is closed; a
   * `fromRevision` older than the log keeps fails on the first `next()` with `Conflict`.
   */
  watch(opts: WatchOptions = {}): AsyncIterable<WatchEvent> {
    this.check('watch');
    // Without a revision, "now" is read behind this process's queued writes, so a write made
    // after watch() returned is never counted as already seen.
    const from = opts.fromRevision !== undefined ? Promise.resolve(opts.fromRevision) : this.serial(() => this.revision());
    const source: LogSource = {
      readLog: (after, limit) => this.readLog(after, limit),
      followLog: (fromEtcd, handlers) =>
        this.client.watch({
          key: this.logPrefix,
          rangeEnd: prefixEnd(this.logPrefix),
          startRevision: fromEtcd,
          onEvents: (events: WatchEventKv[]) => handlers.onEvents(events),
          onEnd: (end) => handlers.onEnd(end),
        }),
      detach: (w) => this.watchers.delete(w),
    };
    const watcher = new EtcdWatcher(source, { from, kinds: opts.kinds, signal: opts.signal, retryMs: this.watchRetryMs });
    this.watchers.add(watcher);
    if (opts.signal?.aborted) watcher.end();
    return watcher;
  }

  async revision(): Promise<number> {
    this.check('revision');
    const res = await this.client.range({ key: this.metaKey });
    return this.parseMeta(res.kvs[0]?.value).revision;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of [...this.watchers]) w.end();
    if (this.compactTimer) clearInterval(this.compactTimer);
    if (this.ownsClient) this.client.close();
  }

  /** The oldest revision a watch may resume from (changes after it are all in the log). */
  async compactedRevision(): Promise<number> {
    this.check('compactedRevision');
    const res = await this.client.range({ key: this.metaKey });
    return this.parseMeta(res.kvs[0]?.value).compacted;
  }

  /**
   * Compacts etcd's MVCC history up to `etcdRevision` (default: etcd's current revision). The
   * store's data and log are current keys and are not affected; only older versions go.
   */
  async compactHistory(etcdRevision?: number): Promise<number> {
    this.check('compactHistory');
    const rev = etcdRevision ?? (await this.client.range({ key: this.metaKey, countOnly: true })).revision;
    try {
      await this.client.compact(rev);
    } catch (err) {
      // Another gantry (or etcd's own auto-compaction) got there first.
      if (!isGantryError(err, 'Conflict')) throw err;
    }
    return rev;
  }

  /** Starts the periodic history compaction (called by {@link openEtcdStore}). */
  startHistoryCompaction(): void {
    if (this.historyIntervalMs <= 0 || this.compactTimer) return;
    // Compact to the revision seen one interval ago, so a watch that is up to an interval
    // behind can still resume from etcd's history (the Kubernetes API server's rule).
    let previous = 0;
    this.compactTimer = setInterval(() => {
      void (async () => {
        try {
          const now = (await this.client.range({ key: this.metaKey, countOnly: true })).revision;
          if (previous > 0) await this.compactHistory(previous);
          previous = now;
        } catch (err) {
          this.log.warn({ err: errorMessage(err) }, 'cannot compact etcd history');
        }
      })();
    }, this.historyIntervalMs);
    this.compactTimer.unref();
  }

  // ---- writes ----

  /** Runs `fn` after every write this process queued before it. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private write(ops: TxnOp[], origin: WriteOrigin | undefined, missing: MissingDelete): Promise<Applied> {
    this.check('write');
    const settled = settle(ops);
    return new Promise<Applied>((resolve, reject) => {
      this.pending.push({ ops: settled, origin, missing, resolve, reject });
      if (this.flushQueued) return;
      this.flushQueued = true;
      // Group commit: the writes waiting when the flush starts share etcd transactions, so a
      // burst of small writes (binds, status updates) costs a round trip per batch, not per write.
      // A flush takes only what is waiting when it starts: a write queued later goes in the next
      // flush, behind any revision read queued meanwhile (watch() relies on that order).
      void this.serial(async () => {
        this.flushQueued = false;
        const taken = this.pending.splice(0);
        while (taken.length > 0) {
          let ops = 0;
          let n = 0;
          while (n < taken.length && (n === 0 || ops + taken[n]!.ops.length <= BATCH_OPS)) ops += taken[n++]!.ops.length;
          await this.commitBatch(taken.splice(0, n));
        }
      });
    });
  }

  /** Commits writes in one etcd Txn (retrying when another process won the race) and settles each one. */
  private async commitBatch(batch: PendingWrite[]): Promise<void> {
    try {
      for (let attempt = 1; ; attempt++) {
        this.check('write');
        const outcomes = await this.tryWrite(batch);
        if (outcomes) {
          outcomes.forEach((o, i) => ('error' in o ? batch[i]!.reject(o.error) : batch[i]!.resolve(o.applied)));
          return;
        }
        if (attempt >= WRITE_ATTEMPTS) {
          throw new GantryError('StoreUnavailable', `cannot write to the etcd store at ${this.client.describe()}: other writers won ${attempt} times in a row`, {
            disposition: 'transient',
          });
        }
        // Lost the race to another process: jitter so that two writers do not collide again.
        await sleep(Math.floor(Math.random() * Math.min(50, 2 * attempt)));
      }
    } catch (err) {
      for (const w of batch) w.reject(err);
    }
  }

  /**
   * One optimistic attempt for a batch: read, apply each write in memory in order (a write whose
   * precondition fails gets its error and leaves no trace), commit the rest guarded by `meta`.
   * Undefined when another writer won.
   */
  private async tryWrite(batch: PendingWrite[]): Promise<WriteOutcome[] | undefined> {
    const keys = [...new Set(batch.flatMap((w) => w.ops.map((o) => o.key)))];
    const { meta, metaMod, values } = await this.readForWrite(keys);
    let committed = new Map(values);
    const start = meta.revision;
    let rev = start;
    const outcomes: WriteOutcome[] = [];
    const entries: Array<{ rev: number; batch: LogBatch }> = [];
    for (const w of batch) {
      const current = new Map(committed);
      const before = rev;
      try {
        const { ops, origin, missing } = w;
        const objects: KubeObject[] = [];
        const changes: LogChange[] = [];
        let timestamp: string | undefined;
        for (const op of ops) {
          switch (op.op) {
            case 'create': {
              if (current.get(op.key) !== undefined) throw alreadyExistsError(op.ref);
              rev++;
              timestamp ??= nowTimestamp();
              const object: KubeObject = {
                ...op.object,
                metadata: { ...op.object.metadata, creationTimestamp: timestamp, resourceVersion: String(rev) },
              };
              const json = JSON.stringify(object);
              current.set(op.key, json);
              changes.push({ r: rev, t: 'ADDED', k: op.ref.kind, o: JSON.parse(json) });
              objects.push(JSON.parse(json) as KubeObject);
              break;
            }
            case 'update': {
              const prevJson = current.get(op.key);
              if (prevJson === undefined) throw notFoundError('update', op.ref);
              const stored = JSON.parse(prevJson) as KubeObject;
              checkUpdatePrecondition(op.ref, op.object, stored);
              const p = prepareUpdate(op.ref, op.object, stored, rev + 1);
              if (!p.changed) {
                objects.push(stored);
                break;
              }
              rev++;
              const json = JSON.stringify(p.object);
              current.set(op.key, json);
              changes.push({ r: rev, t: 'MODIFIED', k: op.ref.kind, o: JSON.parse(json), p: JSON.parse(prevJson) });
              objects.push(JSON.parse(json) as KubeObject);
              break;
            }
            case 'delete': {
              const prevJson = current.get(op.key);
              if (prevJson === undefined) {
                if (missing === 'ignore') break;
                throw notFoundError('delete', op.ref);
              }
              const stored = JSON.parse(prevJson) as KubeObject;
              if (op.resourceVersion !== undefined && op.resourceVersion !== stored.metadata.resourceVersion) {
                throw staleError('delete', op.ref, op.resourceVersion, stored.metadata.resourceVersion);
              }
              rev++;
              current.set(op.key, undefined);
              // As Kubernetes does, the DELETED event's object carries the deletion's revision.
              const gone = JSON.parse(prevJson) as KubeObject;
              gone.metadata.resourceVersion = String(rev);
              changes.push({ r: rev, t: 'DELETED', k: op.ref.kind, o: gone, p: JSON.parse(prevJson) });
              objects.push(stored);
              break;
            }
          }
        }
        committed = current;
        if (changes.length > 0) entries.push({ rev, batch: { ...(origin ? { origin } : {}), changes } });
        outcomes.push({ applied: { revision: changes.length > 0 ? rev : before, objects } });
      } catch (err) {
        rev = before;
        outcomes.push({ error: err });
      }
    }
    if (entries.length === 0) return outcomes.map((o) => ('applied' in o ? { applied: { ...o.applied, revision: start } } : o));

    const success: RequestOp[] = [];
    for (const key of keys) {
      const before = values.get(key);
      const after = committed.get(key);
      if (after === before) continue;
      if (after === undefined) success.push({ deleteRange: { key: this.objectKey(key) } });
      else success.push({ put: { key: this.objectKey(key), value: after } });
    }
    for (const e of entries) success.push({ put: { key: `${this.logPrefix}${pad(e.rev)}`, value: JSON.stringify(e.batch) } });
    let compacted = meta.compacted;
    const slack = Math.floor(this.keep / 10);
    if (rev - compacted > this.keep + slack) {
      // Trim whole entries whose last change is at or below upTo; everything after upTo stays.
      compacted = rev - this.keep;
      success.push({ deleteRange: { key: this.logPrefix, rangeEnd: `${this.logPrefix}${pad(compacted + 1)}` } });
    }
    success.push({ put: { key: this.metaKey, value: JSON.stringify({ revision: rev, compacted } satisfies Meta) } });
    const guard: Compare =
      metaMod === 0
        ? { key: this.metaKey, target: 'VERSION', result: 'EQUAL', version: 0 }
        : { key: this.metaKey, target: 'MOD', result: 'EQUAL', modRevision: metaMod };
    const res = await this.client.txn({ compare: [guard], success });
    if (!res.succeeded) return undefined;
    if (compacted !== meta.compacted) this.log.debug({ store: this.prefix, compacted }, 'trimmed the etcd store change log');
    return outcomes;
  }

  /** `meta` and the current values of `keys`; chunked reads, all validated by the commit's compare on `meta`. */
  private async readForWrite(keys: string[]): Promise<{ meta: Meta; metaMod: number; values: Map<string, string | undefined> }> {
    const values = new Map<string, string | undefined>();
    let meta: Meta = { revision: 0, compacted: 0 };
    let metaMod = 0;
    for (let i = 0; i === 0 || i < keys.length; i += READ_CHUNK) {
      const chunk = keys.slice(i, i + READ_CHUNK);
      const ops: RequestOp[] = chunk.map((k) => ({ range: { key: this.objectKey(k) } }));
      // meta is read first, so a write that lands between the chunks moves its mod revision.
      if (i === 0) ops.unshift({ range: { key: this.metaKey } });
      const res = await this.client.txn({ success: ops });
      let offset = 0;
      if (i === 0) {
        const kv = res.responses[0]?.kvs[0];
        meta = this.parseMeta(kv?.value);
        metaMod = kv?.modRevision ?? 0;
        offset = 1;
      }
      chunk.forEach((k, j) => values.set(k, res.responses[j + offset]?.kvs[0]?.value.toString('utf8')));
    }
    return { meta, metaMod, values };
  }

  // ---- watch ----

  private async readLog(after: number, limit: number): Promise<LogPage> {
    this.check('watch');
    const start = `${this.logPrefix}${pad(after + 1)}`;
    const res = await this.client.txn({
      success: [{ range: { key: this.metaKey } }, { range: { key: start, rangeEnd: prefixEnd(this.logPrefix), limit } }],
    });
    const meta = this.parseMeta(res.responses[0]?.kvs[0]?.value);
    const logs = res.responses[1];
    return {
      batches: (logs?.kvs ?? []).map((kv) => kv.value),
      more: logs?.more ?? false,
      compacted: meta.compacted,
      head: meta.revision,
      etcdRevision: res.revision,
    };
  }

  // ---- helpers ----

  private objectKey(key: string): string {
    return this.objectsPrefix + key;
  }

  private parseMeta(value: Buffer | undefined): Meta {
    if (!value || value.length === 0) return { revision: 0, compacted: 0 };
    try {
      const m = JSON.parse(value.toString('utf8')) as Partial<Meta>;
      if (typeof m.revision === 'number') return { revision: m.revision, compacted: m.compacted ?? 0 };
    } catch {
      // fall through to the error below
    }
    throw new GantryError('StoreUnavailable', `etcd store ${this.prefix}: ${this.metaKey} is not a gantry store's meta record; is the prefix used by something else?`, {
      disposition: 'stalled',
    });
  }

  private check(what: string): void {
    if (this.closed) {
      throw new GantryError('StoreUnavailable', `cannot ${what}: etcd store ${this.prefix} at ${this.client.describe()} is closed`);
    }
  }
}

/** Settles each op's key up front; creates get their server-owned metadata except revision and time. */
function settle(ops: TxnOp[]): SettledOp[] {
  return ops.map((op): SettledOp => {
    switch (op.op) {
      case 'create': {
        const p = prepareCreate(op.object, 0);
        // A copy: the write may wait in the queue while the caller goes on changing its object.
        return { op: 'create', key: p.key, ref: p.ref, object: JSON.parse(JSON.stringify(p.object)) as KubeObject };
      }
      case 'update': {
        const { ref, key } = refOf(op.object, 'update');
        return { op: 'update', key, ref, object: op.object };
      }
      case 'delete': {
        const ref = normalizeRef(op.ref);
        return { op: 'delete', key: refKey(ref), ref, resourceVersion: op.resourceVersion };
      }
      default:
        throw new GantryError('InvalidArgument', `unknown txn op ${JSON.stringify((op as { op?: unknown }).op)}`);
    }
  });
}
