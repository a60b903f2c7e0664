/**
 * One watch of the etcd store: replay the store's change log from a cursor with range reads,
 * then follow it live with an etcd Watch from the revision of the last read, with no gaps and no
 * duplicates (the cursor is the last gantry revision accounted for; anything at or below it is
 * skipped, which closes the race between the read and the watch).
 *
 * The log lives in etcd as current keys (see `etcd.ts`), not only in etcd's MVCC history, so
 * etcd compacting its history never loses a change a watcher still needs: a watch whose etcd
 * start revision was compacted, whose stream broke (etcd restarted, a member went away) or whose
 * consumer fell more than `bufferLimit` changes behind simply goes back to reading the log from
 * its cursor. Only the store trimming its own log past the cursor is "too old" (`Conflict`).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { GantryError, isGantryError } from '../errors.js';
import type { EtcdWatch, WatchEventKv } from './etcd-client.js';
import type { WatchEvent, WriteOrigin } from './types.js';

/** One change as the log stores it. */
export interface LogChange {
  /** Gantry revision. */
  r: number;
  t: WatchEvent['type'];
  k: string;
  o: unknown;
  p?: unknown;
}

/** One log entry: the changes of one committed write, under one origin. */
export interface LogBatch {
  origin?: WriteOrigin;
  changes: LogChange[];
}

/** A page of the log read at one etcd revision. */
export interface LogPage {
  /** Batches whose last change is after the cursor, oldest first, as raw JSON. */
  batches: Buffer[];
  /** More batches follow this page. */
  more: boolean;
  /** The highest gantry revision no longer in the log. */
  compacted: number;
  /** The store's gantry revision at the read. */
  head: number;
  /** The etcd revision the page was read at. */
  etcdRevision: number;
}

/** What a watcher needs of the store. */
export interface LogSource {
  readLog(after: number, limit: number): Promise<LogPage>;
  /** Watches the log keys from `fromEtcdRevision` (inclusive). */
  followLog(fromEtcdRevision: number, handlers: {
    onEvents(events: WatchEventKv[]): void;
    onEnd(end: { compactRevision?: number; error?: GantryError }): void;
  }): EtcdWatch;
  detach(watcher: EtcdWatcher): void;
}

/** Options for an {@link EtcdWatcher}. */
export interface EtcdWatcherOptions {
  /** Deliver changes after this revision (a promise: the store's revision at `watch()`). */
  from: Promise<number>;
  kinds?: readonly string[];
  signal?: AbortSignal;
  /** Changes held for a slow consumer before the watcher drops back to reading the log (1024). */
  bufferLimit?: number;
  /** Log entries per read while catching up (64). */
  pageSize?: number;
  /** How long the watcher keeps reconnecting to an unreachable etcd before failing (60 s). */
  retryMs?: number;
}

type Mode = 'catchup' | 'live' | 'ended';

/** An async iterator of {@link WatchEvent}s; see the module comment. */
export class EtcdWatcher implements AsyncIterableIterator<WatchEvent> {
  private cursor = -1;
  private mode: Mode = 'catchup';
  private readonly kinds?: ReadonlySet<string>;
  private readonly bufferLimit: number;
  private readonly pageSize: number;
  private readonly retryMs: number;
  private queue: WatchEvent[] = [];
  private head = 0;
  private live?: EtcdWatch;
  /** When the current run of failures began (undefined while healthy). */
  private failingSince?: number;
  private wake?: () => void;
  private readonly stop = new AbortController();
  private readonly onAbort = (): void => this.end();

  constructor(
    private readonly source: LogSource,
    private readonly opts: EtcdWatcherOptions,
  ) {
    this.kinds = opts.kinds && opts.kinds.length > 0 ? new Set(opts.kinds) : undefined;
    this.bufferLimit = opts.bufferLimit ?? 1024;
    this.pageSize = opts.pageSize ?? 64;
    this.retryMs = opts.retryMs ?? 60_000;
    // A rejected start is reported by the first next(); do not let it go unhandled meanwhile.
    opts.from.catch(() => undefined);
    if (opts.signal?.aborted) this.end();
    else opts.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  /** Ends the iteration; a pending `next()` resolves as done. */
  end(): void {
    if (this.mode === 'ended') return;
    this.mode = 'ended';
    this.live?.cancel();
    this.live = undefined;
    this.queue = [];
    this.head = 0;
    this.stop.abort();
    this.opts.signal?.removeEventListener('abort', this.onAbort);
    this.source.detach(this);
    this.signal();
  }

  /** True once the watcher has ended. */
  get isEnded(): boolean {
    return this.mode === 'ended';
  }

  async next(): Promise<IteratorResult<WatchEvent>> {
    if (this.cursor < 0 && this.mode !== 'ended') {
      try {
        this.cursor = await this.opts.from;
      } catch (err) {
        // The store closing ends the watch; that is not a failure of the watch.
        if (this.isEnded) return { value: undefined, done: true };
        this.end();
        throw err;
      }
    }
    for (;;) {
      if (this.mode === 'ended') return { value: undefined, done: true };
      if (this.head < this.queue.length) {
        const event = this.queue[this.head++]!;
        if (this.head > 1024 && this.head * 2 > this.queue.length) {
          this.queue = this.queue.slice(this.head);
          this.head = 0;
        }
        return { value: event, done: false };
      }
      if (this.mode === 'catchup') {
        try {
          await this.catchUp();
        } catch (err) {
          if (this.isEnded) continue;
          if (!this.mayRetry(err)) {
            this.end();
            throw err;
          }
          await this.backoff();
        }
        continue;
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  async return(): Promise<IteratorResult<WatchEvent>> {
    this.end();
    return { value: undefined, done: true };
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<WatchEvent> {
    return this;
  }

  private signal(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** Unreachable etcd is retried for `retryMs`; anything else (too old, closed) is final. */
  private mayRetry(err: unknown): boolean {
    if (!isGantryError(err, 'StoreUnavailable') || /closed/.test(err.message)) return false;
    this.failingSince ??= Date.now();
    return Date.now() - this.failingSince < this.retryMs;
  }

  private async backoff(): Promise<void> {
    const failedFor = Date.now() - (this.failingSince ?? Date.now());
    const ms = Math.min(2000, 100 + failedFor / 4);
    await sleep(ms, undefined, { signal: this.stop.signal }).catch(() => undefined);
  }

  private async catchUp(): Promise<void> {
    const page = await this.source.readLog(this.cursor, this.pageSize);
    if (this.mode !== 'catchup') return;
    this.failingSince = undefined;
    if (page.compacted > this.cursor) {
      throw new GantryError(
        'Conflict',
        `cannot watch from revision ${this.cursor}: it is too old (changes up to revision ${page.compacted} were compacted); re-list and watch from the list's revision`,
        { disposition: 'transient' },
      );
    }
    for (const raw of page.batches) this.accept(raw);
    if (page.more) return;
    // Everything up to the head at this read is accounted for; follow from the next etcd revision.
    this.cursor = Math.max(this.cursor, page.head);
    this.mode = 'live';
    const watch = this.source.followLog(page.etcdRevision + 1, {
      onEvents: (events) => {
        if (this.live !== watch) return;
        for (const e of events) if (e.type === 'PUT') this.accept(e.kv.value);
        if (this.queue.length - this.head > this.bufferLimit) this.dropToCatchUp();
        this.signal();
      },
      onEnd: (end) => {
        if (this.live !== watch) return;
        if (end.error) this.failingSince ??= Date.now();
        this.dropToCatchUp();
      },
    });
    this.live = watch;
  }

  private dropToCatchUp(): void {
    if (this.mode !== 'live') return;
    this.live?.cancel();
    this.live = undefined;
    this.mode = 'catchup';
    this.signal();
  }

  /** Queues the changes of one log entry that are after the cursor. */
  private accept(raw: Buffer): void {
    const batch = JSON.parse(raw.toString('utf8')) as LogBatch;
    for (const c of batch.changes) {
      if (c.r <= this.cursor) continue;
      this.cursor = c.r;
      if (this.kinds && !this.kinds.has(c.k)) continue;
      const event: WatchEvent = { type: c.t, object: c.o as WatchEvent['object'], revision: c.r };
      if (c.p !== undefined) event.prevObject = c.p as WatchEvent['object'];
      if (batch.origin) event.origin = { ...batch.origin };
      this.queue.push(event);
    }
  }
}
