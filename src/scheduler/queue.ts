/**
 * The scheduling queue: pending pods by key, highest priority first, then oldest. A pod that
 * did not fit waits out a backoff (1 s doubling to 60 s), or less when the cluster changes in
 * a way that may make it fit (Kubernetes' "move to active queue on cluster event").
 */
import type { PendingPods } from '../metrics/index.js';
import type { Pod } from '../model/types.js';
import { podKey } from './podinfo.js';

/** Options for {@link SchedulingQueue}. */
export interface QueueOptions {
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  now?: () => number;
}

/** readyAt of a popped pod the caller has not settled yet. */
const IN_FLIGHT = Number.MAX_SAFE_INTEGER;

interface Entry {
  pod: Pod;
  attempts: number;
  /** When the pod may be tried again; 0 = in the active heap. */
  readyAt: number;
  /** Bumped whenever the entry is (re)pushed to the heap; stale heap items are skipped. */
  seq: number;
  /** The move cycle when this pod was popped, to catch cluster events during its attempt. */
  poppedAtCycle: number;
  /** When the pod entered the queue (the `now` clock), for the time it takes to schedule. */
  queuedAt: number;
  /** Its last attempt found no node (rather than failing): it waits for the cluster to change. */
  unschedulable: boolean;
}

interface HeapItem {
  key: string;
  seq: number;
  priority: number;
  created: string;
}

function before(a: HeapItem, b: HeapItem): boolean {
  if (a.priority !== b.priority) return a.priority > b.priority;
  if (a.created !== b.created) return a.created < b.created;
  return a.key < b.key;
}

/** See the module comment. */
export class SchedulingQueue {
  private readonly entries = new Map<string, Entry>();
  private readonly heap: HeapItem[] = [];
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly now: () => number;
  private seq = 0;
  private moveCycle = 0;
  /** No waiting pod is due before this (a lower bound: scans happen only from then on). */
  private nextDue = Infinity;
  private wake: (() => void) | undefined;

  constructor(opts: QueueOptions = {}) {
    this.initialBackoffMs = opts.initialBackoffMs ?? 1000;
    this.maxBackoffMs = opts.maxBackoffMs ?? 60_000;
    this.now = opts.now ?? Date.now;
  }

  /** Number of pods queued (active or backing off). */
  get size(): number {
    return this.entries.size;
  }

  /** True when the pod is queued. */
  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** Milliseconds since the pod entered the queue, by the queue's clock; undefined when it is not queued. */
  waitedMs(key: string): number | undefined {
    const e = this.entries.get(key);
    return e ? this.now() - e.queuedAt : undefined;
  }

  /** The queued pods by where they wait (for metrics; one pass over the queue). */
  counts(): PendingPods {
    const out: PendingPods = { active: 0, backoff: 0, unschedulable: 0 };
    for (const e of this.entries.values()) {
      // A pod being tried counts as active: it is still pending.
      if (e.readyAt === 0 || e.readyAt === IN_FLIGHT) out.active++;
      else if (e.unschedulable) out.unschedulable++;
      else out.backoff++;
    }
    return out;
  }

  /**
   * Adds a pending pod, or records the latest version of one already queued. A queued pod
   * keeps its backoff unless `activate` (its spec changed, so it may fit now).
   */
  add(pod: Pod, opts: { activate?: boolean } = {}): void {
    const key = podKey(pod);
    const e = this.entries.get(key);
    if (!e) {
      const entry: Entry = { pod, attempts: 0, readyAt: 0, seq: 0, poppedAtCycle: -1, queuedAt: this.now(), unschedulable: false };
      this.entries.set(key, entry);
      this.push(key, entry);
      return;
    }
    e.pod = pod;
    if (opts.activate && e.readyAt > 0) this.activate(key, e);
  }

  /** Forgets a pod (bound, deleted, no longer ours). */
  delete(key: string): void {
    this.entries.delete(key);
  }

  /** The pod did not fit (`unschedulable`) or its attempt failed: try again after its backoff. */
  backoff(key: string, opts: { unschedulable?: boolean } = {}): void {
    const e = this.entries.get(key);
    if (!e) return;
    e.attempts++;
    e.unschedulable = opts.unschedulable === true;
    if (e.poppedAtCycle !== this.moveCycle) {
      // The cluster changed while this pod was being tried: try again with the new state.
      this.activate(key, e);
      return;
    }
    const delay = Math.min(this.maxBackoffMs, this.initialBackoffMs * 2 ** (e.attempts - 1));
    e.readyAt = this.now() + delay;
    if (e.readyAt < this.nextDue) this.nextDue = e.readyAt;
    this.notify();
  }

  /** A cluster event that may make waiting pods fit: make them all active now. */
  moveAllToActive(): void {
    this.moveCycle++;
    for (const [key, e] of this.entries) if (e.readyAt > 0) this.activate(key, e);
  }

  /** The pod to schedule next; waits for one. Undefined when the signal aborts. */
  async pop(signal: AbortSignal): Promise<Pod | undefined> {
    for (;;) {
      if (signal.aborted) return undefined;
      this.promoteDue();
      const item = this.takeTop();
      if (item) return item;
      const nextDue = this.nextDue;
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          this.wake = undefined;
          resolve();
        };
        const timer = nextDue === Infinity ? undefined : setTimeout(done, Math.max(0, nextDue - this.now()));
        signal.addEventListener('abort', done, { once: true });
        this.wake = done;
      });
    }
  }

  private takeTop(): Pod | undefined {
    while (this.heap.length > 0) {
      const top = this.popHeap();
      const e = this.entries.get(top.key);
      if (!e || e.seq !== top.seq || e.readyAt !== 0) continue;
      e.poppedAtCycle = this.moveCycle;
      // Until the caller reports back, the pod counts as backing off "forever"; a move makes it
      // active again, and backoff()/delete() settle it.
      e.readyAt = IN_FLIGHT;
      return e.pod;
    }
    return undefined;
  }

  /** Marks a popped pod as settled without backoff (for callers that re-add it). */
  requeueNow(key: string): void {
    const e = this.entries.get(key);
    if (e) this.activate(key, e);
  }

  private promoteDue(): void {
    const now = this.now();
    if (now < this.nextDue) return;
    let next = Infinity;
    for (const [key, e] of this.entries) {
      if (e.readyAt === 0 || e.readyAt === IN_FLIGHT) continue;
      if (e.readyAt <= now) this.activate(key, e);
      else if (e.readyAt < next) next = e.readyAt;
    }
    this.nextDue = next;
  }

  private activate(key: string, e: Entry): void {
    e.readyAt = 0;
    this.push(key, e);
  }

  private push(key: string, e: Entry): void {
    e.seq = ++this.seq;
    const item: HeapItem = {
      key,
      seq: e.seq,
      priority: e.pod.spec.priority ?? 0,
      created: e.pod.metadata.creationTimestamp ?? '',
    };
    const h = this.heap;
    h.push(item);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
    this.notify();
  }

  private popHeap(): HeapItem {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l]!, h[m]!)) m = l;
        if (r < h.length && before(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }

  private notify(): void {
    this.wake?.();
  }
}
