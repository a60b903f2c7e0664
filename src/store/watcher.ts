/**
 * One watch over a revisioned change log: replay from a cursor, then live delivery, with no
 * gaps and no duplicates.
 *
 * A watcher is in one of two modes. While catching up it reads pages of the log itself, so a
 * watch from far back costs no more memory than a page. When a page comes back short it has
 * reached the head and goes live: from then on the backend pushes each committed change to it.
 * Both modes move the same cursor (the last revision accounted for) and a pushed change at or
 * below the cursor is skipped, which is what closes the race between replay and subscription.
 * A live watcher whose consumer falls behind by more than `bufferLimit` changes drops back to
 * catching up from the log, so a slow consumer costs bounded memory and never blocks writers.
 */
import { GantryError } from '../errors.js';
import type { WatchEvent, WriteOrigin } from './types.js';

/** A change as the log stores it: JSON text, parsed only when delivered. */
export interface ChangeRow {
  revision: number;
  type: WatchEvent['type'];
  kind: string;
  object: string;
  prev: string | null;
  origin: string | null;
}

/** What a page read of the log returns, all at one snapshot. */
export interface ChangePage {
  rows: ChangeRow[];
  /** The store revision at that snapshot. */
  head: number;
  /** The highest revision no longer in the log (0 when nothing was compacted). */
  compacted: number;
}

/** The log a watcher reads while catching up, and the hub it joins when live. */
export interface ChangeSource {
  /** Rows with revision > `after`, in order, at most `limit`. */
  readAfter(after: number, limit: number): ChangePage;
  /** Called when the watcher reached `head` and wants pushed changes from now on. */
  wentLive(watcher: Watcher, head: number): void;
  /** Called once when the watcher ends. */
  detach(watcher: Watcher): void;
}

/** Options for a {@link Watcher}. */
export interface WatcherOptions {
  /** Deliver changes with revision > from. */
  from: number;
  kinds?: readonly string[];
  signal?: AbortSignal;
  /** Most changes held in memory for a live watcher before it falls back to reading the log. */
  bufferLimit?: number;
  /** Rows per log read while catching up. */
  pageSize?: number;
}

/** An async iterator of {@link WatchEvent}s; see the module comment. */
export class Watcher implements AsyncIterableIterator<WatchEvent> {
  /** The last revision accounted for (delivered, queued or filtered out). */
  cursor: number;
  /** True while the backend pushes changes to this watcher. */
  live = false;
  private readonly kinds?: ReadonlySet<string>;
  private readonly bufferLimit: number;
  private readonly pageSize: number;
  private queue: ChangeRow[] = [];
  private head = 0;
  private ended = false;
  private wake?: () => void;
  private readonly onAbort = (): void => this.end();

  constructor(
    private readonly source: ChangeSource,
    private readonly opts: WatcherOptions,
  ) {
    this.cursor = opts.from;
    this.kinds = opts.kinds && opts.kinds.length > 0 ? new Set(opts.kinds) : undefined;
    this.bufferLimit = opts.bufferLimit ?? 1024;
    this.pageSize = opts.pageSize ?? 500;
    if (opts.signal?.aborted) this.end();
    else opts.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  /** Offers a committed change to a live watcher. Changes at or below the cursor are skipped. */
  push(row: ChangeRow): void {
    if (!this.live || this.ended || row.revision <= this.cursor) return;
    this.cursor = row.revision;
    if (this.kinds && !this.kinds.has(row.kind)) return;
    this.queue.push(row);
    if (this.queue.length - this.head > this.bufferLimit) this.live = false;
    this.signal();
  }

  /** Stops pushes; the watcher reads the log from its cursor again (and may find it compacted). */
  demote(): void {
    this.live = false;
    this.signal();
  }

  /** Ends the iteration; a pending `next()` resolves as done. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.live = false;
    this.queue = [];
    this.head = 0;
    this.opts.signal?.removeEventListener('abort', this.onAbort);
    this.source.detach(this);
    this.signal();
  }

  /** True once the watcher has ended. */
  get isEnded(): boolean {
    return this.ended;
  }

  async next(): Promise<IteratorResult<WatchEvent>> {
    for (;;) {
      if (this.ended) return { value: undefined, done: true };
      if (this.head < this.queue.length) {
        const row = this.queue[this.head++]!;
        if (this.head > 1024 && this.head * 2 > this.queue.length) {
          this.queue = this.queue.slice(this.head);
          this.head = 0;
        }
        return { value: toEvent(row), done: false };
      }
      if (!this.live) {
        try {
          this.catchUp();
        } catch (err) {
          this.end();
          throw err;
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

  private catchUp(): void {
    const page = this.source.readAfter(this.cursor, this.pageSize);
    if (page.compacted > this.cursor) {
      throw new GantryError(
        'Conflict',
        `cannot watch from revision ${this.cursor}: it is too old (changes up to revision ${page.compacted} were compacted); re-list and watch from the list's revision`,
        { disposition: 'transient' },
      );
    }
    for (const row of page.rows) {
      this.cursor = row.revision;
      if (!this.kinds || this.kinds.has(row.kind)) this.queue.push(row);
    }
    if (page.rows.length < this.pageSize) {
      // Reached the head at this snapshot: everything up to it is accounted for.
      this.cursor = Math.max(this.cursor, page.head);
      this.live = true;
      this.source.wentLive(this, page.head);
    }
  }
}

/** Parses a stored change into the event a consumer gets (fresh objects every time). */
export function toEvent(row: ChangeRow): WatchEvent {
  const event: WatchEvent = { type: row.type, object: JSON.parse(row.object), revision: row.revision };
  if (row.prev !== null) event.prevObject = JSON.parse(row.prev);
  if (row.origin !== null) event.origin = JSON.parse(row.origin) as WriteOrigin;
  return event;
}
