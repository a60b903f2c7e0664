/**
 * One pod's reconcile, level-triggered: from the pod as the node API shows it and what containerd
 * runs, bring the pod's sandbox, volumes and containers to what the spec asks, then report one
 * status. The work is done by parts with one job each (sandbox.ts, containers.ts, teardown.ts,
 * adoption.ts); this syncer composes them and keeps the agent's state to itself: the
 * {@link NodeAgent} tells it which pods are bound here and asks for one pod's sync at a time.
 */
import { deepEqual } from '../../model/json.js';
import { podReferences, referencedNames, type ReferenceKind } from '../../model/pod-refs.js';
import { k8sTime } from '../../model/time.js';
import type { Pod } from '../../model/types.js';
import { adopt, restoreFromStatus } from './adoption.js';
import { Containers } from './containers.js';
import type { PodSyncerOptions, SyncContext } from './context.js';
import { computePodStatus } from './pod-status.js';
import { allContainers, sidecars, type PodRuntime } from './runtime.js';
import { Sandbox } from './sandbox.js';
import { milestonesOf, observeStart } from './start-latency.js';
import { Teardown } from './teardown.js';
import type { RunningContainer } from './usage.js';

export type { PodSyncerOptions } from './context.js';

/** Reconciles the pods of one node. */
export class PodSyncer {
  /** Pods bound to this node, by uid, as last seen. */
  private readonly pods = new Map<string, Pod>();
  private readonly ctx: SyncContext;
  private readonly sandbox: Sandbox;
  private readonly containers: Containers;
  private readonly teardown: Teardown;

  constructor(private readonly o: PodSyncerOptions) {
    this.ctx = { o, runtimes: new Map(), containerIndex: new Map() };
    this.sandbox = new Sandbox(o);
    this.containers = new Containers(this.ctx, this.sandbox);
    this.teardown = new Teardown(this.ctx, { containers: this.containers, sandbox: this.sandbox });
  }

  // ---- what is bound here --------------------------------------------------------------

  /** Records the pod as bound here, as now seen. */
  track(pod: Pod): void {
    this.pods.set(pod.metadata.uid!, pod);
  }

  /** The pod is no longer bound here (deleted, or moved): its next sync removes what it had. */
  untrack(uid: string): void {
    this.pods.delete(uid);
  }

  /** The pod bound here with this uid, as last seen. */
  pod(uid: string): Pod | undefined {
    return this.pods.get(uid);
  }

  /** The pod bound here with this namespace and name, as last seen. */
  podNamed(namespace: string, name: string): Pod | undefined {
    for (const pod of this.pods.values()) {
      if (pod.metadata.name === name && (pod.metadata.namespace ?? 'default') === namespace) return pod;
    }
    return undefined;
  }

  /** True while the agent has anything of this pod: bound, or still running things here. */
  knows(uid: string): boolean {
    return this.pods.has(uid) || this.ctx.runtimes.has(uid);
  }

  /** Every pod uid the agent has anything of (for a resync). */
  uids(): string[] {
    return [...new Set([...this.pods.keys(), ...this.ctx.runtimes.keys()])];
  }

  /** Pods with something running here (after containerd restarts, each is synced again). */
  runningUids(): string[] {
    return [...this.ctx.runtimes.keys()];
  }

  /** The containers running now, with their pods (what a usage report covers). */
  runningContainers(): RunningContainer[] {
    const out: RunningContainer[] = [];
    for (const rt of this.ctx.runtimes.values()) {
      for (const c of allContainers(rt)) {
        if (c.phase !== 'running' || !c.id) continue;
        out.push({ id: c.id, podUid: rt.uid, namespace: rt.namespace, podName: rt.name, container: c.name, ...(c.startedAt ? { startedAt: c.startedAt } : {}) });
      }
    }
    return out;
  }

  /** The pod that a containerd container id belongs to (task events). */
  podOfContainer(containerId: string): string | undefined {
    return this.ctx.containerIndex.get(containerId);
  }

  /** Uids of the bound pods that refer to this ConfigMap, Secret or claim. */
  usersOf(ref: { kind: ReferenceKind; namespace: string; name: string }): string[] {
    const out: string[] = [];
    for (const [uid, pod] of this.pods) {
      if ((pod.metadata.namespace ?? 'default') !== ref.namespace) continue;
      if (referencedNames(podReferences(pod), ref.kind).has(ref.name)) out.push(uid);
    }
    return out;
  }

  /** Test and bench access: what the agent tracks for a pod (read it, do not change it). */
  runtime(uid: string): Readonly<PodRuntime> | undefined {
    return this.ctx.runtimes.get(uid);
  }

  // ---- the reconcile -------------------------------------------------------------------

  /** Reconciles pod `uid`. Throws on failures worth a rate-limited retry. */
  async sync(uid: string): Promise<void> {
    const pod = this.pods.get(uid);
    if (!pod) {
      // Deleted (force) or no longer bound here: stop at once and clean up.
      await this.teardown.cleanup(uid);
      return;
    }
    if (pod.metadata.deletionTimestamp) {
      if (await this.teardown.terminate(pod)) this.pods.delete(uid);
      return;
    }
    const rt = this.runtimeFor(pod);
    if (rt.terminal) {
      await this.teardown.release(pod, rt);
      await this.writeStatus(pod, rt);
      return;
    }
    const deadline = this.activeDeadline(pod, rt);
    if (deadline !== undefined && deadline <= 0) {
      await this.teardown.killAll(rt);
      for (const c of allContainers(rt)) await this.containers.refresh(c);
      rt.terminal = 'Failed';
      rt.reason = 'DeadlineExceeded';
      rt.message = 'Pod was active on the node longer than the specified deadline';
      await this.teardown.release(pod, rt);
      await this.writeStatus(pod, rt);
      return;
    }
    if (deadline !== undefined) this.o.requeue(uid, deadline);

    if (await this.sandbox.ensure(pod, rt)) {
      if (rt.sidecarsDeadline !== undefined || (sidecars(rt).length > 0 && (await this.containers.appsFinished(pod, rt)))) {
        // The app containers are done for good: the sidecars go (never restarted), then the pod.
        const wait = await this.teardown.stopSidecars(pod, rt);
        if (wait > 0) this.o.requeue(uid, wait);
      } else {
        const initDone = await this.containers.syncInit(pod, rt);
        if (initDone && !rt.terminal) await this.containers.syncApp(pod, rt);
      }
    }
    // A sync that ended early (an image pull back-off, say) still reports the pod IP.
    await this.sandbox.waitNetwork(rt);
    const phase = computePodStatus(pod, rt, { hostIP: this.o.hostIP(), now: k8sTime(this.o.now()) }).phase;
    if (phase === 'Succeeded' || phase === 'Failed') {
      rt.terminal = phase;
      await this.teardown.release(pod, rt);
    }
    await this.writeStatus(pod, rt);
  }

  /** After an agent restart, before the first sync: takes over what containerd runs (see adoption.ts). */
  adopt(): Promise<{ adopted: number; removed: number; orphanPods: number }> {
    return adopt(this.ctx, { pods: this.pods, runtimeFor: (pod) => this.runtimeFor(pod), containers: this.containers });
  }

  /** SIGKILL to every container of a pod right away (it was force-deleted). */
  forceKill(uid: string): Promise<void> {
    return this.teardown.forceKill(uid);
  }

  /** Stops the probes of every pod (agent shutdown: containers keep running). */
  stopAllProbes(): void {
    this.containers.stopAllProbes();
  }

  /** The OOM event of a container: its exit is reported as OOMKilled. */
  markOom(containerId: string): void {
    const uid = this.ctx.containerIndex.get(containerId);
    const rt = uid ? this.ctx.runtimes.get(uid) : undefined;
    if (!rt) return;
    for (const c of allContainers(rt)) if (c.id === containerId) c.oomKilled = true;
  }

  /** ms until `activeDeadlineSeconds` runs out (≤ 0: exceeded), or undefined without one. */
  private activeDeadline(pod: Pod, rt: PodRuntime): number | undefined {
    const s = pod.spec.activeDeadlineSeconds;
    if (s === undefined || !rt.startTime) return undefined;
    return Date.parse(rt.startTime) + s * 1000 - this.o.now();
  }

  /** The pod's runtime entry, created on first sight (its start time is then). */
  private runtimeFor(pod: Pod): PodRuntime {
    const uid = pod.metadata.uid!;
    let rt = this.ctx.runtimes.get(uid);
    if (!rt) {
      rt = {
        uid,
        namespace: pod.metadata.namespace ?? 'default',
        name: pod.metadata.name,
        init: new Map(),
        app: new Map(),
        conditions: [],
        startTime: pod.status?.startTime ?? k8sTime(this.o.now()),
        // What the stored status already shows was reached before this agent saw the pod.
        startSeen: milestonesOf(pod.status),
      };
      const phase = pod.status?.phase;
      if (phase === 'Succeeded' || phase === 'Failed') {
        // Finished before the agent (re)started: never run it again.
        rt.terminal = phase;
        rt.reason = pod.status?.reason;
        rt.message = pod.status?.message;
        rt.podIP = pod.status?.podIP;
        restoreFromStatus(pod, rt, this.o.now());
      }
      this.ctx.runtimes.set(uid, rt);
    }
    return rt;
  }

  /** Writes the pod's status when it differs from the stored one (one write per sync). */
  private async writeStatus(pod: Pod, rt: PodRuntime): Promise<void> {
    const saved = await this.o.api.writePodStatus(pod, (current) => {
      const status = computePodStatus(current, rt, { hostIP: this.o.hostIP(), now: k8sTime(this.o.now()) });
      if (rt.reason) status.reason = rt.reason;
      return deepEqual(status, current.status ?? {}) ? undefined : status;
    });
    const known = this.pods.get(rt.uid);
    // A watch event may have brought a newer pod while this sync ran (new labels, a deletion):
    // the pod as read at the sync's start must not replace it.
    if (saved && known && !known.metadata.deletionTimestamp && !olderThan(saved, known)) this.pods.set(rt.uid, saved);
    if (saved && this.o.metrics && rt.startSeen) observeStart(this.o.metrics, saved, { seen: rt.startSeen, nowMs: this.o.now() });
  }
}

/** True when `a` is an older version of the object than `b` (by resourceVersion, when both are numbers). */
function olderThan(a: Pod, b: Pod): boolean {
  const x = Number(a.metadata.resourceVersion);
  const y = Number(b.metadata.resourceVersion);
  return Number.isFinite(x) && Number.isFinite(y) && x < y;
}
