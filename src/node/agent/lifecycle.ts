/**
 * A container's lifecycle hooks on this node, as the kubelet runs them (see hooks.ts for the
 * handlers): postStart right after the process starts, in the background, the container neither
 * started nor probed until it succeeds, and killed (event FailedPostStartHook) when it fails;
 * preStop as the first step of every graceful stop, within the grace period (event
 * FailedPreStopHook when it fails; the stop goes on either way).
 */
import { errorMessage } from '../../errors.js';
import type { Container } from '../../model/types.js';
import { podDir, type ContainerTarget, type SyncContext } from './context.js';
import { runHook, type HookTarget } from './hooks.js';
import { fieldPath, podObject, type ContainerRuntime, type PodRuntime } from './runtime.js';

/** Runs the hooks of the node's containers. */
export class LifecycleHooks {
  /** postStart hooks in flight, by container id: abandoned when the instance ends. */
  private readonly running = new Map<string, AbortController>();

  constructor(private readonly ctx: SyncContext) {}

  /**
   * Starts the postStart hook of a container instance that has just started, and calls `done`
   * with its outcome once it ends (not when the instance ended first).
   */
  startPostStart(t: ContainerTarget, done: (ok: boolean) => void): void {
    const handler = t.spec.lifecycle?.postStart;
    const id = t.c.id;
    if (!handler || !id) return;
    const ac = new AbortController();
    this.running.set(id, ac);
    void runHook(handler, this.target(t.rt, t.c, t.spec), { signal: ac.signal })
      .catch((err: unknown) => ({ ok: false, message: errorMessage(err) }))
      .then((r) => {
        if (this.running.get(id) !== ac) return;
        this.running.delete(id);
        if (ac.signal.aborted || t.c.id !== id) return;
        if (!r.ok) this.ctx.o.api.events.emit(t.pod, 'Warning', 'FailedPostStartHook', r.message ?? 'PostStartHook failed', { fieldPath: fieldPath(t.c) });
        done(r.ok);
      });
  }

  /** Abandons the postStart hook of an instance that ended. */
  cancel(containerId: string): void {
    this.running.get(containerId)?.abort();
    this.running.delete(containerId);
  }

  /**
   * The preStop hook of a container as a stop step runs it: bounded by the time left until
   * `deadline`; undefined when the container has none.
   */
  preStop(rt: PodRuntime, c: ContainerRuntime, spec: Container | undefined, deadline: number): (() => Promise<void>) | undefined {
    const handler = spec?.lifecycle?.preStop;
    if (!handler || !spec) return undefined;
    return async () => {
      const timeoutMs = Math.max(0, deadline - this.ctx.o.now());
      const r = await runHook(handler, this.target(rt, c, spec), { timeoutMs }).catch((err: unknown) => ({ ok: false, message: errorMessage(err) }));
      if (!r.ok) this.ctx.o.api.events.emit(podObject(rt), 'Warning', 'FailedPreStopHook', r.message ?? 'PreStopHook failed', { fieldPath: fieldPath(c) });
    };
  }

  private target(rt: PodRuntime, c: ContainerRuntime, spec: Container): HookTarget {
    const o = this.ctx.o;
    return {
      client: o.client,
      containerId: c.id!,
      container: spec,
      podName: `${rt.name}_${rt.namespace}(${rt.uid})`,
      podIP: rt.podIP ?? o.hostIP(),
      process: c.process,
      scratchDir: podDir(o, rt.uid),
    };
  }
}
