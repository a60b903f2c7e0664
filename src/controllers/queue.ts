/**
 * A keyed work queue in the manner of client-go's `workqueue`: it holds keys, not events, so
 * many changes to one object collapse into one reconcile, and a key is never handed to two
 * workers at once. Retry policy lives here too: per-key exponential backoff plus an overall
 * token bucket (architecture conventions 1 and 2). Given metrics and a name, it reports what
 * client-go's queues do: depth, adds, time waiting, time in work and retries.
 */
import type { QueueObserver, WorkqueueMetrics } from '../metrics/index.js';

/** Time as the queue sees it; injectable so that tests drive time by hand. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /**
   * Milliseconds from an arbitrary origin, finer than `now()`, for measuring durations (metrics);
   * `now()` when absent, so a test's clock drives those too.
   */
  monotonicMs?(): number;
}

/** The process clock. Timers are unref'd so that a pending retry never keeps Node alive. */
export const realClock: Clock = {
  now: () => Date.now(),
  monotonicMs: () => performance.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/** Decides how long a key waits before its next retry. */
export interface RateLimiter {
  /** The delay for this failure of `key` (and records the failure). */
  when(key: string): number;
  /** Clears the failure history of `key` after a success. */
  forget(key: string): void;
  /** How many failures of `key` are recorded. */
  retries(key: string): number;
}

/** Per-key exponential backoff: base, 2×base, 4×base, … capped at max. */
export class ExponentialBackoff implements RateLimiter {
  private failures = new Map<string, number>();

  /** Defaults as client-go: 5 ms doubling to 1000 s. */
  constructor(private readonly baseMs = 5, private readonly maxMs = 1_000_000) {}

  when(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    // 2^n overflows to Infinity long before it matters; min() handles that.
    return Math.min(this.baseMs * 2 ** n, this.maxMs);
  }

  forget(key: string): void {
    this.failures.delete(key);
  }

  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }
}

/**
 * An overall token bucket (client-go: 10 qps, burst 100): each retry takes a token, and when
 * the bucket is empty the retry waits for the next one. Protects the store from a storm of
 * failing keys.
 */
export class TokenBucket implements RateLimiter {
  private tokens: number;
  private last: number;

  constructor(private readonly qps = 10, private readonly burst = 100, private readonly clock: Clock = realClock) {
    this.tokens = burst;
    this.last = clock.now();
  }

  when(_key: string): number {
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.qps);
    this.last = now;
    // Reserve a token now, possibly going negative: the debt is the wait.
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / this.qps) * 1000);
  }

  forget(_key: string): void {}

  retries(_key: string): number {
    return 0;
  }
}

/** The longest delay of several limiters (client-go's MaxOfRateLimiter). */
export class MaxOf implements RateLimiter {
  private readonly limiters: RateLimiter[];

  constructor(...limiters: RateLimiter[]) {
    this.limiters = limiters;
  }

  when(key: string): number {
    let d = 0;
    for (const l of this.limiters) d = Math.max(d, l.when(key));
    return d;
  }

  forget(key: string): void {
    for (const l of this.limiters) l.forget(key);
  }

  retries(key: string): number {
    let n = 0;
    for (const l of this.limiters) n = Math.max(n, l.retries(key));
    return n;
  }
}

/** Options for {@link WorkQueue}. */
export interface WorkQueueOptions {
  clock?: Clock;
  /** Default: max of ExponentialBackoff(5 ms, 1000 s) and TokenBucket(10 qps, burst 100). */
  rateLimiter?: RateLimiter;
  /** The queue's name in metrics (`gantry_workqueue_*{name}`): its controller's. */
  name?: string;
  /** Where the queue reports (with a `name`); nothing is measured without. */
  metrics?: WorkqueueMetrics;
}

/** The default controller rate limiter, as client-go's DefaultControllerRateLimiter. */
export function defaultRateLimiter(clock: Clock = realClock): RateLimiter {
  return new MaxOf(new ExponentialBackoff(5, 1_000_000), new TokenBucket(10, 100, clock));
}

/**
 * The queue. Invariants: a key is in `queue` at most once; a key being processed (`get` handed
 * it out, `done` not yet called) is never handed out again; adding such a key marks it dirty
 * and `done` puts it back.
 */
export class WorkQueue {
  private queue: string[] = [];
  /** Keys waiting or re-added while in work → when first added (monotonic ms; 0 without metrics). */
  private dirty = new Map<string, number>();
  /** Keys in work → when handed out (monotonic ms; 0 without metrics). */
  private processing = new Map<string, number>();
  private getters: ((key: string | undefined) => void)[] = [];
  private timers = new Map<string, { at: number; handle: unknown }>();
  private stopped = false;
  private readonly clock: Clock;
  private readonly limiter: RateLimiter;
  private readonly observer?: QueueObserver;

  constructor(opts: WorkQueueOptions = {}) {
    this.clock = opts.clock ?? realClock;
    this.limiter = opts.rateLimiter ?? defaultRateLimiter(this.clock);
    if (opts.metrics && opts.name) this.observer = opts.metrics.forQueue(opts.name, () => this.len());
  }

  /** Queues `key` unless it is already waiting; a key in process is requeued after `done`. */
  add(key: string): void {
    if (this.stopped || this.dirty.has(key)) return;
    // As client-go, a key's wait counts from its first add since it was last handed out.
    if (this.observer) {
      this.observer.added();
      this.dirty.set(key, this.elapsedMs());
    } else {
      this.dirty.set(key, 0);
    }
    if (this.processing.has(key)) return;
    this.enqueue(key);
  }

  /** Hands a dirty key to a waiting worker, or queues it. */
  private enqueue(key: string): void {
    const getter = this.getters.shift();
    if (getter) {
      this.handOut(key);
      getter(key);
    } else {
      this.queue.push(key);
    }
  }

  /** Moves a dirty key into work, measuring how long it waited. */
  private handOut(key: string): void {
    if (this.observer) {
      const now = this.elapsedMs();
      this.observer.waited((now - this.dirty.get(key)!) / 1000);
      this.processing.set(key, now);
    } else {
      this.processing.set(key, 0);
    }
    this.dirty.delete(key);
  }

  private elapsedMs(): number {
    return this.clock.monotonicMs ? this.clock.monotonicMs() : this.clock.now();
  }

  /** Adds `key` after `ms`; an earlier pending add of the same key wins (as client-go). */
  addAfter(key: string, ms: number): void {
    if (this.stopped) return;
    if (ms <= 0) return this.add(key);
    const at = this.clock.now() + ms;
    const existing = this.timers.get(key);
    if (existing && existing.at <= at) return;
    if (existing) this.clock.clearTimeout(existing.handle);
    const handle = this.clock.setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, ms);
    this.timers.set(key, { at, handle });
  }

  /** Adds `key` after the rate limiter's delay for it (a failure: backoff grows). */
  addRateLimited(key: string): void {
    this.observer?.retried();
    this.addAfter(key, this.limiter.when(key));
  }

  /** Resets the backoff of `key` (call after a success). */
  forget(key: string): void {
    this.limiter.forget(key);
  }

  /** How many times `key` has been retried since its last success. */
  numRequeues(key: string): number {
    return this.limiter.retries(key);
  }

  /**
   * The next key to process, waiting for one if the queue is empty; undefined once the queue
   * is shut down or the signal aborts. The caller must call {@link done} with it.
   */
  get(signal?: AbortSignal): Promise<string | undefined> {
    if (this.stopped || signal?.aborted) return Promise.resolve(undefined);
    const key = this.queue.shift();
    if (key !== undefined) {
      this.handOut(key);
      return Promise.resolve(key);
    }
    return new Promise((resolve) => {
      const getter = (k: string | undefined): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve(k);
      };
      const onAbort = (): void => {
        this.getters = this.getters.filter((g) => g !== getter);
        resolve(undefined);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.getters.push(getter);
    });
  }

  /** Marks `key` as processed; if it was added meanwhile it goes back in the queue. */
  done(key: string): void {
    const started = this.processing.get(key);
    if (this.observer && started !== undefined) this.observer.worked((this.elapsedMs() - started) / 1000);
    this.processing.delete(key);
    // Added while in work: it is already counted (and its wait timed) from that add.
    if (this.dirty.has(key)) this.enqueue(key);
  }

  /** Keys waiting (not counting those in process or on a timer). */
  len(): number {
    return this.queue.length;
  }

  /** True while `key` is handed out and not yet done. */
  isProcessing(key: string): boolean {
    return this.processing.has(key);
  }

  /** Stops the queue: pending `get`s resolve undefined, timers are cancelled, adds are ignored. */
  shutdown(): void {
    this.stopped = true;
    for (const t of this.timers.values()) this.clock.clearTimeout(t.handle);
    this.timers.clear();
    for (const g of this.getters.splice(0)) g(undefined);
    this.queue = [];
    this.dirty.clear();
  }

  /** True after {@link shutdown}. */
  isShutdown(): boolean {
    return this.stopped;
  }
}
