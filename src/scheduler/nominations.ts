/**
 * The pods preemption nominated to a node (`status.nominatedNodeName`) and not yet bound, as
 * kube-scheduler's nominator keeps them: a pod being scheduled sees every nominated pod of at
 * least its priority as if it already ran on its node (Kubernetes' addNominatedPods), so a
 * lower-priority pod cannot take the room a preemptor's victims leave.
 */
import type { Pod } from '../model/types.js';
import type { SchedulerCache } from './cache.js';
import { boundCopy, podKey } from './podinfo.js';
import { priorityOf } from './preemption.js';

/** Nominated pending pods, by `namespace/name`. */
export class Nominations {
  private readonly pods = new Map<string, Pod>();

  /** Records the pod's current version: nominated while `pending` and it names a node. */
  track(pod: Pod, pending: boolean): void {
    if (pending && pod.status?.nominatedNodeName) this.pods.set(podKey(pod), pod);
    else this.pods.delete(podKey(pod));
  }

  /** Forgets a pod (bound or gone). */
  delete(key: string): void {
    this.pods.delete(key);
  }

  clear(): void {
    this.pods.clear();
  }

  /**
   * The cluster as `pod` must see it: `cache` itself when no other pod of at least its priority
   * is nominated, else a copy with those pods assumed on their nodes.
   */
  viewFor(pod: Pod, cache: SchedulerCache): SchedulerCache {
    const key = podKey(pod);
    const prio = priorityOf(pod);
    const ahead = [...this.pods.values()].filter((n) => podKey(n) !== key && priorityOf(n) >= prio && cache.get(n.status!.nominatedNodeName!)?.node);
    if (ahead.length === 0) return cache;
    const view = cache.clone();
    for (const n of ahead) view.upsertPod(boundCopy(n, n.status!.nominatedNodeName!));
    return view;
  }

  /** Pods nominated to `node` with a lower priority than `pod`: preempting there takes their nomination away. */
  lowerOn(node: string, pod: Pod): Pod[] {
    const prio = priorityOf(pod);
    const key = podKey(pod);
    return [...this.pods.values()].filter((n) => podKey(n) !== key && n.status?.nominatedNodeName === node && priorityOf(n) < prio);
  }
}
