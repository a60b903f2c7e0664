/**
 * The node lifecycle controller, after Kubernetes' node lifecycle controller and pod GC:
 *
 * 1. Heartbeats. Node agents post `status.conditions[type=Ready]` with `lastHeartbeatTime`
 *    (see {@link NODE_HEARTBEAT_CONTRACT}). The controller does not compare that time with its
 *    own clock (machines drift); it records when it last *saw the value change*, as Kubernetes
 *    records a probe timestamp. A node first seen (or seen after a controller restart) gets a
 *    full grace period.
 * 2. After `nodeMonitorGracePeriod` (default 50 s) without a change, Ready (and every other
 *    condition the node reports) becomes Unknown, reason `NodeStatusUnknown`, message
 *    "Kubelet stopped posting node status." (`NodeStatusNeverUpdated` when the node never posted
 *    a Ready condition), keeping lastHeartbeatTime.
 * 3. Taints follow Ready: Unknown → `node.kubernetes.io/unreachable`, False →
 *    `node.kubernetes.io/not-ready`, each with effects NoSchedule and NoExecute (timeAdded on
 *    the NoExecute one); True → both removed. Pods on a node that is not Ready lose their Ready
 *    condition (Kubernetes' MarkPodsNotReady), so Endpoints stop sending them traffic.
 * 4. Eviction (Kubernetes' taint manager with the DefaultTolerationSeconds admission defaults):
 *    a pod on a node with one of those NoExecute taints is deleted `podEvictionTimeout` (default
 *    300 s) after the taint's timeAdded, unless it tolerates the taint: with `tolerationSeconds`
 *    it goes after that many seconds, without them (DaemonSet pods) never. Pods on an
 *    unreachable node are force-deleted from the store (the agent is not there to finish a
 *    graceful deletion; its controller replaces the pod elsewhere); pods on a node that reports
 *    NotReady are deleted gracefully ({@link deletePod}).
 * 5. Pods bound to a node that was deleted are force-deleted after a 40 s quarantine (pod GC).
 */
import { isGantryError } from '../errors.js';
import { objectKey, objectRef, parseKey } from '../model/keys.js';
import type { Condition, Node, Pod, Taint, Toleration } from '../model/types.js';
import type { CacheEvent, CacheReader } from './cache.js';
import { copy, updateIfChanged } from './objects.js';
import { deletePod } from './pods.js';
import type { Controller, ReconcileContext, Result, Watch } from './runtime.js';
import { k8sTime } from '../model/time.js';

/**
 * What node agents must write for this controller (the contract with `src/node`):
 *
 * - a `Ready` condition in `status.conditions` with `status` True/False, and
 *   `lastHeartbeatTime` (RFC 3339) set to a new value on every heartbeat (every 10 s), even
 *   when nothing else changed; `lastTransitionTime` only when the status flips;
 * - read-modify-write of the Node with its resourceVersion, keeping `spec.taints` it did not
 *   set (this controller adds and removes `node.kubernetes.io/unreachable` and `not-ready`);
 * - a returning agent simply posts Ready=True with a fresh heartbeat: the controller then drops
 *   its taints. Pods force-deleted while it was away are gone from the store: the agent must
 *   stop and remove containers of pods it runs that no longer exist.
 */
export const NODE_HEARTBEAT_CONTRACT = 'status.conditions[type=Ready].lastHeartbeatTime';

/** Taint on nodes whose agent stopped posting status. */
export const TAINT_UNREACHABLE = 'node.kubernetes.io/unreachable';
/** Taint on nodes that report Ready=False. */
export const TAINT_NOT_READY = 'node.kubernetes.io/not-ready';
/** How long a node must be missing before its pods are force-deleted (Kubernetes' pod GC: 40 s). */
export const NODE_GONE_QUARANTINE_MS = 40_000;
/** Kubernetes' defaults. */
export const NODE_LIFECYCLE_DEFAULTS = { nodeMonitorGracePeriodMs: 50_000, podEvictionTimeoutMs: 300_000 } as const;

/** Reasons this controller writes. */
export const NodeLifecycleReasons = ['NodeStatusUnknown', 'NodeStatusNeverUpdated', 'NodeNotReady'] as const;
/** One of {@link NodeLifecycleReasons}. */
export type NodeLifecycleReason = (typeof NodeLifecycleReasons)[number];

/** A node condition: Kubernetes' NodeCondition carries a heartbeat time. */
export type NodeCondition = Condition & { lastHeartbeatTime?: string };

/** Options for {@link NodeLifecycleController}. */
export interface NodeLifecycleOptions {
  /** Time without a heartbeat before a node's Ready becomes Unknown (default 50 s). */
  nodeMonitorGracePeriodMs?: number;
  /** Time a pod stays on a NotReady/unreachable node before it is deleted (default 300 s). */
  podEvictionTimeoutMs?: number;
}

interface Health {
  heartbeat: string | undefined;
  observedAt: number;
}

/** Watches node heartbeats, taints silent nodes and evicts their pods. */
export class NodeLifecycleController implements Controller {
  readonly name = 'node-lifecycle';
  readonly kinds = ['Node'] as const;
  readonly watches: readonly Watch[] = [{ kind: 'Pod', keys: podToNode }];
  private readonly grace: number;
  private readonly eviction: number;
  private health = new Map<string, Health>();
  private missingSince = new Map<string, number>();
  /** node name → keys of pods bound to it. */
  private podsByNode = new Map<string, Set<string>>();

  constructor(opts: NodeLifecycleOptions = {}) {
    this.grace = opts.nodeMonitorGracePeriodMs ?? NODE_LIFECYCLE_DEFAULTS.nodeMonitorGracePeriodMs;
    this.eviction = opts.podEvictionTimeoutMs ?? NODE_LIFECYCLE_DEFAULTS.podEvictionTimeoutMs;
  }

  observe(ev: CacheEvent): void {
    if (ev.object.kind !== 'Pod') return;
    const key = objectKey(ev.object);
    const before = (ev.prevObject as Pod | undefined)?.spec?.nodeName;
    const after = ev.type === 'DELETED' ? undefined : (ev.object as Pod).spec?.nodeName;
    if (before && before !== after) {
      const set = this.podsByNode.get(before);
      set?.delete(key);
      // Nodes come and go (autoscaled, renamed): keep no empty set per name ever seen.
      if (set?.size === 0) this.podsByNode.delete(before);
    }
    if (after) {
      let set = this.podsByNode.get(after);
      if (!set) this.podsByNode.set(after, (set = new Set()));
      set.add(key);
    }
  }

  async reconcile(key: string, ctx: ReconcileContext): Promise<Result | void> {
    const name = parseKey(key).name;
    const node = ctx.cache.get<Node>({ kind: 'Node', name });
    const now = ctx.now();
    if (!node) return this.nodeGone(name, ctx, now);
    this.missingSince.delete(name);
    const ready = readyCondition(node);
    const h = this.health.get(name);
    if (!h || h.heartbeat !== ready?.lastHeartbeatTime) this.health.set(name, { heartbeat: ready?.lastHeartbeatTime, observedAt: now });
    const observedAt = this.health.get(name)!.observedAt;

    const next = copy(node);
    const silentFor = now - observedAt;
    let requeue: number | undefined;
    if (silentFor >= this.grace) markUnknown(next, !ready, now);
    else requeue = this.grace - silentFor + 1;
    const readyStatus = readyCondition(next)?.status ?? 'Unknown';
    setTaints(next, readyStatus, now);
    const stored = await updateIfChanged(ctx.store, node, next, { origin: { ...ctx.origin, reason: `node ${name} Ready=${readyStatus}` } });

    if (readyStatus !== 'True') {
      const wait = await this.handlePods(stored, readyStatus, ctx, now);
      if (wait !== undefined) requeue = requeue === undefined ? wait : Math.min(requeue, wait);
    }
    return requeue !== undefined ? { requeueAfter: requeue } : undefined;
  }

  /** Marks pods not ready and evicts the due ones; returns ms until the next eviction. */
  private async handlePods(node: Node, readyStatus: string, ctx: ReconcileContext, now: number): Promise<number | undefined> {
    const taint = node.spec.taints?.find((t) => t.effect === 'NoExecute' && (t.key === TAINT_UNREACHABLE || t.key === TAINT_NOT_READY));
    const since = taint?.timeAdded ? Date.parse(taint.timeAdded) : now;
    let next: number | undefined;
    for (const pod of this.podsOn(node.metadata.name, ctx.cache)) {
      const evictAt = taint ? evictionTime(pod, taint, since, this.eviction) : undefined;
      if (evictAt !== undefined && evictAt <= now) {
        const why = `node ${node.metadata.name} is ${readyStatus === 'Unknown' ? 'unreachable' : 'not ready'}: evicting pod`;
        if (readyStatus === 'Unknown' || pod.metadata.deletionTimestamp) await forceDelete(pod, ctx, why);
        else await deletePod(ctx.store, pod, { origin: { ...ctx.origin, reason: why }, now: ctx.now });
        continue;
      }
      if (evictAt !== undefined) next = next === undefined ? evictAt - now : Math.min(next, evictAt - now);
      await markPodNotReady(pod, ctx, now);
    }
    return next !== undefined ? next + 1 : undefined;
  }

  /**
   * Pods bound to a node that does not exist are force-deleted once the node has been missing
   * for {@link NODE_GONE_QUARANTINE_MS} (as Kubernetes' pod GC quarantines), confirmed by a live
   * read: an agent registering late, or a cache behind the store, must not cost pods.
   */
  private async nodeGone(name: string, ctx: ReconcileContext, now: number): Promise<Result | void> {
    this.health.delete(name);
    if (this.podsOn(name, ctx.cache).length === 0) {
      this.missingSince.delete(name);
      return;
    }
    const since = this.missingSince.get(name) ?? now;
    this.missingSince.set(name, since);
    if (now - since < NODE_GONE_QUARANTINE_MS) return { requeueAfter: since + NODE_GONE_QUARANTINE_MS - now + 1 };
    if (await ctx.store.get({ kind: 'Node', name })) return;
    this.missingSince.delete(name);
    await this.forceDeleteAll(name, ctx, `node ${name} no longer exists`);
  }

  private podsOn(nodeName: string, cache: CacheReader): Pod[] {
    const out: Pod[] = [];
    for (const key of this.podsByNode.get(nodeName) ?? []) {
      const pod = cache.get<Pod>(parseKey(key));
      if (pod && pod.spec.nodeName === nodeName) out.push(pod);
    }
    return out;
  }

  private async forceDeleteAll(nodeName: string, ctx: ReconcileContext, why: string): Promise<void> {
    for (const pod of this.podsOn(nodeName, ctx.cache)) await forceDelete(pod, ctx, why);
  }
}

/** A pod wakes its node's key while that node is tainted (a pod bound there needs an eviction time). */
function podToNode(ev: CacheEvent, cache: CacheReader): Iterable<string> {
  const nodeName = (ev.object as Pod).spec?.nodeName;
  if (!nodeName || ev.type === 'DELETED') return [];
  const node = cache.get<Node>({ kind: 'Node', name: nodeName });
  // Pods on unknown nodes are looked at when a Node is deleted, not on every pod change.
  if (!node || !node.spec.taints?.some((t) => t.key === TAINT_UNREACHABLE || t.key === TAINT_NOT_READY)) return [];
  return [`Node/${nodeName}`];
}

function readyCondition(node: Node): NodeCondition | undefined {
  return node.status?.conditions?.find((c) => c.type === 'Ready') as NodeCondition | undefined;
}

/** Ready and every other reported condition become Unknown (once; later passes change nothing). */
function markUnknown(node: Node, neverPosted: boolean, now: number): void {
  const t = k8sTime(now);
  const status = (node.status = node.status ?? {});
  const conds = (status.conditions = status.conditions ?? []) as NodeCondition[];
  if (!conds.some((c) => c.type === 'Ready')) conds.push({ type: 'Ready', status: 'Unknown' });
  for (const c of conds) {
    if (c.status === 'Unknown' && c.reason && (NodeLifecycleReasons as readonly string[]).includes(c.reason)) continue;
    if (c.status !== 'Unknown') c.lastTransitionTime = t;
    c.status = 'Unknown';
    c.reason = neverPosted ? 'NodeStatusNeverUpdated' : 'NodeStatusUnknown';
    c.message = neverPosted ? 'Kubelet never posted node status.' : 'Kubelet stopped posting node status.';
  }
}

/** The unreachable / not-ready taints a node with this Ready status carries. */
function setTaints(node: Node, readyStatus: string, now: number): void {
  const want = readyStatus === 'Unknown' ? TAINT_UNREACHABLE : readyStatus === 'False' ? TAINT_NOT_READY : undefined;
  const others = (node.spec.taints ?? []).filter((t) => t.key !== TAINT_UNREACHABLE && t.key !== TAINT_NOT_READY);
  const ours: Taint[] = [];
  if (want) {
    for (const effect of ['NoSchedule', 'NoExecute'] as const) {
      const cur = node.spec.taints?.find((t) => t.key === want && t.effect === effect);
      ours.push(cur ? { ...cur } : { key: want, effect, ...(effect === 'NoExecute' ? { timeAdded: k8sTime(now) } : {}) });
    }
  }
  const taints = [...others, ...ours];
  if (taints.length > 0) node.spec.taints = taints;
  else delete node.spec.taints;
}

/**
 * When a pod on a node with this NoExecute taint (added at `since`) is evicted: never when a
 * matching toleration has no tolerationSeconds; after the smallest tolerationSeconds of matching
 * tolerations; after `defaultMs` when none matches (the toleration Kubernetes' admission adds).
 */
export function evictionTime(pod: Pod, taint: Taint, since: number, defaultMs: number): number | undefined {
  const matching = (pod.spec.tolerations ?? []).filter((t) => tolerates(t, taint));
  if (matching.length === 0) return since + defaultMs;
  if (matching.some((t) => t.tolerationSeconds === undefined)) return undefined;
  const secs = Math.min(...matching.map((t) => Math.max(0, t.tolerationSeconds!)));
  return since + secs * 1000;
}

function tolerates(t: Toleration, taint: Taint): boolean {
  if (t.effect && t.effect !== taint.effect) return false;
  if (t.key && t.key !== taint.key) return false;
  if (!t.key && t.operator !== 'Exists') return false;
  if (t.operator === 'Exists') return true;
  return (t.value ?? '') === (taint.value ?? '');
}

async function markPodNotReady(pod: Pod, ctx: ReconcileContext, now: number): Promise<void> {
  const ready = pod.status?.conditions?.find((c) => c.type === 'Ready');
  if (ready?.status !== 'True') return;
  const next = copy(pod);
  const t = k8sTime(now);
  next.status!.conditions = next.status!.conditions!.map((c) => (c.type === 'Ready' ? { ...c, status: 'False', reason: 'NodeNotReady', lastTransitionTime: t } : c));
  try {
    await updateIfChanged(ctx.store, pod, next, { origin: { ...ctx.origin, reason: `node ${pod.spec.nodeName} is not ready` } });
  } catch (err) {
    // A newer pod version (or its deletion) comes through the watch; the next pass retries.
    if (!isGantryError(err, 'Conflict') && !isGantryError(err, 'NotFound')) throw err;
  }
}

async function forceDelete(pod: Pod, ctx: ReconcileContext, why: string): Promise<void> {
  try {
    await ctx.store.delete(objectRef(pod), { origin: { ...ctx.origin, reason: why }, resourceVersion: pod.metadata.resourceVersion });
  } catch (err) {
    if (!isGantryError(err, 'NotFound')) throw err;
  }
}

