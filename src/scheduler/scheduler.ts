/**
 * The scheduler process: keeps a {@link SchedulerCache} current from store watches, queues
 * pending pods (highest priority first), and binds each to the node {@link schedulePod} picks by
 * writing `spec.nodeName` and condition PodScheduled=True. A pod that fits nowhere gets
 * PodScheduled=False, reason Unschedulable, with Kubernetes' message, and is retried later —
 * unless it can preempt (./preemption.ts): then lower-priority pods on one node are deleted
 * (condition DisruptionTarget, event Preempted), the pod is nominated to that node
 * (`status.nominatedNodeName`), and until it is bound other pods of lower priority are scheduled
 * as if it were already there, so they do not take the room its victims leave.
 * A pod with `schedulingGates` is left alone (PodScheduled=False, reason SchedulingGated) until
 * its gates are all removed, as kube-scheduler's SchedulingGates plugin keeps it out of the queue.
 */
import { noEvents, type EventSink } from '../events/recorder.js';
import { errorMessage, isGantryError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics, ScheduleResult as AttemptResult, SchedulerMetrics } from '../metrics/index.js';
import { objectRef } from '../model/keys.js';
import type { Condition, Node, Pod, PodDisruptionBudget } from '../model/types.js';
import { evictVictims } from './evict.js';
import { Nominations } from './nominations.js';
import { failureOn, findPreemption, type PreemptionCandidate } from './preemption.js';
import type { Store, WatchEvent } from '../store/types.js';
import { SchedulerCache } from './cache.js';
import { boundCopy, podInfo, podKey } from './podinfo.js';
import { volumeBindingPlan, type VolumeBindingPlan } from './plugins/volume-binding.js';
import { VOLUME_KINDS, VolumeReservations, VolumeView, type VolumeObject } from './volumes.js';
import { SchedulingQueue } from './queue.js';
import { isUnschedulable, schedulePod, type ScheduleOptions, type ScheduleResult } from './schedule.js';
import { abortableSleep } from '../model/time.js';

/** The scheduler name pods get when they name none. */
export const DEFAULT_SCHEDULER_NAME = 'default-scheduler';
/** The actor recorded on the scheduler's writes. */
export const SCHEDULER_ACTOR = 'scheduler';

/** Options for {@link Scheduler}. */
export interface SchedulerOptions {
  store: Store;
  logger: Logger;
  /** Pods whose `spec.schedulerName` is this (or empty, for the default) are ours. */
  schedulerName?: string;
  /** Backoff for pods that fit nowhere: first retry after this (default 1000 ms), doubling… */
  initialBackoffMs?: number;
  /** …up to this (default 60,000 ms). */
  maxBackoffMs?: number;
  /** Passed to {@link schedulePod} (tie-breaking randomness, sampling percentage). */
  scheduleOptions?: ScheduleOptions;
  /** Where Scheduled and FailedScheduling Events go (default: nowhere). */
  events?: EventSink;
  /** Counts attempts, their latency and the pending pods (`gantry_scheduler_*`). */
  metrics?: Metrics;
}

/** True when the pod is unbound, not finished nor deleted, and for this scheduler (gated or not). */
function awaitsScheduler(pod: Pod, schedulerName: string): boolean {
  if (pod.spec.nodeName) return false;
  if ((pod.spec.schedulerName || DEFAULT_SCHEDULER_NAME) !== schedulerName) return false;
  if (pod.metadata.deletionTimestamp) return false;
  const phase = pod.status?.phase;
  return phase !== 'Succeeded' && phase !== 'Failed';
}

/** True when the pod has scheduling gates left. */
export function isGated(pod: Pod): boolean {
  return (pod.spec.schedulingGates?.length ?? 0) > 0;
}

/** True when the pod is waiting for this scheduler (and no gate holds it back). */
export function isPendingFor(pod: Pod, schedulerName: string): boolean {
  return awaitsScheduler(pod, schedulerName) && !isGated(pod);
}

/** Kubernetes' reason and message for a pod held back by its scheduling gates. */
export const SCHEDULING_GATED = { reason: 'SchedulingGated', message: 'Scheduling is blocked due to non-empty scheduling gates' } as const;

function withCondition(pod: Pod, cond: Condition): Pod {
  const conditions = (pod.status?.conditions ?? []).filter((c) => c.type !== cond.type);
  conditions.push(cond);
  return { ...pod, status: { ...pod.status, conditions } };
}

function nodeChangeMatters(prev: Node | undefined, next: Node): boolean {
  if (!prev) return true;
  const j = (v: unknown): string => JSON.stringify(v ?? null);
  return j(prev.metadata.labels) !== j(next.metadata.labels)
    || j(prev.spec?.taints) !== j(next.spec?.taints)
    || Boolean(prev.spec?.unschedulable) !== Boolean(next.spec?.unschedulable)
    || j(prev.status?.allocatable) !== j(next.status?.allocatable);
}

/** Most binds written at once. */
const MAX_BINDS_IN_FLIGHT = 32;

/** See the module comment. */
export class Scheduler {
  private readonly store: Store;
  private readonly log: Logger;
  private readonly name: string;
  private readonly queue: SchedulingQueue;
  private readonly scheduleOptions: ScheduleOptions;
  private readonly events: EventSink;
  private readonly metrics?: SchedulerMetrics;
  private cache = new SchedulerCache();
  /** Pods bound by us whose bound version the watch has not delivered yet → that version. */
  private readonly assumed = new Map<string, number>();
  /** Binds in flight: the next pod is scheduled while earlier binds are still being written. */
  private readonly binding = new Set<Promise<void>>();
  /** Claims and volumes changed by binds in flight, ahead of the store. */
  private readonly reservations = new VolumeReservations(() => this.cache.volumes);
  /** Pending pods nominated to a node by preemption. */
  private readonly nominated = new Nominations();
  /** PodDisruptionBudgets, by `namespace/name`: preemption spares the pods they protect when it can. */
  private budgets = new Map<string, PodDisruptionBudget>();

  constructor(opts: SchedulerOptions) {
    this.store = opts.store;
    this.log = opts.logger;
    this.name = opts.schedulerName ?? DEFAULT_SCHEDULER_NAME;
    this.queue = new SchedulingQueue({ initialBackoffMs: opts.initialBackoffMs, maxBackoffMs: opts.maxBackoffMs });
    this.scheduleOptions = opts.scheduleOptions ?? {};
    this.events = opts.events ?? noEvents;
    this.metrics = opts.metrics?.scheduler;
  }

  /** Pods waiting to be scheduled (for status output). */
  get pending(): number {
    return this.queue.size;
  }

  /**
   * Runs until the signal aborts: lists and watches Nodes and Pods and schedules pending pods.
   * Store failures are logged and retried (re-listing); the promise resolves on abort.
   */
  async start(signal: AbortSignal): Promise<void> {
    const uncount = this.metrics?.countPending(() => this.queue.counts());
    const worker = this.work(signal);
    while (!signal.aborted) {
      try {
        await this.syncAndWatch(signal);
        // The watch ended without an error (store closing): pause before re-listing.
        await abortableSleep(1000, signal);
      } catch (err) {
        if (signal.aborted) break;
        this.log.warn({ err: errorMessage(err) }, 'scheduler watch ended; re-listing');
        await abortableSleep(isGantryError(err, 'Conflict') ? 0 : 1000, signal);
      }
    }
    await worker;
    await Promise.allSettled(this.binding);
    uncount?.();
  }

  private async syncAndWatch(signal: AbortSignal): Promise<void> {
    const nodes = await this.store.list<Node>('Node');
    const pods = await this.store.list<Pod>('Pod');
    const storage = await Promise.all(VOLUME_KINDS.map((k) => this.store.list<VolumeObject>(k)));
    const pdbs = await this.store.list<PodDisruptionBudget>('PodDisruptionBudget');
    this.budgets = new Map(pdbs.items.map((b) => [budgetKey(b), b]));
    const cache = new SchedulerCache();
    cache.volumes = new VolumeView();
    for (const listed of storage) for (const o of listed.items) cache.volumes.set(o);
    for (const n of nodes.items) cache.setNode(n);
    const pendingKeys = new Set<string>();
    for (const p of pods.items) {
      cache.upsertPod(p);
      if (awaitsScheduler(p, this.name) && isGated(p)) void this.markGated(p);
      if (isPendingFor(p, this.name)) {
        pendingKeys.add(podKey(p));
        this.queue.add(p, { activate: true });
      }
    }
    this.cache = cache;
    this.nominated.clear();
    for (const p of pods.items) this.nominated.track(p, isPendingFor(p, this.name));
    this.assumed.clear();
    this.reservations.clear();
    this.queue.moveAllToActive();
    this.log.debug({ nodes: nodes.items.length, pods: pods.items.length, pending: pendingKeys.size }, 'scheduler synced');
    const listed: Record<string, number> = { Node: nodes.revision, Pod: pods.revision, PodDisruptionBudget: pdbs.revision };
    VOLUME_KINDS.forEach((k, i) => (listed[k] = storage[i]!.revision));
    const from = Math.min(...Object.values(listed));
    for await (const ev of this.store.watch({ fromRevision: from, kinds: ['Node', 'Pod', 'PodDisruptionBudget', ...VOLUME_KINDS], signal })) {
      // Changes up to a kind's list revision are already in what was listed.
      if (ev.revision <= (listed[ev.object.kind] ?? 0)) continue;
      this.handle(ev);
    }
  }

  private handle(ev: WatchEvent): void {
    if (ev.object.kind === 'Node') this.handleNode(ev);
    else if (ev.object.kind === 'Pod') this.handlePod(ev);
    else if (ev.object.kind === 'PodDisruptionBudget') {
      const key = budgetKey(ev.object as PodDisruptionBudget);
      if (ev.type === 'DELETED') this.budgets.delete(key);
      else this.budgets.set(key, ev.object as PodDisruptionBudget);
    } else this.handleVolume(ev);
  }

  /** A claim, volume or class changed: pods waiting on volumes may fit now. */
  private handleVolume(ev: WatchEvent): void {
    this.reservations.observe(ev.type, ev.object as VolumeObject, ev.revision);
    this.queue.moveAllToActive();
  }

  private handleNode(ev: WatchEvent): void {
    const node = ev.object as Node;
    if (ev.type === 'DELETED') {
      this.cache.removeNode(node.metadata.name);
      return;
    }
    this.cache.setNode(node);
    if (ev.type === 'ADDED' || nodeChangeMatters(ev.prevObject as Node | undefined, node)) this.queue.moveAllToActive();
  }

  private handlePod(ev: WatchEvent): void {
    const pod = ev.object as Pod;
    const key = podKey(pod);
    if (ev.type === 'DELETED') {
      this.assumed.delete(key);
      this.nominated.delete(key);
      this.cache.removePod(key);
      this.queue.delete(key);
      this.queue.moveAllToActive();
      return;
    }
    const boundAt = this.assumed.get(key);
    if (!(boundAt !== undefined && ev.revision < boundAt)) this.nominated.track(pod, isPendingFor(pod, this.name));
    if (boundAt !== undefined && ev.revision < boundAt && !pod.spec.nodeName) {
      // An older version from before our bind: keep the assumption, it is newer.
    } else {
      if (boundAt !== undefined && ev.revision >= boundAt) this.assumed.delete(key);
      this.cache.upsertPod(pod);
    }
    const prev = ev.prevObject as Pod | undefined;
    const phase = pod.status?.phase;
    const wasTerminal = prev?.status?.phase === 'Succeeded' || prev?.status?.phase === 'Failed';
    if (!wasTerminal && (phase === 'Succeeded' || phase === 'Failed') && pod.spec.nodeName) this.queue.moveAllToActive();
    if (awaitsScheduler(pod, this.name) && isGated(pod)) void this.markGated(pod);
    if (isPendingFor(pod, this.name) && !(boundAt !== undefined && ev.revision < boundAt)) {
      const ungated = prev !== undefined && isGated(prev);
      const specChanged = prev !== undefined && prev.metadata.generation !== pod.metadata.generation;
      this.queue.add(pod, { activate: specChanged || ungated });
    } else if (!isPendingFor(pod, this.name)) {
      this.queue.delete(key);
    }
  }

  private async work(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const pod = await this.queue.pop(signal);
      if (!pod) break;
      // Timed only when measured: the attempt's own cost stays what it was without metrics.
      const started = this.metrics ? performance.now() : 0;
      try {
        await this.scheduleOne(pod, started);
      } catch (err) {
        this.attempted('error', started);
        this.log.warn({ pod: podKey(pod), err: errorMessage(err) }, 'scheduling attempt failed');
        this.queue.backoff(podKey(pod));
      }
    }
  }

  /** One attempt ended (`started`: performance.now() when the pod was popped). */
  private attempted(result: AttemptResult, started: number): void {
    if (this.metrics) this.metrics.attempt(result, (performance.now() - started) / 1000);
  }

  private async scheduleOne(pod: Pod, started: number): Promise<void> {
    const key = podKey(pod);
    if (!isPendingFor(pod, this.name)) {
      this.queue.delete(key);
      return;
    }
    const view = this.nominated.viewFor(pod, this.cache);
    const result = this.decide(pod, view);
    if (isUnschedulable(result)) {
      const preemption = findPreemption(pod, view, { budgets: [...this.budgets.values()] });
      if (preemption.candidate) {
        this.log.info({ pod: key, node: preemption.candidate.node, victims: preemption.candidate.victims.map(podKey) }, 'pod preempts lower-priority pods');
        this.events.emit(pod, 'Warning', 'FailedScheduling', result.message);
        await this.markUnschedulable(pod, result.message, preemption.candidate.node);
        await this.preempt(pod, preemption.candidate);
      } else {
        const message = `${result.message} ${preemption.message}`;
        this.log.info({ pod: key, reason: message }, 'pod is unschedulable');
        this.events.emit(pod, 'Warning', 'FailedScheduling', message);
        // A nomination that no longer holds is taken back, unless the victims are still going.
        await this.markUnschedulable(pod, message, preemption.wait ? undefined : null);
      }
      this.attempted('unschedulable', started);
      this.queue.backoff(key, { unschedulable: true });
      return;
    }
    const now = new Date().toISOString();
    const bound = withCondition(boundCopy(pod, result.node), { type: 'PodScheduled', status: 'True', lastTransitionTime: now, lastProbeTime: null });
    if (bound.status?.nominatedNodeName) {
      const { nominatedNodeName: _, ...rest } = bound.status;
      bound.status = rest;
    }
    this.nominated.delete(key);
    const volumes = volumeBindingPlan(podInfo(pod), this.cache.get(result.node)!, this.cache);
    // Assume first, so the next pod sees these resources taken before the watch catches up.
    this.cache.upsertPod(bound);
    this.assumed.set(key, Number.MAX_SAFE_INTEGER);
    const previous = this.reservations.reserve([...volumes.claims, ...volumes.volumes]);
    // As kube-scheduler's binding cycle: the bind is written in the background, so a store's
    // round trip (a few ms on etcd) does not stall the next pod's scheduling cycle, and binds in
    // flight share the store's group commits. The pod is assumed in the cache meanwhile, so the
    // next decisions already count its resources.
    const bind = this.bind(pod, bound, result.node, { score: result.score, volumes, previous, started }).finally(() => this.binding.delete(bind));
    this.binding.add(bind);
    if (this.binding.size >= MAX_BINDS_IN_FLIGHT) await Promise.race(this.binding);
  }

  /** The node for the pod: its nominated node when it fits there now, else the best one. */
  private decide(pod: Pod, view: SchedulerCache): ScheduleResult {
    const nominated = pod.status?.nominatedNodeName;
    const info = nominated ? view.get(nominated) : undefined;
    if (info?.node && failureOn(pod, view, info) === undefined) return { node: info.name, score: 0 };
    return schedulePod(pod, view, this.scheduleOptions);
  }

  /**
   * Deletes the victims (./evict.ts) and takes the nomination away from lower-priority pods
   * nominated to the same node, as kube-scheduler's preemption does.
   */
  private async preempt(pod: Pod, candidate: PreemptionCandidate): Promise<void> {
    const origin = { actor: SCHEDULER_ACTOR, reason: `preempted for ${podKey(pod)} on ${candidate.node}` };
    await evictVictims(pod, candidate, { store: this.store, events: this.events, log: this.log, origin, schedulerName: this.name });
    for (const other of this.nominated.lowerOn(candidate.node, pod)) {
      this.nominated.delete(podKey(other));
      await this.markUnschedulable(other, other.status?.conditions?.find((c) => c.type === 'PodScheduled')?.message ?? '', null).catch(() => undefined);
    }
  }

  /** Writes a bind decided by {@link scheduleOne}; on failure undoes the assumption. Never throws. */
  private async bind(pod: Pod, bound: Pod, node: string, opts: { score: number | undefined; volumes: VolumeBindingPlan; previous: VolumeObject[]; started: number }): Promise<void> {
    const key = podKey(pod);
    const { score, volumes } = opts;
    const reserved = [...volumes.claims, ...volumes.volumes];
    try {
      const origin = { actor: SCHEDULER_ACTOR, reason: `bound ${key} to ${node}` };
      // The pod's volume bindings (a volume reserved, a claim to provision on the node) land
      // with its bind or not at all.
      const written = reserved.length === 0
        ? await this.store.update(bound, { origin })
        : (await this.store.txn([...reserved.map((object) => ({ op: 'update' as const, object })), { op: 'update', object: bound }], { origin })).objects.at(-1) as Pod;
      this.reservations.confirm(reserved, Number(written.metadata.resourceVersion ?? 0));
      this.assumed.set(key, Number(written.metadata.resourceVersion ?? 0));
      if (this.metrics) {
        this.attempted('scheduled', opts.started);
        const waited = this.queue.waitedMs(key);
        if (waited !== undefined) this.metrics.scheduled(waited / 1000);
      }
      this.queue.delete(key);
      this.events.emit(pod, 'Normal', 'Scheduled', `Successfully assigned ${key} to ${node}`);
      this.log.debug({ pod: key, node, score }, 'pod bound');
    } catch (err) {
      this.attempted('error', opts.started);
      this.assumed.delete(key);
      this.cache.removePod(key);
      // At once, before any await: the pod may be scheduled again meanwhile, and must not find
      // its claim already marked for a node in the view when the store never marked it.
      this.reservations.release(reserved, opts.previous);
      try {
        if (isGantryError(err, 'Conflict')) {
          // Someone else changed the pod meanwhile: look again with its current version.
          const fresh = await this.store.get<Pod>(objectRef(pod));
          if (fresh) this.cache.upsertPod(fresh);
          if (fresh && isPendingFor(fresh, this.name)) {
            this.queue.add(fresh);
            this.queue.requeueNow(key);
          } else {
            this.queue.delete(key);
          }
          return;
        }
        if (isGantryError(err, 'NotFound')) {
          this.queue.delete(key);
          return;
        }
        this.log.warn({ pod: key, err: errorMessage(err) }, 'binding failed; retrying after a backoff');
      } catch (again) {
        this.log.warn({ pod: key, err: errorMessage(again) }, 'binding failed; retrying after a backoff');
      }
      this.queue.backoff(key);
    }
  }

  /** Writes PodScheduled=False/SchedulingGated once (what the API server sets on a gated pod's creation). */
  private async markGated(pod: Pod): Promise<void> {
    const cur = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
    if (cur?.reason === SCHEDULING_GATED.reason) return;
    const next = withCondition(pod, { type: 'PodScheduled', status: 'False', ...SCHEDULING_GATED, lastProbeTime: null, lastTransitionTime: new Date().toISOString() });
    if (!next.status?.phase) next.status = { ...next.status, phase: 'Pending' };
    try {
      await this.store.update(next, { origin: { actor: SCHEDULER_ACTOR, reason: `${podKey(pod)} waits for its scheduling gates` } });
    } catch (err) {
      // Changed meanwhile (a gate removed, say): its watch event brings the current version.
      if (!isGantryError(err, 'Conflict') && !isGantryError(err, 'NotFound')) this.log.warn({ pod: podKey(pod), err: errorMessage(err) }, 'marking a gated pod failed');
    }
  }

  /**
   * Writes PodScheduled=False/Unschedulable and the nomination (`nominated`: a node to set, null
   * to clear, undefined to leave as is), only when that says something new.
   */
  private async markUnschedulable(pod: Pod, message: string, nominated?: string | null): Promise<void> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const cur = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
      const nomination = nominated === undefined ? pod.status?.nominatedNodeName : nominated ?? undefined;
      if (cur && cur.status === 'False' && cur.reason === 'Unschedulable' && cur.message === message && nomination === pod.status?.nominatedNodeName) return;
      const now = new Date().toISOString();
      const next = withCondition(pod, {
        type: 'PodScheduled',
        status: 'False',
        reason: 'Unschedulable',
        message,
        lastProbeTime: null,
        lastTransitionTime: cur && cur.status === 'False' ? cur.lastTransitionTime ?? now : now,
      });
      const { nominatedNodeName: _, ...rest } = next.status ?? {};
      next.status = nomination ? { ...rest, nominatedNodeName: nomination } : rest;
      this.nominated.track(next, true);
      try {
        await this.store.update(next, { origin: { actor: SCHEDULER_ACTOR, reason: `${podKey(pod)} is unschedulable` } });
        return;
      } catch (err) {
        if (!isGantryError(err, 'Conflict')) throw err;
        const fresh = await this.store.get<Pod>(objectRef(pod));
        if (!fresh || !isPendingFor(fresh, this.name)) return;
        pod = fresh;
      }
    }
  }
}

function budgetKey(b: PodDisruptionBudget): string {
  return `${b.metadata.namespace ?? 'default'}/${b.metadata.name}`;
}
