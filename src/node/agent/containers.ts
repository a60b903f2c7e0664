/**
 * A pod's containers: init containers in order (a sidecar, `restartPolicy: Always`, is started
 * and must have started before the next one runs, and is kept running), then app containers;
 * starting an instance (image, OCI spec, create, start, postStart hook), reading exits, restarts
 * per restartPolicy with the kubelet's CrashLoopBackOff, probes, and kills a probe or a failed
 * postStart hook asks for, and graceful stop steps (preStop hook first; see termination.ts).
 */
import type { ContainerStateTerminated, Pod } from '../../model/types.js';
import { k8sTime } from '../../model/time.js';
import { cgroupsPathFor } from '../containerd/spec.js';
import { Backoff } from './backoff.js';
import { goDuration } from '../../model/time.js';
import type { BuiltContainer } from './container-spec.js';
import type { ContainerTarget, SyncContext } from './context.js';
import { createInstance } from './instance.js';
import { LifecycleHooks } from './lifecycle.js';
import { containerIdUri, regularPhase } from './pod-status.js';
import { ProbeSet } from './probe-set.js';
import { containerEntry, fieldPath, specOf, type ContainerRuntime, type PodRuntime } from './runtime.js';
import type { Sandbox } from './sandbox.js';
import { advanceStop, requestStop } from './termination.js';

/** How a container instance ended, for {@link Containers.recordExit}. */
export interface ExitInfo {
  exitCode: number;
  reason?: string;
  message?: string;
  /** When (epoch ms). */
  at: number;
}

/** Runs the containers of the node's pods. */
export class Containers {
  private readonly probes: ProbeSet;
  private readonly crashBackoff: Backoff;
  private readonly hooks: LifecycleHooks;

  constructor(private readonly ctx: SyncContext, private readonly sandbox: Sandbox) {
    this.crashBackoff = new Backoff(ctx.o.backoffBaseMs, ctx.o.backoffMaxMs);
    this.hooks = new LifecycleHooks(ctx);
    this.probes = new ProbeSet(ctx);
  }

  /**
   * Init containers in order: each run to completion, or (a sidecar) started and kept running.
   * @returns true once all completed and every sidecar started (and, for good, from then on).
   */
  async syncInit(pod: Pod, rt: PodRuntime): Promise<boolean> {
    const policy = pod.spec.restartPolicy ?? 'Always';
    for (const spec of pod.spec.initContainers ?? []) {
      const t = { pod, rt, c: containerEntry(rt, 'init', spec), spec };
      const c = t.c;
      await this.refresh(c);
      if (c.sidecar) {
        // A sidecar restarts whatever the pod's restartPolicy, as Kubernetes' restartable init containers do.
        await this.keepRunning(t, () => true);
        if (!rt.initialized && !(c.phase === 'running' && c.started)) return false;
        continue;
      }
      if (c.phase === 'exited' && c.terminated?.exitCode === 0) continue;
      // Completed before (its instance may be gone since): init containers never run again.
      if (rt.initialized) continue;
      if (c.phase === 'running') return false;
      if (c.phase === 'exited') {
        if (policy === 'Never') {
          rt.terminal = 'Failed';
          return false;
        }
        await this.restartWithBackoff(t);
        return false;
      }
      await this.startInstance(t, c.restartCount);
      return false;
    }
    rt.initialized = true;
    return true;
  }

  /**
   * App containers: start, restart per restartPolicy with back-off, kills a probe or a failed
   * postStart hook asks for. Started in order: while one's postStart hook runs, the ones after it
   * wait (the kubelet starts them one by one, each hook included).
   */
  async syncApp(pod: Pod, rt: PodRuntime): Promise<void> {
    const policy = pod.spec.restartPolicy ?? 'Always';
    const restart = (c: ContainerRuntime): boolean => policy === 'Always' || (policy === 'OnFailure' && c.terminated?.exitCode !== 0);
    let blocked = false;
    for (const spec of pod.spec.containers) {
      const t = { pod, rt, c: containerEntry(rt, 'app', spec), spec };
      await this.refresh(t.c);
      if (blocked && t.c.phase !== 'running') continue;
      await this.keepRunning(t, restart);
      if (t.c.postStartRunning) blocked = true;
    }
  }

  /**
   * True when the pod's app containers are done for good (its phase, sidecars aside, is
   * Succeeded or Failed): its sidecars are then stopped, as Kubernetes does once a Job's main
   * containers finish. Reads the app containers' tasks first.
   */
  async appsFinished(pod: Pod, rt: PodRuntime): Promise<boolean> {
    if (!rt.initialized) return false;
    for (const c of rt.app.values()) await this.refresh(c);
    const phase = regularPhase(pod, rt);
    return phase === 'Succeeded' || phase === 'Failed';
  }

  /**
   * One step of a graceful stop of a running container (the pod's deletion, or its sidecars once
   * the app containers finished): its preStop hook, its turn (`waitTurn`), the stop signal, SIGKILL
   * at `deadline`. @returns ms until the next step, 0 once the container stopped.
   */
  async stopStep(pod: Pod, rt: PodRuntime, c: ContainerRuntime, opts: { deadline: number; waitTurn?: boolean }): Promise<number> {
    if (c.phase !== 'running' || !c.id) return 0;
    this.stopProbes(c.id);
    requestStop(c, opts.deadline);
    const wait = await advanceStop(this.ctx.o.client, c, {
      now: this.ctx.o.now(),
      cgroupsPath: cgroupsPathFor(rt.uid, c.name),
      preStop: this.hooks.preStop(rt, c, specOf(pod, c), c.stopping!.deadline),
      onHookDone: () => this.ctx.o.requeue(rt.uid),
      waitTurn: opts.waitTurn,
      hostPID: !!pod.spec.hostPID,
    });
    if (wait === 0) await this.refresh(c);
    return wait;
  }

  /**
   * One step for a container that should be running: a kill a probe or a failed postStart hook
   * asked for, a restart after an exit (when `restart` says so), or a first start.
   */
  private async keepRunning(t: ContainerTarget, restart: (c: ContainerRuntime) => boolean): Promise<void> {
    const { rt, c } = t;
    if (c.phase === 'running' && c.killRequested) {
      const wait = await this.killForRestart(t);
      if (wait > 0) {
        this.ctx.o.requeue(rt.uid, wait);
        return;
      }
      await this.refresh(c);
    }
    if (c.phase === 'exited' && c.killRequested) {
      if (c.terminated && c.killRequested !== 'postStart') c.terminated.message = `Container ${c.name} failed ${c.killRequested} probe, will be restarted`;
      c.killRequested = undefined;
    }
    if (c.phase === 'running') return;
    if (c.phase === 'exited') {
      if (restart(c)) await this.restartWithBackoff(t);
      return;
    }
    await this.startInstance(t, c.restartCount);
  }

  /** Reads a running container's task; records its exit when it has stopped (or vanished). */
  async refresh(c: ContainerRuntime): Promise<void> {
    if (c.phase !== 'running' || !c.id) return;
    this.probes.read(c);
    const task = await this.ctx.o.client.getTask(c.id);
    if (task && task.status !== 'STOPPED') return;
    if (!task) {
      this.recordExit(c, { exitCode: 137, reason: 'ContainerStatusUnknown', message: 'The container could not be located when the pod was terminated', at: this.ctx.o.now() });
      return;
    }
    this.recordExit(c, { exitCode: task.exit_status, at: task.exited_at?.getTime() ?? this.ctx.o.now() });
  }

  /** Marks the current instance exited, as Kubernetes reports a terminated container. */
  recordExit(c: ContainerRuntime, exit: ExitInfo): void {
    if (c.id) {
      this.stopProbes(c.id);
      this.hooks.cancel(c.id);
    }
    c.postStartRunning = false;
    const reason = exit.reason ?? (c.oomKilled ? 'OOMKilled' : exit.exitCode === 0 ? 'Completed' : 'Error');
    const t: ContainerStateTerminated = { exitCode: exit.exitCode, reason, startedAt: c.startedAt, finishedAt: k8sTime(exit.at) };
    if (exit.exitCode > 128 && exit.exitCode < 160) t.signal = exit.exitCode - 128;
    if (exit.message) t.message = exit.message;
    if (c.id) t.containerID = containerIdUri(c.id);
    c.phase = 'exited';
    c.terminated = t;
    c.stopping = undefined;
    c.ready = false;
    c.started = false;
    c.oomKilled = false;
  }

  /** Starts the probes of a running instance and seeds ready/started (see {@link ProbeSet.start}). */
  startProbes(t: ContainerTarget, opts: { env?: string[]; ready?: boolean; started?: boolean }): void {
    this.probes.start(t, opts);
  }

  /** Stops the probes of one container instance. */
  stopProbes(id: string): void {
    this.probes.stop(id);
  }

  /** Stops the probes of every pod (agent shutdown: containers keep running). */
  stopAllProbes(): void {
    this.probes.stopAll();
  }

  /** Forgets a pod's restart back-off (it is gone). */
  forgetPod(uid: string): void {
    this.crashBackoff.resetPrefix(`${uid}/`);
  }

  /**
   * One step of the kill a probe or a failed postStart hook asked for: a graceful stop (preStop
   * hook included) the sync advances. The grace period is sat out by the container, not by the
   * sync: it comes back when the task exits, the hook ends, or SIGKILL is due.
   * @returns ms until the next step, 0 once the task stopped.
   */
  private async killForRestart(t: ContainerTarget): Promise<number> {
    const { pod, rt, c, spec } = t;
    const why = c.killRequested!;
    if (!c.stopping) {
      const probe = why === 'liveness' ? spec.livenessProbe : why === 'startup' ? spec.startupProbe : undefined;
      const grace = (probe?.terminationGracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30) * 1000;
      this.ctx.o.logger.info({ pod: `${rt.namespace}/${rt.name}`, container: c.name, reason: why }, why === 'postStart' ? 'postStart hook failed; killing container' : 'probe failed; killing container');
      const message = why === 'postStart' ? 'FailedPostStartHook' : `Container ${c.name} failed ${why} probe, will be restarted`;
      this.ctx.o.api.events.emit(pod, 'Normal', 'Killing', message, { fieldPath: fieldPath(c) });
      requestStop(c, this.ctx.o.now() + grace);
    }
    return this.stopStep(pod, rt, c, { deadline: c.stopping!.deadline });
  }

  /** Restarts an exited container now, or reports CrashLoopBackOff until its back-off ends. */
  private async restartWithBackoff(t: ContainerTarget): Promise<void> {
    const { rt, c } = t;
    const key = `${rt.uid}/${c.kind}/${c.name}`;
    const now = this.ctx.o.now();
    const finishedAt = c.terminated?.finishedAt ? Date.parse(c.terminated.finishedAt) : now;
    const wait = this.crashBackoff.remaining(key, finishedAt, now);
    if (wait > 0) {
      c.waiting = {
        reason: 'CrashLoopBackOff',
        message: `back-off ${goDuration(this.crashBackoff.current(key))} restarting failed container=${c.name} pod=${rt.name}_${rt.namespace}(${rt.uid})`,
      };
      this.ctx.o.api.events.emit(t.pod, 'Warning', 'BackOff', `Back-off restarting failed container ${c.name} in pod ${rt.name}_${rt.namespace}(${rt.uid})`, { fieldPath: fieldPath(c) });
      this.ctx.o.requeue(rt.uid, wait);
      return;
    }
    this.crashBackoff.next(key, now);
    await this.startInstance(t, c.restartCount + 1);
  }

  /**
   * Creates and starts instance `restartCount` of a container (see instance.ts), then points the
   * entry at it; a process that could not start is an exit (128, StartError).
   */
  private async startInstance(t: ContainerTarget, restartCount: number): Promise<void> {
    const outcome = await createInstance(this.ctx, { sandbox: this.sandbox, forget: (id) => this.stopProbes(id) }, t, restartCount);
    if (outcome.kind === 'started') {
      this.markStarted(t, { ...outcome, hooks: outcome.fresh });
    } else if (outcome.kind === 'startError') {
      // As containerd's CRI: a process that cannot start is an exit with 128, reason StartError.
      this.countRestart(t.c, restartCount);
      shiftInstance(t.c, outcome.id, restartCount);
      t.c.startedAt = undefined;
      this.recordExit(t.c, { exitCode: 128, reason: 'StartError', message: outcome.message, at: this.ctx.o.now() });
      this.ctx.o.requeue(t.rt.uid, 0);
    }
  }

  /** A new instance replaces an earlier one (the restart count grows): counted by why the earlier one ended. */
  private countRestart(c: ContainerRuntime, restartCount: number): void {
    if (restartCount > c.restartCount) this.ctx.o.metrics?.containerRestarted(c.terminated?.reason);
  }

  /**
   * Points the entry at a running instance; with `hooks`, its postStart hook runs first and the
   * probes after it (a failed hook asks for the container's kill), else the probes start now.
   */
  private markStarted(t: ContainerTarget, started: { id: string; restartCount: number; built: BuiltContainer; pid: number; hooks: boolean }): void {
    const { c, rt } = t;
    this.countRestart(c, started.restartCount);
    shiftInstance(c, started.id, started.restartCount);
    this.ctx.containerIndex.set(started.id, rt.uid);
    c.phase = 'running';
    c.pid = started.pid;
    c.process = started.built.process;
    c.startedAt = k8sTime(this.ctx.o.now());
    c.killRequested = undefined;
    const env = started.built.env;
    if (!started.hooks || !t.spec.lifecycle?.postStart) {
      this.startProbes(t, { env });
      return;
    }
    c.postStartRunning = true;
    c.ready = false;
    c.started = false;
    this.hooks.startPostStart(t, (ok) => {
      c.postStartRunning = false;
      if (ok) this.startProbes(t, { env });
      else c.killRequested = 'postStart';
      this.ctx.o.requeue(rt.uid);
    });
  }
}

/** Moves the current exit to lastState and points the entry at a new instance. */
function shiftInstance(c: ContainerRuntime, id: string, restartCount: number): void {
  if (restartCount > c.restartCount || (c.id && c.id !== id)) {
    if (c.terminated) c.lastTerminated = c.terminated;
  }
  c.terminated = undefined;
  c.waiting = undefined;
  c.stopping = undefined;
  c.id = id;
  c.restartCount = restartCount;
}
