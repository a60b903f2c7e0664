/**
 * The end of a pod on this node: graceful deletion (each container stopped within the grace
 * period counted from the deletionTimestamp, preStop hooks first, sidecars after the app
 * containers in reverse order, one step per sync, see termination.ts), then the removal of
 * everything the pod had here and of the Pod object; force deletion (SIGKILL now); the stop of
 * a pod's sidecars once its app containers finished; and the release of a finished pod's
 * containers and network while its status and logs stay.
 */
import { errorMessage } from '../../errors.js';
import type { Pod } from '../../model/types.js';
import { deleteContainer, stopTask } from '../containerd/run.js';
import { cgroupsPathFor, removeCgroup } from '../containerd/spec.js';
import type { Containers } from './containers.js';
import type { SyncContext } from './context.js';
import { ContainerLabels } from './labels.js';
import { allContainers, fieldPath, podObject, sidecars, type PodRuntime } from './runtime.js';
import type { Sandbox } from './sandbox.js';

/** Ends pods. */
export class Teardown {
  constructor(
    private readonly ctx: SyncContext,
    private readonly parts: { containers: Containers; sandbox: Sandbox },
  ) {}

  /**
   * Graceful deletion, one step: advances the stop of every container; once none runs, removes
   * the pod's parts and its object. @returns true when the pod is gone.
   */
  async terminate(pod: Pod): Promise<boolean> {
    const uid = pod.metadata.uid!;
    const graceS = pod.metadata.deletionGracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30;
    const deadline = Date.parse(pod.metadata.deletionTimestamp!) + graceS * 1000;
    const rt = this.ctx.runtimes.get(uid);
    if (rt) {
      // The pod comes back on an exit event, a hook's end, or at the deadline.
      const wait = await this.stopGracefully(pod, rt, deadline);
      if (wait > 0) {
        this.ctx.o.requeue(uid, wait);
        return false;
      }
    }
    await this.cleanup(uid);
    await this.ctx.o.api.finalizePod(pod);
    return true;
  }

  /**
   * Everything of a pod on this node goes at once: containers (killed, then deleted, found by
   * label so nothing is missed), network, volumes, logs, the pod cgroup, the pod dir. Graceful
   * stops happen before, in {@link terminate}.
   */
  async cleanup(uid: string): Promise<void> {
    const rt = this.ctx.runtimes.get(uid);
    if (rt) await this.killAll(rt);
    await this.ctx.o.teardownLimit(async () => {
      const o = this.ctx.o;
      await this.deletePodContainers(uid);
      await o.network.tearDown(uid);
      await o.volumes.cleanup(uid);
      await o.logs.cleanup(uid);
      await this.parts.sandbox.remove(uid);
      // runc removed each container's cgroup; the pod's parent is gantry's to remove.
      removeCgroup(cgroupsPathFor(uid));
      this.ctx.runtimes.delete(uid);
      o.images.forgetPod(uid);
      this.parts.containers.forgetPod(uid);
    });
  }

  /** A finished pod keeps its status and logs; its containers and network are released. */
  async release(pod: Pod, rt: PodRuntime): Promise<void> {
    if (rt.released) return;
    await this.killAll(rt);
    await this.ctx.o.teardownLimit(async () => {
      await this.deletePodContainers(rt.uid);
      if (!pod.spec.hostNetwork) await this.ctx.o.network.tearDown(rt.uid);
    });
    removeCgroup(cgroupsPathFor(rt.uid));
    rt.released = true;
  }

  /** SIGKILL to every running container of the pod, waiting for the exits (a kill is quick). */
  async killAll(rt: PodRuntime): Promise<void> {
    const running = allContainers(rt).filter((c) => c.phase === 'running' && c.id);
    await Promise.all(running.map((c) => {
      this.parts.containers.stopProbes(c.id!);
      return stopTask(this.ctx.o.client, c.id!, { gracePeriodMs: 0 }).catch((err) => this.ctx.o.logger.warn({ err: errorMessage(err), container: c.id }, 'stopping container failed'));
    }));
  }

  /** SIGKILL to every container of a pod right away (the pod was force-deleted). */
  async forceKill(uid: string): Promise<void> {
    const rt = this.ctx.runtimes.get(uid);
    if (!rt) return;
    for (const c of allContainers(rt)) {
      if (c.phase !== 'running' || !c.id) continue;
      await this.ctx.o.client.killTask(c.id, 9, { all: true }).catch(() => undefined);
    }
  }

  /** Deletes every containerd container labelled with the pod's uid (so none is missed), with its probes. */
  private async deletePodContainers(uid: string): Promise<void> {
    const found = await this.ctx.o.client.listContainerRecords([`labels."${ContainerLabels.podUid}"==${uid}`]);
    await Promise.all(found.map((r) => {
      this.parts.containers.stopProbes(r.id);
      this.ctx.containerIndex.delete(r.id);
      return deleteContainer(this.ctx.o.client, r.id);
    }));
  }

  /**
   * Once a pod's app containers finished for good: one step of stopping its sidecars, within the
   * pod's grace period from the moment that was seen. @returns 0 once none runs, else ms until
   * the next step is due.
   */
  async stopSidecars(pod: Pod, rt: PodRuntime): Promise<number> {
    rt.sidecarsDeadline ??= this.ctx.o.now() + (pod.spec.terminationGracePeriodSeconds ?? 30) * 1000;
    return this.stopGracefully(pod, rt, rt.sidecarsDeadline, { sidecarsOnly: true });
  }

  /**
   * Advances the graceful stop of the pod's running containers (in parallel: each gets the whole
   * grace period, its preStop hook included), a sidecar only once the app containers and the
   * sidecars after it are gone. @returns 0 once none runs, else ms until the next step is due.
   */
  private async stopGracefully(pod: Pod, rt: PodRuntime, deadline: number, opts: { sidecarsOnly?: boolean } = {}): Promise<number> {
    const all = allContainers(rt).filter((c) => !opts.sidecarsOnly || c.sidecar);
    const order = sidecars(rt);
    const waits = await Promise.all(all.map(async (c) => {
      if (c.phase !== 'running' || !c.id) return 0;
      if (!c.stopping) this.ctx.o.api.events.emit(podObject(rt), 'Normal', 'Killing', `Stopping container ${c.name}`, { fieldPath: fieldPath(c) });
      const later = c.sidecar ? order.slice(order.indexOf(c) + 1) : [];
      const waitTurn = !!c.sidecar && ([...rt.app.values()].some((a) => a.phase === 'running') || later.some((s) => s.phase === 'running'));
      return this.parts.containers.stopStep(pod, rt, c, { deadline, waitTurn });
    }));
    const pending = waits.filter((w) => w > 0);
    return pending.length ? Math.min(...pending) : 0;
  }
}
