/**
 * The controller runtime: a {@link Controller} declares which kinds it watches and how a change
 * maps to keys; the {@link ControllerManager} keeps one shared {@link Cache}, one
 * {@link WorkQueue} per controller and N workers per queue, and turns a reconcile's outcome into
 * the queue's retry policy:
 *
 * - success → forget the key's backoff; `requeueAfter` → add it back after that delay;
 * - `GantryError` stalled → log, no retry until the object changes (a new event adds the key);
 * - waiting → add back after `retryAfterMs`;
 * - transient (or any other error) → rate-limited retry (per-key backoff + overall bucket).
 *
 * A jittered periodic resync re-adds every key: everything is level-triggered, so a missed or
 * failed event costs latency, never correctness.
 *
 * To add a controller: implement {@link Controller} (name, `kinds` whose objects are its keys,
 * `watches` mapping other kinds to those keys, `reconcile(key, ctx)`) and `manager.add()` it
 * before `start()`.
 */
import { setMaxListeners } from 'node:events';
import { errorMessage, isGantryError } from '../errors.js';
import { objectKey } from '../model/keys.js';
import type { KubeObject, OwnerReference } from '../model/types.js';
import type { Store, WriteOrigin } from '../store/types.js';
import { silentLogger, type Logger } from '../log.js';
import { noEvents, type EventSink } from '../events/recorder.js';
import type { Metrics, ReconcileObserver } from '../metrics/index.js';
import { Cache, type CacheEvent, type CacheReader } from './cache.js';
import { realClock, WorkQueue, type Clock, type WorkQueueOptions } from './queue.js';

/** What a reconcile asks of the queue after a success. */
export interface Result {
  /** Reconcile this key again after this many milliseconds (e.g. a deadline or minReadySeconds). */
  requeueAfter?: number;
}

/** What a reconcile gets. */
export interface ReconcileContext {
  store: Store;
  /** The shared cache. Objects are frozen: copy before changing. */
  cache: CacheReader;
  /** `{ actor: 'controller/<name>' }`: pass it (with a reason) on every write. */
  origin: WriteOrigin;
  log: Logger;
  /** Milliseconds since the epoch; injectable for tests. */
  now(): number;
  signal: AbortSignal;
  /** Queues a key of this controller (e.g. to retry a sibling). */
  enqueue(key: string, afterMs?: number): void;
  /** core/v1 Events about the objects it acts on (source component `<name>-controller`). */
  events: EventSink;
}

/** Maps a cache event to keys of the controller. */
export type KeyMapper = (event: CacheEvent, cache: CacheReader) => Iterable<string>;

/** A kind a controller watches and how its changes become keys. */
export interface Watch {
  kind: string;
  /** Default: the object's own key ({@link ownKey}). */
  keys?: KeyMapper;
}

/** A level-triggered reconciler. */
export interface Controller {
  /** Short name; writes carry origin actor `controller/<name>`. */
  readonly name: string;
  /** Kinds whose objects are this controller's keys: their events enqueue the object's key. */
  readonly kinds: readonly string[];
  /** Further kinds to cache and how their events map to keys. */
  readonly watches?: readonly Watch[];
  /** Keys to re-add on periodic resync; default: every cached object of {@link kinds}. */
  resyncKeys?(cache: CacheReader): Iterable<string>;
  /** Keys to reconcile once the cache is synced, whatever it holds (objects a controller makes if missing). */
  initialKeys?(): Iterable<string>;
  /** Observes every event of its watches before keys are mapped (expectations bookkeeping). */
  observe?(event: CacheEvent): void;
  /** Makes the world match the object behind `key`. Throw a GantryError to pick a retry. */
  reconcile(key: string, ctx: ReconcileContext): Promise<Result | void>;
}

/** The object's own key. */
export const ownKey: KeyMapper = (ev) => [objectKey(ev.object)];

/** The ownerReference with `controller: true`, if any. */
export function controllerRef(obj: KubeObject): OwnerReference | undefined {
  return obj.metadata.ownerReferences?.find((r) => r.controller === true);
}

/**
 * Maps a child to the key of its controlling owner of `ownerKind`, for both the object and its
 * previous version (so a child that changes owner wakes both).
 */
export function controllerOwnerKeys(ownerKind: string): KeyMapper {
  return (ev) => {
    const keys = new Set<string>();
    for (const obj of [ev.object, ev.prevObject]) {
      const ref = obj && controllerRef(obj);
      if (obj && ref && ref.kind === ownerKind) keys.add(objectKey({ ...obj, kind: ownerKind, metadata: { name: ref.name, namespace: obj.metadata.namespace } }));
    }
    return keys;
  };
}

/** Options for {@link ControllerManager}. */
export interface ManagerOptions {
  /** Workers per controller (default 2). */
  workers?: number;
  /** Base resync period (default 5 min); each period adds up to `resyncJitter` × base (default 1). */
  resyncMs?: number;
  resyncJitter?: number;
  log?: Logger;
  clock?: Clock;
  /** Queue options per controller (rate limiter, clock). */
  queue?: (controller: string) => WorkQueueOptions;
  /** Default for stalled errors is no retry; waiting errors without retryAfterMs wait this long (default 5 s). */
  defaultWaitMs?: number;
  /** Where controllers' Events go, per controller name (default: nowhere). */
  events?: (controller: string) => EventSink;
  /** Counts reconciles and measures each controller's queue (`gantry_controller_runtime_*`, `gantry_workqueue_*`). */
  metrics?: Metrics;
}

interface Running {
  controller: Controller;
  queue: WorkQueue;
  busy: number;
  resyncTimer?: unknown;
  reconciles?: ReconcileObserver;
}

/** Runs controllers: shared cache, one queue per controller, N workers each. */
export class ControllerManager {
  /** Every worker waits on this signal, so it has many listeners by design. */
  private static newAbort(): AbortController {
    const ac = new AbortController();
    setMaxListeners(0, ac.signal);
    return ac;
  }

  private controllers: Running[] = [];
  private abort = ControllerManager.newAbort();
  private workers: Promise<void>[] = [];
  private started = false;
  private cacheInstance?: Cache;
  private readonly log: Logger;
  private readonly clock: Clock;

  constructor(private readonly store: Store, private readonly opts: ManagerOptions = {}) {
    this.log = opts.log ?? silentLogger();
    this.clock = opts.clock ?? realClock;
  }

  /** Registers a controller; call before {@link start}. */
  add(controller: Controller): void {
    if (this.started) throw new Error(`cannot add controller ${controller.name} after start`);
    const metrics = this.opts.metrics;
    const queue = new WorkQueue({
      clock: this.clock,
      ...(metrics ? { name: controller.name, metrics: metrics.workqueue } : {}),
      ...this.opts.queue?.(controller.name),
    });
    this.controllers.push({ controller, queue, busy: 0, ...(metrics ? { reconciles: metrics.controllers.forController(controller.name) } : {}) });
  }

  /** The shared cache (after {@link start}). */
  get cache(): Cache {
    if (!this.cacheInstance) throw new Error('the controller manager is not started');
    return this.cacheInstance;
  }

  /**
   * Lists and watches every kind the controllers need, then starts the workers. Resolves once
   * the cache is synced and workers run; stop with {@link stop} or the signal.
   */
  async start(signal?: AbortSignal): Promise<void> {
    if (this.started) return;
    this.started = true;
    signal?.addEventListener('abort', () => void this.stop(), { once: true });
    const kinds = new Set<string>();
    for (const { controller } of this.controllers) {
      for (const k of controller.kinds) kinds.add(k);
      for (const w of controller.watches ?? []) kinds.add(w.kind);
    }
    const cache = new Cache(this.store, [...kinds], { log: this.log });
    this.cacheInstance = cache;
    for (const run of this.controllers) this.wire(run, cache);
    await cache.start(this.abort.signal);
    const workers = this.opts.workers ?? 2;
    for (const run of this.controllers) {
      for (const k of run.controller.initialKeys?.() ?? []) run.queue.add(k);
      for (let i = 0; i < workers; i++) this.workers.push(this.work(run, cache));
      this.scheduleResync(run, cache);
    }
  }

  /** Stops workers and the cache; resolves when in-flight reconciles have finished. */
  async stop(): Promise<void> {
    this.abort.abort();
    for (const run of this.controllers) {
      if (run.resyncTimer !== undefined) this.clock.clearTimeout(run.resyncTimer);
      run.queue.shutdown();
    }
    await Promise.allSettled(this.workers);
  }

  /** Queues a key for the named controller. */
  enqueue(controller: string, key: string): void {
    this.controllers.find((r) => r.controller.name === controller)?.queue.add(key);
  }

  /** True when no controller has a queued or in-process key (timers may still be pending). */
  isIdle(): boolean {
    return this.controllers.every((r) => r.queue.len() === 0 && r.busy === 0);
  }

  private wire(run: Running, cache: Cache): void {
    const { controller, queue } = run;
    const mappers = new Map<string, KeyMapper[]>();
    for (const k of controller.kinds) mappers.set(k, [ownKey]);
    for (const w of controller.watches ?? []) {
      const list = mappers.get(w.kind) ?? [];
      list.push(w.keys ?? ownKey);
      mappers.set(w.kind, list);
    }
    cache.subscribe((ev) => {
      const list = mappers.get(ev.object.kind);
      if (!list) return;
      controller.observe?.(ev);
      for (const m of list) for (const key of m(ev, cache)) queue.add(key);
    });
  }

  private async work(run: Running, cache: Cache): Promise<void> {
    const { controller, queue } = run;
    const events = this.opts.events?.(controller.name) ?? noEvents;
    const origin: WriteOrigin = { actor: `controller/${controller.name}` };
    const log = this.log.child({ controller: controller.name });
    const signal = this.abort.signal;
    for (;;) {
      const key = await queue.get(signal);
      if (key === undefined) return;
      run.busy++;
      const ctx: ReconcileContext = {
        store: this.store,
        cache,
        origin,
        log,
        now: () => this.clock.now(),
        signal,
        enqueue: (k, after) => (after ? queue.addAfter(k, after) : queue.add(k)),
        events,
      };
      try {
        const res = await controller.reconcile(key, ctx);
        queue.forget(key);
        const again = res?.requeueAfter !== undefined && res.requeueAfter >= 0;
        run.reconciles?.reconciled(again ? 'requeue' : 'success');
        if (again) queue.addAfter(key, res!.requeueAfter!);
      } catch (err) {
        if (signal.aborted) {
          // Shutting down: the store may be closing under us; nothing to retry (and nothing to count).
        } else if (isGantryError(err) && err.disposition === 'stalled') {
          run.reconciles?.reconciled('error');
          queue.forget(key);
          log.error({ key, code: err.code, err: err.message }, 'reconcile stalled; waiting for a change');
        } else if (isGantryError(err) && err.disposition === 'waiting') {
          // Waiting for something else to happen (a volume, a token): a requeue, not a failure.
          run.reconciles?.reconciled('requeue');
          queue.forget(key);
          log.info({ key, code: err.code, err: err.message }, 'reconcile waiting');
          queue.addAfter(key, err.retryAfterMs ?? this.opts.defaultWaitMs ?? 5000);
        } else {
          run.reconciles?.reconciled('error');
          const level = isGantryError(err, 'Conflict') ? 'debug' : 'warn';
          log[level]({ key, err: errorMessage(err), retries: queue.numRequeues(key) }, 'reconcile failed; retrying with backoff');
          queue.addRateLimited(key);
        }
      } finally {
        run.busy--;
        queue.done(key);
      }
    }
  }

  private scheduleResync(run: Running, cache: Cache): void {
    const base = this.opts.resyncMs ?? 5 * 60_000;
    const jitter = this.opts.resyncJitter ?? 1;
    const tick = (): void => {
      if (this.abort.signal.aborted) return;
      const keys = run.controller.resyncKeys
        ? run.controller.resyncKeys(cache)
        : run.controller.kinds.flatMap((k) => cache.list(k).map((o) => objectKey(o)));
      for (const k of keys) run.queue.add(k);
      run.resyncTimer = this.clock.setTimeout(tick, base * (1 + Math.random() * jitter));
    };
    run.resyncTimer = this.clock.setTimeout(tick, base * (1 + Math.random() * jitter));
  }
}
