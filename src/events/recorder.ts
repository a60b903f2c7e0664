/**
 * core/v1 Events, as Kubernetes components emit them (`kubectl get events`, the Events of
 * `kubectl describe`): the scheduler, the controllers and the node agent say what they did to an
 * object (Scheduled, SuccessfulCreate, ScalingReplicaSet, Pulled, Created, Started, Killing,
 * BackOff, Unhealthy, …).
 *
 * Emitting never blocks the caller: events go to a bounded queue written in the background, a
 * burst in one transaction, and are dropped (and counted) when the queue is full. A repeat of the same event for the same object
 * (same reason and message) bumps `count` and `lastTimestamp` of the stored one instead of
 * adding another, as the Kubernetes event recorder aggregates. Events are not part of the audit
 * trail. {@link sweepEvents} applies the retention: events older than the TTL go, as the API
 * server's one-hour default.
 */
import { createHash } from 'node:crypto';
import { isGantryError } from '../errors.js';
import type { Logger } from '../log.js';
import { k8sTime } from '../model/time.js';
import type { KubeObject } from '../model/types.js';
import type { Store, TxnOp } from '../store/types.js';

/** A stored core/v1 Event. */
export interface KubeEvent extends KubeObject {
  kind: 'Event';
  involvedObject: { kind: string; namespace?: string; name: string; uid?: string; apiVersion?: string; fieldPath?: string };
  reason: string;
  message: string;
  type: 'Normal' | 'Warning';
  source?: { component: string; host?: string };
  firstTimestamp?: string;
  lastTimestamp?: string;
  count?: number;
  reportingComponent?: string;
  reportingInstance?: string;
}

/** What an emitter says. */
export interface EventSink {
  /** Records that `reason` happened to `obj` (fire and forget). */
  emit(obj: KubeObject, type: 'Normal' | 'Warning', reason: string, message: string, opts?: { fieldPath?: string }): void;
}

/** Options of {@link EventRecorder}. */
export interface EventRecorderOptions {
  store: Store;
  /** `scheduler`, `kubelet`, `deployment-controller`, … (source.component). */
  component: string;
  /** The node, for the agent's events. */
  host?: string;
  logger: Logger;
  /** Events waiting to be written at most (default 1000); more are dropped. */
  maxQueue?: number;
  /** How long the first event of a burst waits for others to share its write (default 500 ms). */
  delayMs?: number;
  now?: () => number;
}

/** Writes events to the store in the background; see the module comment. */
export class EventRecorder implements EventSink {
  private readonly o: EventRecorderOptions;
  private readonly queue: KubeEvent[] = [];
  private writing = false;
  private timer?: ReturnType<typeof setTimeout>;
  /** Events dropped because the queue was full. */
  dropped = 0;

  constructor(opts: EventRecorderOptions) {
    this.o = opts;
  }

  emit(obj: KubeObject, type: 'Normal' | 'Warning', reason: string, message: string, opts: { fieldPath?: string } = {}): void {
    if (this.queue.length >= (this.o.maxQueue ?? 1000)) {
      this.dropped++;
      return;
    }
    const ns = obj.metadata.namespace ?? 'default';
    const involved = {
      kind: obj.kind,
      ...(obj.metadata.namespace ? { namespace: obj.metadata.namespace } : {}),
      name: obj.metadata.name,
      ...(obj.metadata.uid ? { uid: obj.metadata.uid } : {}),
      ...(obj.apiVersion ? { apiVersion: obj.apiVersion } : {}),
      ...(opts.fieldPath ? { fieldPath: opts.fieldPath } : {}),
    };
    // The same event for the same object has the same name: a repeat aggregates into it.
    const digest = createHash('sha256').update(JSON.stringify([involved, reason, message, this.o.component])).digest('hex').slice(0, 16);
    const now = k8sTime(this.o.now?.() ?? Date.now());
    this.queue.push({
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${obj.metadata.name}.${digest}`.slice(0, 253), namespace: ns },
      involvedObject: involved,
      reason,
      message,
      type,
      source: { component: this.o.component, ...(this.o.host ? { host: this.o.host } : {}) },
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
      reportingComponent: this.o.component,
      reportingInstance: this.o.host ?? '',
    });
    // Events wait a moment and go in one transaction: a burst of starts is busy enough without
    // a write of its own for each event.
    this.timer ??= setTimeout(() => void this.drain(), this.o.delayMs ?? 500);
    this.timer.unref?.();
  }

  /** Writes what is queued now and resolves when every queued event is written (tests). */
  async flush(): Promise<void> {
    void this.drain();
    while (this.writing || this.queue.length > 0) {
      await new Promise((r) => setTimeout(r, 5));
      if (!this.writing && this.queue.length > 0) void this.drain();
    }
  }

  private async drain(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.writing) return;
    this.writing = true;
    try {
      while (this.queue.length > 0) {
        const batch = merge(this.queue.splice(0, 200));
        try {
          await this.writeBatch(batch);
        } catch {
          // Someone else wrote one of them meanwhile: one at a time, each with its own retry.
          for (const ev of batch) {
            await this.write(ev).catch((err: unknown) => this.o.logger.debug({ err, reason: ev.reason }, 'event not recorded'));
          }
        }
      }
    } finally {
      this.writing = false;
    }
  }

  private async writeBatch(batch: KubeEvent[]): Promise<void> {
    const ops: TxnOp[] = [];
    for (const ev of batch) {
      const current = await this.o.store.get<KubeEvent>({ kind: 'Event', namespace: ev.metadata.namespace, name: ev.metadata.name });
      ops.push(current ? { op: 'update', object: aggregate(current, ev) } : { op: 'create', object: ev });
    }
    await this.o.store.txn(ops, { origin: { actor: this.o.component } });
  }

  private async write(ev: KubeEvent): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const ref = { kind: 'Event', namespace: ev.metadata.namespace, name: ev.metadata.name };
      const current = await this.o.store.get<KubeEvent>(ref);
      try {
        if (!current) await this.o.store.create(ev, { origin: { actor: this.o.component } });
        else await this.o.store.update(aggregate(current, ev), { origin: { actor: this.o.component } });
        return;
      } catch (err) {
        if (!isGantryError(err, 'Conflict') && !isGantryError(err, 'AlreadyExists')) throw err;
      }
    }
  }
}

/** The stored event with `ev`'s occurrences added. */
function aggregate(current: KubeEvent, ev: KubeEvent): KubeEvent {
  return { ...current, count: (current.count ?? 1) + (ev.count ?? 1), lastTimestamp: ev.lastTimestamp };
}

/** Repeats within one batch become one event with their count. */
function merge(events: KubeEvent[]): KubeEvent[] {
  const byName = new Map<string, KubeEvent>();
  for (const ev of events) {
    const seen = byName.get(ev.metadata.name);
    byName.set(ev.metadata.name, seen ? { ...seen, count: (seen.count ?? 1) + 1, lastTimestamp: ev.lastTimestamp } : ev);
  }
  return [...byName.values()];
}

/** An EventSink that records nothing (components run without one in unit tests). */
export const noEvents: EventSink = { emit: () => undefined };

/** Deletes events whose last occurrence is older than `ttlMs` (default one hour). @returns how many. */
export async function sweepEvents(store: Store, opts: { ttlMs?: number; now?: number } = {}): Promise<number> {
  const cutoff = (opts.now ?? Date.now()) - (opts.ttlMs ?? 3_600_000);
  let n = 0;
  for (const ev of (await store.list<KubeEvent>('Event')).items) {
    const last = Date.parse(ev.lastTimestamp ?? ev.metadata.creationTimestamp ?? '');
    if (Number.isFinite(last) && last < cutoff) {
      await store.delete({ kind: 'Event', namespace: ev.metadata.namespace, name: ev.metadata.name }).catch(() => undefined);
      n++;
    }
  }
  return n;
}
