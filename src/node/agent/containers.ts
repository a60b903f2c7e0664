/**
 * A pod's containers: init containers in order, then app containers; starting an instance
 * (image, OCI spec, create, start), reading exits, restarts per restartPolicy with the kubelet's
 * CrashLoopBackOff, probes, and kills a probe asks for (a graceful stop the sync advances, see
 * termination.ts).
 */
import { errorMessage, isGantryError } from '../../errors.js';
import type { Container, ContainerStateTerminated, Pod } from '../../model/types.js';
import { k8sTime } from '../../model/time.js';
import { createContainer, deleteContainer, startTask } from '../containerd/run.js';
import { buildSpec, cgroupsPathFor, type SpecMount } from '../containerd/spec.js';
import type { LocalImage } from '../images/image-store.js';
import type { PodReferences } from '../types.js';
import path from 'node:path';
import { Backoff, formatGoDuration } from './backoff.js';
import { containerArgs, containerResources, containerUser, podHostname, stopSignal } from './container-config.js';
import { podDir, type ContainerTarget, type SyncContext } from './context.js';
import { mergeEnv, resolvePodEnv } from './env.js';
import { credentialsFromSecrets } from './images.js';
import { containerIdFor, containerLabels } from './labels.js';
import { containerIdUri } from './pod-status.js';
import { ContainerProbes } from './probes.js';
import { containerEntry, fieldPath, type ContainerRuntime, type PodRuntime } from './runtime.js';
import type { Sandbox } from './sandbox.js';
import { advanceStop, requestStop } from './termination.js';

/** The kubelet's names of the probes in its events. */
const probeTitle = { liveness: 'Liveness', readiness: 'Readiness', startup: 'Startup' } as const;

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
  private readonly probes = new Map<string, ContainerProbes>();
  private readonly crashBackoff: Backoff;

  constructor(private readonly ctx: SyncContext, private readonly sandbox: Sandbox) {
    this.crashBackoff = new Backoff(ctx.o.backoffBaseMs, ctx.o.backoffMaxMs);
  }

  /** Init containers in order. @returns true once all completed successfully. */
  async syncInit(pod: Pod, rt: PodRuntime): Promise<boolean> {
    const policy = pod.spec.restartPolicy ?? 'Always';
    for (const spec of pod.spec.initContainers ?? []) {
      const t = { pod, rt, c: containerEntry(rt, 'init', spec), spec };
      await this.refresh(t.c);
      if (t.c.phase === 'exited' && t.c.terminated?.exitCode === 0) continue;
      if (t.c.phase === 'running') return false;
      if (t.c.phase === 'exited') {
        if (policy === 'Never') {
          rt.terminal = 'Failed';
          return false;
        }
        await this.restartWithBackoff(t);
        return false;
      }
      await this.startInstance(t, t.c.restartCount);
      return false;
    }
    return true;
  }

  /** App containers: start, restart per restartPolicy with back-off, probe-driven kills. */
  async syncApp(pod: Pod, rt: PodRuntime): Promise<void> {
    const policy = pod.spec.restartPolicy ?? 'Always';
    for (const spec of pod.spec.containers) {
      const t = { pod, rt, c: containerEntry(rt, 'app', spec), spec };
      const c = t.c;
      await this.refresh(c);
      if (c.phase === 'running' && c.killRequested) {
        const wait = await this.killForProbe(t);
        if (wait > 0) {
          this.ctx.o.requeue(rt.uid, wait);
          continue;
        }
        await this.refresh(c);
      }
      if (c.phase === 'exited' && c.killRequested) {
        if (c.terminated) c.terminated.message = `Container ${c.name} failed ${c.killRequested} probe, will be restarted`;
        c.killRequested = undefined;
      }
      if (c.phase === 'running') continue;
      if (c.phase === 'exited') {
        const restart = policy === 'Always' || (policy === 'OnFailure' && c.terminated?.exitCode !== 0);
        if (restart) await this.restartWithBackoff(t);
        continue;
      }
      await this.startInstance(t, c.restartCount);
    }
  }

  /** Reads a running container's task; records its exit when it has stopped (or vanished). */
  async refresh(c: ContainerRuntime): Promise<void> {
    if (c.phase !== 'running' || !c.id) return;
    const probes = this.probes.get(c.id);
    if (probes) {
      c.ready = probes.ready;
      c.started = probes.started;
      if (probes.kill && !c.killRequested) c.killRequested = probes.kill;
    }
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
    if (c.id) this.stopProbes(c.id);
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

  /** Starts the probes of a running instance and seeds ready/started. */
  startProbes(t: ContainerTarget, opts: { env?: string[]; ready?: boolean; started?: boolean }): void {
    const { pod, rt, c, spec } = t;
    if (!c.id) return;
    this.stopProbes(c.id);
    if (c.kind === 'init' || !ContainerProbes.needed(spec)) {
      c.ready = c.kind === 'app';
      c.started = true;
      return;
    }
    const probes = new ContainerProbes({
      target: { client: this.ctx.o.client, containerId: c.id, podIP: pod.spec.hostNetwork || !rt.podIP ? '127.0.0.1' : rt.podIP, container: spec, env: opts.env },
      onChange: () => this.ctx.o.requeue(rt.uid),
      // As the kubelet: every failed run is a Warning (the recorder counts the repeats).
      onFailure: (kind, message) => this.ctx.o.api.events.emit(pod, 'Warning', 'Unhealthy', `${probeTitle[kind]} probe failed: ${message}`, { fieldPath: fieldPath(c) }),
      initialReady: opts.ready,
      initialStarted: opts.started,
    });
    this.probes.set(c.id, probes);
    c.ready = probes.ready;
    c.started = probes.started;
    probes.start();
  }

  /** Stops the probes of one container instance. */
  stopProbes(id: string): void {
    this.probes.get(id)?.stop();
    this.probes.delete(id);
  }

  /** Stops the probes of every pod (agent shutdown: containers keep running). */
  stopAllProbes(): void {
    for (const p of this.probes.values()) p.stop();
    this.probes.clear();
  }

  /** Forgets a pod's restart back-off (it is gone). */
  forgetPod(uid: string): void {
    this.crashBackoff.resetPrefix(`${uid}/`);
  }

  /**
   * One step of the kill a probe asked for. The grace period is sat out by the container, not
   * by the sync: it comes back when the task exits or SIGKILL is due. @returns ms until the next
   * step, 0 once the task stopped.
   */
  private async killForProbe(t: ContainerTarget): Promise<number> {
    const { pod, rt, c, spec } = t;
    if (!c.stopping) {
      const probe = c.killRequested === 'liveness' ? spec.livenessProbe : spec.startupProbe;
      const grace = (probe?.terminationGracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30) * 1000;
      this.ctx.o.logger.info({ pod: `${rt.namespace}/${rt.name}`, container: c.name, probe: c.killRequested }, 'probe failed; killing container');
      if (c.id) this.stopProbes(c.id);
      this.ctx.o.api.events.emit(pod, 'Normal', 'Killing', `Container ${c.name} failed ${c.killRequested} probe, will be restarted`, { fieldPath: fieldPath(c) });
      requestStop(c, this.ctx.o.now() + grace);
    }
    return advanceStop(this.ctx.o.client, c, { now: this.ctx.o.now(), cgroupsPath: cgroupsPathFor(rt.uid, spec.name) });
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
        message: `back-off ${formatGoDuration(this.crashBackoff.current(key))} restarting failed container=${c.name} pod=${rt.name}_${rt.namespace}(${rt.uid})`,
      };
      this.ctx.o.api.events.emit(t.pod, 'Warning', 'BackOff', `Back-off restarting failed container ${c.name} in pod ${rt.name}_${rt.namespace}(${rt.uid})`, { fieldPath: fieldPath(c) });
      this.ctx.o.requeue(rt.uid, wait);
      return;
    }
    this.crashBackoff.next(key, now);
    await this.startInstance(t, c.restartCount + 1);
  }

  /**
   * Creates and starts instance `restartCount` of a container (removing the previous instance).
   * Failures before the process runs become waiting reasons; a failing start is an exit (128).
   */
  private async startInstance(t: ContainerTarget, restartCount: number): Promise<void> {
    const { pod, rt, c, spec } = t;
    const { o } = this.ctx;
    const client = o.client;
    const refs = await this.sandbox.references(pod);
    const pullSecrets = [...refs.secrets.values()].filter((s) => (pod.spec.imagePullSecrets ?? []).some((r) => r.name === s.metadata.name));
    const image = await o.images.ensure(rt.uid, spec, {
      auth: credentialsFromSecrets(pullSecrets),
      report: (ev) => o.api.events.emit(pod, ev.type, ev.reason, ev.message, { fieldPath: fieldPath(c) }),
    });
    if (!('chainId' in image)) {
      // After the image's own event, the container's, as the kubelet: "Error: ImagePullBackOff".
      o.api.events.emit(pod, 'Warning', 'Failed', `Error: ${image.reason}`, { fieldPath: fieldPath(c) });
      c.waiting = { reason: image.reason, message: image.message };
      if (image.retryAfterMs !== undefined) o.requeue(rt.uid, image.retryAfterMs);
      return;
    }
    c.imageID = imageId(image);
    c.stopSignal = stopSignal(image.config);
    // The env may name the pod IP (fieldRef status.podIP): then the spec waits for the network.
    if (usesPodIP(spec)) await this.sandbox.waitNetwork(rt);
    let built: { spec: Record<string, unknown>; env: string[] };
    try {
      built = this.buildContainerSpec(t, { image, refs });
    } catch (err) {
      c.waiting = { reason: 'CreateContainerConfigError', message: errorMessage(err) };
      o.requeue(rt.uid, 10_000);
      return;
    }
    const id = containerIdFor(rt.uid, spec.name, restartCount);
    if (c.id && c.id !== id) {
      this.stopProbes(c.id);
      this.ctx.containerIndex.delete(c.id);
      await deleteContainer(client, c.id);
    }
    // Deterministic ids make this idempotent: an instance that already exists is taken over,
    // never created twice.
    const existing = await client.getContainerRecord(id);
    if (existing) {
      const task = await client.getTask(id);
      if (task && (task.status === 'RUNNING' || task.status === 'PAUSED')) {
        this.markStarted(t, { id, restartCount, env: built.env, pid: task.pid });
        return;
      }
      await deleteContainer(client, id);
    }
    const logPath = o.logs.pathFor(rt.uid, spec.name, restartCount);
    try {
      await o.startLimit(() => createContainer(client, {
        id,
        image,
        spec: built.spec,
        labels: containerLabels({ podUid: rt.uid, podName: rt.name, podNamespace: rt.namespace, container: spec.name, restartCount, kind: c.kind }),
        stdoutPath: logPath,
        stderrPath: logPath,
        runcRoot: o.runcRoot,
      }));
    } catch (err) {
      if (isGantryError(err, 'RuntimeUnavailable')) throw err;
      o.images.forgetImage(image.digest);
      c.waiting = { reason: 'CreateContainerError', message: errorMessage(err) };
      o.requeue(rt.uid, o.backoffBaseMs);
      return;
    }
    this.ctx.containerIndex.set(id, rt.uid);
    o.api.events.emit(pod, 'Normal', 'Created', `Created container: ${spec.name}`, { fieldPath: fieldPath(c) });
    // The process must find its interfaces up.
    await this.sandbox.waitNetwork(rt);
    try {
      const pid = await o.startLimit(() => startTask(client, id));
      this.markStarted(t, { id, restartCount, env: built.env, pid });
      o.api.events.emit(pod, 'Normal', 'Started', `Started container ${spec.name}`, { fieldPath: fieldPath(c) });
    } catch (err) {
      if (isGantryError(err, 'RuntimeUnavailable')) throw err;
      // As containerd's CRI: a process that cannot start is an exit with 128, reason StartError.
      this.countRestart(c, restartCount);
      shiftInstance(c, id, restartCount);
      c.startedAt = undefined;
      this.recordExit(c, { exitCode: 128, reason: 'StartError', message: errorMessage(err), at: o.now() });
      o.requeue(rt.uid, 0);
    }
  }

  private markStarted(t: ContainerTarget, started: { id: string; restartCount: number; env: string[]; pid: number }): void {
    const { c } = t;
    this.countRestart(c, started.restartCount);
    shiftInstance(c, started.id, started.restartCount);
    this.ctx.containerIndex.set(started.id, t.rt.uid);
    c.phase = 'running';
    c.pid = started.pid;
    c.startedAt = k8sTime(this.ctx.o.now());
    c.killRequested = undefined;
    this.startProbes(t, { env: started.env });
  }

  /** A new instance replaces an earlier one (the restart count grows): counted by why the earlier one ended. */
  private countRestart(c: ContainerRuntime, restartCount: number): void {
    if (restartCount > c.restartCount) this.ctx.o.metrics?.containerRestarted(c.terminated?.reason);
  }

  /** The OCI spec and env of a container instance. */
  private buildContainerSpec(t: ContainerTarget, opts: { image: LocalImage; refs: PodReferences }): { spec: Record<string, unknown>; env: string[] } {
    const { pod, rt, spec } = t;
    const { image, refs } = opts;
    const o = this.ctx.o;
    const vars = resolvePodEnv(pod, spec, { refs, podIP: rt.podIP, hostIP: o.hostIP(), nodeName: o.api.nodeName, nodeAllocatable: o.nodeAllocatable(), ...(o.serviceEnv ? { serviceEnv: o.serviceEnv(pod) } : {}) });
    const env = mergeEnv(image.config.Env, vars);
    const args = containerArgs(spec, image.config, vars);
    const user = containerUser(pod, spec, image.config);
    const mounts: SpecMount[] = [...(rt.mounts?.get(spec.name) ?? [])];
    if (!pod.spec.hostNetwork) {
      const dir = podDir(o, rt.uid);
      const taken = new Set(mounts.map((m) => m.destination));
      if (!taken.has('/etc/hosts')) mounts.push({ destination: '/etc/hosts', type: 'bind', source: path.join(dir, 'hosts'), options: ['rbind', 'rprivate', 'rw'] });
      if (!taken.has('/etc/resolv.conf')) mounts.push({ destination: '/etc/resolv.conf', type: 'bind', source: path.join(dir, 'resolv.conf'), options: ['rbind', 'rprivate', 'rw'] });
    }
    const ociSpec = buildSpec({
      args,
      env,
      cwd: spec.workingDir || image.config.WorkingDir || '/',
      user,
      hostname: podHostname(pod),
      netnsPath: rt.netnsPath || undefined,
      hostNetwork: !!pod.spec.hostNetwork,
      mounts,
      resources: containerResources(spec),
      cgroupsPath: cgroupsPathFor(rt.uid, spec.name),
      readonlyRootfs: spec.securityContext?.readOnlyRootFilesystem ?? false,
      annotations: { 'io.kubernetes.pod.name': rt.name, 'io.kubernetes.pod.namespace': rt.namespace, 'io.kubernetes.pod.uid': rt.uid, 'io.kubernetes.container.name': spec.name },
    });
    return { spec: ociSpec, env };
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

/** `name@digest` as Kubernetes reports imageID. */
function imageId(image: LocalImage): string {
  return `${image.name.replace(/[:@][^/]*$/, '')}@${image.digest}`;
}

/** True when the container's env takes the pod IP from the downward API. */
function usesPodIP(spec: Container): boolean {
  return (spec.env ?? []).some((e) => e.valueFrom?.fieldRef?.fieldPath === 'status.podIP' || e.valueFrom?.fieldRef?.fieldPath === 'status.podIPs');
}
