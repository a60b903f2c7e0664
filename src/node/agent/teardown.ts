/**
 * The end of a pod on this node: graceful deletion (each container stopped within the grace
 * period counted from the deletionTimestamp, one step per sync, see termination.ts), then the
 * removal of everything the pod had here and of the Pod object; force deletion (SIGKILL now);
 * and the release of a finished pod's containers and network while its status and logs stay.
 */
import { errorMessage } from '../../errors.js';
import type { Pod } from '../../model/types.js';
import { deleteContainer, stopTask } from '../containerd/run.js';
import { cgroupsPathFor, removeCgroup } from '../containerd/spec.js';
import type { Containers } from './containers.js';
import type { SyncContext } from './context.js';
import { ContainerLabels } from './labels.js';
import { allContainers, fieldPath, podObject, type PodRuntime } from './runtime.js';
import type { Sandbox } from './sandbox.js';
import { advanceStop, requestStop } from './termination.js';

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
      // The pod comes back on an exit event or at the deadline.
      const wait = await this.stopGracefully(rt, deadline);
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
   * Advances the graceful stop of every running container of the pod (in parallel: each gets the
   * whole grace period). @returns 0 once none runs, else ms until the next step is due.
   */
  private async stopGracefully(rt: PodRuntime, deadline: number): Promise<number> {
    const waits = await Promise.all(allContainers(rt).map(async (c) => {
      if (c.phase !== 'running' || !c.id) return 0;
      this.parts.containers.stopProbes(c.id);
      if (!c.stopping) this.ctx.o.api.events.emit(podObject(rt), 'Normal', 'Killing', `Stopping container ${c.name}`, { fieldPath: fieldPath(c) });
      requestStop(c, deadline);
      const wait = await advanceStop(this.ctx.o.client, c, { now: this.ctx.o.now(), cgroupsPath: cgroupsPathFor(rt.uid, c.name) });
      if (wait === 0) await this.parts.containers.refresh(c);
      return wait;
    }));
    const pending = waits.filter((w) => w > 0);
    return pending.length ? Math.min(...pending) : 0;
  }
}
