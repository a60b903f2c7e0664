/**
 * One pod's reconcile, level-triggered: from the pod in the store and what containerd runs, bring
 * the pod's sandbox, volumes and containers to what the spec asks, then report one status.
 * Also termination (grace period, SIGKILL, cleanup, removal of the Pod object) and adoption of
 * containers after an agent restart. The {@link NodeAgent} calls {@link PodSyncer.sync} for one
 * pod uid at a time.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { errorMessage, isGantryError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { ConfigMap, Container, ContainerStateTerminated, Pod, Secret } from '../../model/types.js';
import type { Store, WriteOrigin } from '../../store/types.js';
import type { ContainerdClient } from '../containerd/client.js';
import { createContainer, deleteContainer, startTask, stopTask } from '../containerd/run.js';
import { buildSpec, cgroupsPathFor, removeCgroup, type SpecMount } from '../containerd/spec.js';
import { getImage, type LocalImage } from '../images/image-store.js';
import type { ContainerLogs, NetworkManager, PodReferences, VolumeManager } from '../types.js';
import { Backoff, formatGoDuration } from './backoff.js';
import { containerArgs, containerResources, containerUser, hostsFile, podHostname, podResolvConf, stopSignal } from './container-config.js';
import { mergeEnv, resolvePodEnv } from './env.js';
import { credentialsFromSecrets, ImageManager } from './images.js';
import { ContainerLabels, containerIdFor, containerLabels, parseContainerLabels, type ContainerKind } from './labels.js';
import { computePodStatus, containerIdUri } from './pod-status.js';
import { deepEqual } from '../../model/json.js';
import { ContainerProbes } from './probes.js';
import { advanceStop, requestStop } from './termination.js';
import { newContainer, type ContainerRuntime, type PodRuntime } from './runtime.js';

/** Everything a {@link PodSyncer} works with. */
export interface PodSyncerOptions {
  store: Store;
  nodeName: string;
  client: ContainerdClient;
  runcRoot?: string;
  network: NetworkManager;
  volumes: VolumeManager;
  logs: ContainerLogs;
  images: ImageManager;
  /** The node data dir; per pod `sandboxes/<uid>/` holds the agent's hosts and resolv.conf files. */
  dataDir: string;
  logger: Logger;
  hostIP: () => string;
  nodeAllocatable: () => { cpuMillis: number; memoryBytes: number };
  backoffBaseMs: number;
  backoffMaxMs: number;
  now: () => number;
  /** Asks for another sync of `uid` (after `ms`, or as soon as possible). */
  requeue: (uid: string, ms?: number) => void;
  /** Runs the CPU-bound part of a start (network setup, container create + start) within the node's bound. */
  startLimit: <T>(fn: () => Promise<T>) => Promise<T>;
  /**
   * Runs a pod's teardown (container removal, CNI DEL, files) within a bound of its own: a hundred
   * pods reaching their grace period's end together must not hold up starts, nor the SIGKILLs of
   * the others, which need no bound.
   */
  teardownLimit: <T>(fn: () => Promise<T>) => Promise<T>;
}

/** What one containerd container instance is, for adoption. */
interface FoundContainer {
  id: string;
  container: string;
  kind: ContainerKind;
  restartCount: number;
}

/** RFC 3339 with seconds, as Kubernetes timestamps are written. */
export function k8sTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/** Reconciles pods on one node. */
export class PodSyncer {
  /** Pods bound to this node, by uid, as last seen in the store. */
  readonly pods = new Map<string, Pod>();
  /** What the agent runs, by pod uid. */
  readonly runtimes = new Map<string, PodRuntime>();
  /** containerd id → pod uid, to route task events. */
  readonly containerIndex = new Map<string, string>();
  private readonly probes = new Map<string, ContainerProbes>();
  private readonly crashBackoff: Backoff;
  private readonly origin: WriteOrigin;

  constructor(private readonly o: PodSyncerOptions) {
    this.crashBackoff = new Backoff(o.backoffBaseMs, o.backoffMaxMs);
    this.origin = { actor: `node/${o.nodeName}` };
  }

  // ---- the reconcile -------------------------------------------------------------------

  /** Reconciles pod `uid`. Throws on failures worth a rate-limited retry. */
  async sync(uid: string): Promise<void> {
    const pod = this.pods.get(uid);
    if (!pod) {
      // Deleted from the store (force) or no longer bound here: stop at once and clean up.
      await this.cleanupPod(uid);
      return;
    }
    if (pod.metadata.deletionTimestamp) {
      await this.terminate(pod);
      return;
    }
    const rt = this.runtimeFor(pod);
    if (rt.terminal) {
      await this.release(pod, rt);
      await this.writeStatus(pod, rt);
      return;
    }
    const deadline = this.activeDeadline(pod, rt);
    if (deadline !== undefined && deadline <= 0) {
      await this.killAll(rt);
      for (const c of [...rt.init.values(), ...rt.app.values()]) await this.refresh(c);
      rt.terminal = 'Failed';
      rt.reason = 'DeadlineExceeded';
      rt.message = 'Pod was active on the node longer than the specified deadline';
      await this.release(pod, rt);
      await this.writeStatus(pod, rt);
      return;
    }
    if (deadline !== undefined) this.o.requeue(uid, deadline);

    if (await this.ensureSandbox(pod, rt)) {
      const initDone = await this.syncInit(pod, rt);
      if (initDone && !rt.terminal) await this.syncApp(pod, rt);
    }
    // A sync that ended early (an image pull back-off, say) still reports the pod IP.
    await this.waitNetwork(rt);
    const phase = computePodStatus(pod, rt, { hostIP: this.o.hostIP(), now: k8sTime(this.o.now()) }).phase;
    if (phase === 'Succeeded' || phase === 'Failed') {
      rt.terminal = phase;
      await this.release(pod, rt);
    }
    await this.writeStatus(pod, rt);
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
    let rt = this.runtimes.get(uid);
    if (!rt) {
      rt = {
        uid,
        namespace: pod.metadata.namespace ?? 'default',
        name: pod.metadata.name,
        init: new Map(),
        app: new Map(),
        conditions: [],
        startTime: pod.status?.startTime ?? k8sTime(this.o.now()),
      };
      const phase = pod.status?.phase;
      if (phase === 'Succeeded' || phase === 'Failed') {
        // Finished before the agent (re)started: never run it again.
        rt.terminal = phase;
        rt.reason = pod.status?.reason;
        rt.message = pod.status?.message;
        rt.podIP = pod.status?.podIP;
        this.restoreFromStatus(pod, rt);
      }
      this.runtimes.set(uid, rt);
    }
    return rt;
  }

  /** Network, hosts/resolv.conf files and volumes. @returns false when the pod cannot start yet. */
  private async ensureSandbox(pod: Pod, rt: PodRuntime): Promise<boolean> {
    const uid = rt.uid;
    if (rt.netnsPath === undefined) {
      const dir = this.podDir(uid);
      await mkdir(dir, { recursive: true });
      const hostResolv = await readFile('/run/systemd/resolve/resolv.conf', 'utf8').catch(() => readFile('/etc/resolv.conf', 'utf8').catch(() => ''));
      await writeFile(path.join(dir, 'resolv.conf'), podResolvConf(hostResolv));
      if (pod.spec.hostNetwork) {
        rt.podIP = this.o.hostIP();
        await writeFile(path.join(dir, 'hosts'), hostsFile(pod, rt.podIP));
        rt.netnsPath = '';
      } else {
        // The namespace now, its interfaces in the background: the containers are created in it
        // meanwhile (half of a start's time), and none starts before the network is up.
        const netns = await this.o.startLimit(() => this.o.network.createNamespace(pod));
        // The bind mount needs the file to exist; the pod IP's line follows with the network.
        await writeFile(path.join(dir, 'hosts'), hostsFile(pod, undefined));
        rt.netnsPath = netns;
        rt.networkSetup = this.setUpNetwork(pod, rt);
      }
    }
    const refs = await this.references(pod);
    const version = refsVersion(refs);
    if (!rt.mounts || rt.refsVersion !== version) {
      try {
        rt.mounts = await this.o.volumes.prepare(pod, refs);
        rt.refsVersion = version;
        rt.configError = undefined;
      } catch (err) {
        if (!isGantryError(err, 'NotFound')) throw err;
        rt.configError = err.message;
        // The ConfigMap/Secret watch requeues when it appears; this is the safety net.
        this.o.requeue(uid, 10_000);
        for (const c of this.allSpecs(pod)) {
          const cr = this.containerEntry(rt, c.kind, c.spec);
          if (cr.phase === 'none') cr.waiting = { reason: 'CreateContainerConfigError', message: err.message };
        }
        return !!rt.mounts;
      }
    }
    return true;
  }

  /** Runs CNI for the pod's namespace; the pod IP and its hosts line when done. */
  private setUpNetwork(pod: Pod, rt: PodRuntime): Promise<void> {
    const done = this.o.startLimit(() => this.o.network.setUp(pod)).then(async (net) => {
      rt.podIP = net.ip || this.o.hostIP();
      await writeFile(path.join(this.podDir(rt.uid), 'hosts'), hostsFile(pod, rt.podIP));
    });
    // Observed by waitNetwork; until then a failure must not count as unhandled.
    done.catch(() => undefined);
    return done;
  }

  /** Waits for the background network setup; a failure makes the next sync set the sandbox up anew. */
  private async waitNetwork(rt: PodRuntime): Promise<void> {
    const pending = rt.networkSetup;
    if (!pending) return;
    try {
      await pending;
    } catch (err) {
      rt.netnsPath = undefined;
      throw err;
    } finally {
      if (rt.networkSetup === pending) rt.networkSetup = undefined;
    }
  }

  /** Init containers in order. @returns true once all completed successfully. */
  private async syncInit(pod: Pod, rt: PodRuntime): Promise<boolean> {
    const policy = pod.spec.restartPolicy ?? 'Always';
    for (const spec of pod.spec.initContainers ?? []) {
      const c = this.containerEntry(rt, 'init', spec);
      await this.refresh(c);
      if (c.phase === 'exited' && c.terminated?.exitCode === 0) continue;
      if (c.phase === 'running') return false;
      if (c.phase === 'exited') {
        if (policy === 'Never') {
          rt.terminal = 'Failed';
          return false;
        }
        await this.restartWithBackoff(pod, rt, c, spec);
        return false;
      }
      await this.startInstance(pod, rt, c, spec, c.restartCount);
      return false;
    }
    return true;
  }

  /** App containers: start, restart per restartPolicy with back-off, probe-driven kills. */
  private async syncApp(pod: Pod, rt: PodRuntime): Promise<void> {
    const policy = pod.spec.restartPolicy ?? 'Always';
    for (const spec of pod.spec.containers) {
      const c = this.containerEntry(rt, 'app', spec);
      await this.refresh(c);
      if (c.phase === 'running' && c.killRequested) {
        // The grace period is sat out by the container, not by this sync: it comes back when the
        // task exits or SIGKILL is due.
        if (!c.stopping) {
          const probe = c.killRequested === 'liveness' ? spec.livenessProbe : spec.startupProbe;
          const grace = (probe?.terminationGracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30) * 1000;
          this.o.logger.info({ pod: `${rt.namespace}/${rt.name}`, container: c.name, probe: c.killRequested }, 'probe failed; killing container');
          if (c.id) this.stopProbes(c.id);
          requestStop(c, this.o.now() + grace);
        }
        const wait = await advanceStop(this.o.client, c, { now: this.o.now(), cgroupsPath: cgroupsPathFor(rt.uid, spec.name) });
        if (wait > 0) {
          this.o.requeue(rt.uid, wait);
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
        if (restart) await this.restartWithBackoff(pod, rt, c, spec);
        continue;
      }
      await this.startInstance(pod, rt, c, spec, c.restartCount);
    }
  }

  /** The runtime entry of a container, created on first sight. */
  private containerEntry(rt: PodRuntime, kind: ContainerKind, spec: Container): ContainerRuntime {
    const map = kind === 'init' ? rt.init : rt.app;
    let c = map.get(spec.name);
    if (!c) {
      c = newContainer(spec.name, kind, spec.image);
      map.set(spec.name, c);
    }
    return c;
  }

  private *allSpecs(pod: Pod): Generator<{ kind: ContainerKind; spec: Container }> {
    for (const spec of pod.spec.initContainers ?? []) yield { kind: 'init', spec };
    for (const spec of pod.spec.containers) yield { kind: 'app', spec };
  }

  /** Reads a running container's task; records its exit when it has stopped (or vanished). */
  private async refresh(c: ContainerRuntime): Promise<void> {
    if (c.phase !== 'running' || !c.id) return;
    const probes = this.probes.get(c.id);
    if (probes) {
      c.ready = probes.ready;
      c.started = probes.started;
      if (probes.kill && !c.killRequested) c.killRequested = probes.kill;
    }
    const task = await this.o.client.getTask(c.id);
    if (task && task.status !== 'STOPPED') return;
    if (!task) {
      this.recordExit(c, { exitCode: 137, reason: 'ContainerStatusUnknown', message: 'The container could not be located when the pod was terminated' }, this.o.now());
      return;
    }
    this.recordExit(c, { exitCode: task.exit_status }, task.exited_at?.getTime() ?? this.o.now());
  }

  private recordExit(c: ContainerRuntime, exit: { exitCode: number; reason?: string; message?: string }, at: number): void {
    if (c.id) this.stopProbes(c.id);
    const reason = exit.reason ?? (c.oomKilled ? 'OOMKilled' : exit.exitCode === 0 ? 'Completed' : 'Error');
    const t: ContainerStateTerminated = { exitCode: exit.exitCode, reason, startedAt: c.startedAt, finishedAt: k8sTime(at) };
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

  /** Restarts an exited container now, or reports CrashLoopBackOff until its back-off ends. */
  private async restartWithBackoff(pod: Pod, rt: PodRuntime, c: ContainerRuntime, spec: Container): Promise<void> {
    const key = `${rt.uid}/${c.kind}/${c.name}`;
    const finishedAt = c.terminated?.finishedAt ? Date.parse(c.terminated.finishedAt) : this.o.now();
    const now = this.o.now();
    const wait = this.crashBackoff.remaining(key, finishedAt, now);
    if (wait > 0) {
      c.waiting = {
        reason: 'CrashLoopBackOff',
        message: `back-off ${formatGoDuration(this.crashBackoff.current(key))} restarting failed container=${c.name} pod=${rt.name}_${rt.namespace}(${rt.uid})`,
      };
      this.o.requeue(rt.uid, wait);
      return;
    }
    this.crashBackoff.next(key, now);
    await this.startInstance(pod, rt, c, spec, c.restartCount + 1);
  }

  /**
   * Creates and starts instance `restartCount` of a container (removing the previous instance).
   * Failures before the process runs become waiting reasons; a failing start is an exit (128).
   */
  private async startInstance(pod: Pod, rt: PodRuntime, c: ContainerRuntime, spec: Container, restartCount: number): Promise<void> {
    const client = this.o.client;
    // This sync's ensureSandbox just read them: one store read per sync, and env sees what the volumes saw.
    const refs = this.lastRefs.get(rt.uid) ?? (await this.references(pod));
    const image = await this.o.images.ensure(rt.uid, spec, credentialsFromSecrets([...refs.secrets.values()].filter((s) => (pod.spec.imagePullSecrets ?? []).some((r) => r.name === s.metadata.name))));
    if (!('chainId' in image)) {
      c.waiting = { reason: image.reason, message: image.message };
      if (image.retryAfterMs !== undefined) this.o.requeue(rt.uid, image.retryAfterMs);
      return;
    }
    c.imageID = imageId(image);
    c.stopSignal = stopSignal(image.config);
    // The env may name the pod IP (fieldRef status.podIP): then the spec waits for the network.
    if (usesPodIP(spec)) await this.waitNetwork(rt);
    let built: { spec: Record<string, unknown>; env: string[] };
    try {
      built = this.buildContainerSpec(pod, rt, spec, image);
    } catch (err) {
      c.waiting = { reason: 'CreateContainerConfigError', message: errorMessage(err) };
      this.o.requeue(rt.uid, 10_000);
      return;
    }
    const id = containerIdFor(rt.uid, spec.name, restartCount);
    if (c.id && c.id !== id) {
      this.stopProbes(c.id);
      this.containerIndex.delete(c.id);
      await deleteContainer(client, c.id);
    }
    // Deterministic ids make this idempotent: an instance that already exists is taken over,
    // never created twice.
    const existing = await client.getContainerRecord(id);
    if (existing) {
      const task = await client.getTask(id);
      if (task && (task.status === 'RUNNING' || task.status === 'PAUSED')) {
        this.markStarted(pod, rt, c, spec, id, restartCount, built.env, task.pid);
        return;
      }
      await deleteContainer(client, id);
    }
    const logPath = this.o.logs.pathFor(rt.uid, spec.name, restartCount);
    try {
      await this.o.startLimit(() => createContainer(client, {
        id,
        image,
        spec: built.spec,
        labels: containerLabels({ podUid: rt.uid, podName: rt.name, podNamespace: rt.namespace, container: spec.name, restartCount, kind: c.kind }),
        stdoutPath: logPath,
        stderrPath: logPath,
        runcRoot: this.o.runcRoot,
      }));
    } catch (err) {
      if (isGantryError(err, 'RuntimeUnavailable')) throw err;
      this.o.images.forgetImage(image.digest);
      c.waiting = { reason: 'CreateContainerError', message: errorMessage(err) };
      this.o.requeue(rt.uid, this.o.backoffBaseMs);
      return;
    }
    this.containerIndex.set(id, rt.uid);
    // The process must find its interfaces up.
    await this.waitNetwork(rt);
    try {
      const pid = await this.o.startLimit(() => startTask(client, id));
      this.markStarted(pod, rt, c, spec, id, restartCount, built.env, pid);
    } catch (err) {
      if (isGantryError(err, 'RuntimeUnavailable')) throw err;
      // As containerd's CRI: a process that cannot start is an exit with 128, reason StartError.
      this.shiftInstance(c, id, restartCount);
      c.startedAt = undefined;
      this.recordExit(c, { exitCode: 128, reason: 'StartError', message: errorMessage(err) }, this.o.now());
      this.o.requeue(rt.uid, 0);
    }
  }

  /** Moves the current exit to lastState and points the entry at a new instance. */
  private shiftInstance(c: ContainerRuntime, id: string, restartCount: number): void {
    if (restartCount > c.restartCount || (c.id && c.id !== id)) {
      if (c.terminated) c.lastTerminated = c.terminated;
    }
    c.terminated = undefined;
    c.waiting = undefined;
    c.stopping = undefined;
    c.id = id;
    c.restartCount = restartCount;
  }

  private markStarted(pod: Pod, rt: PodRuntime, c: ContainerRuntime, spec: Container, id: string, restartCount: number, env: string[], pid: number): void {
    this.shiftInstance(c, id, restartCount);
    this.containerIndex.set(id, rt.uid);
    c.phase = 'running';
    c.pid = pid;
    c.startedAt = k8sTime(this.o.now());
    c.killRequested = undefined;
    this.startProbes(pod, rt, c, spec, env, {});
  }

  /** Starts the probes of a running instance and seeds ready/started. */
  private startProbes(pod: Pod, rt: PodRuntime, c: ContainerRuntime, spec: Container, env: string[] | undefined, seed: { ready?: boolean; started?: boolean }): void {
    if (!c.id) return;
    this.stopProbes(c.id);
    if (c.kind === 'init' || !ContainerProbes.needed(spec)) {
      c.ready = c.kind === 'app';
      c.started = true;
      return;
    }
    const probes = new ContainerProbes({
      target: { client: this.o.client, containerId: c.id, podIP: pod.spec.hostNetwork || !rt.podIP ? '127.0.0.1' : rt.podIP, container: spec, env },
      onChange: () => this.o.requeue(rt.uid),
      initialReady: seed.ready,
      initialStarted: seed.started,
    });
    this.probes.set(c.id, probes);
    c.ready = probes.ready;
    c.started = probes.started;
    probes.start();
  }

  private stopProbes(id: string): void {
    this.probes.get(id)?.stop();
    this.probes.delete(id);
  }

  /** The OCI spec and env of a container instance. */
  private buildContainerSpec(pod: Pod, rt: PodRuntime, spec: Container, image: LocalImage): { spec: Record<string, unknown>; env: string[] } {
    const refs = this.lastRefs.get(rt.uid) ?? { configMaps: new Map(), secrets: new Map() };
    const vars = resolvePodEnv(pod, spec, { refs, podIP: rt.podIP, hostIP: this.o.hostIP(), nodeName: this.o.nodeName, nodeAllocatable: this.o.nodeAllocatable() });
    const env = mergeEnv(image.config.Env, vars);
    const args = containerArgs(spec, image.config, vars);
    const user = containerUser(pod, spec, image.config);
    const mounts: SpecMount[] = [...(rt.mounts?.get(spec.name) ?? [])];
    if (!pod.spec.hostNetwork) {
      const dir = this.podDir(rt.uid);
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

  // ---- references ----------------------------------------------------------------------

  /** The last references read per pod (env resolution uses the same snapshot as the volumes). */
  private readonly lastRefs = new Map<string, PodReferences>();

  /** ConfigMaps and Secrets the pod refers to (volumes, env, envFrom, imagePullSecrets), from the store. */
  private async references(pod: Pod): Promise<PodReferences> {
    const ns = pod.metadata.namespace ?? 'default';
    const { configMaps, secrets } = referencedNames(pod);
    const refs: PodReferences = { configMaps: new Map(), secrets: new Map() };
    for (const name of configMaps) {
      const cm = await this.o.store.get<ConfigMap>({ kind: 'ConfigMap', namespace: ns, name });
      if (cm) refs.configMaps.set(name, cm);
    }
    for (const name of secrets) {
      const s = await this.o.store.get<Secret>({ kind: 'Secret', namespace: ns, name });
      if (s) refs.secrets.set(name, s);
    }
    this.lastRefs.set(pod.metadata.uid!, refs);
    return refs;
  }

  // ---- status ----------------------------------------------------------------------------

  /** Writes the pod's status when it differs from the stored one (one write per sync). */
  private async writeStatus(pod: Pod, rt: PodRuntime): Promise<void> {
    let current: Pod | undefined = pod;
    for (let attempt = 0; attempt < 5; attempt++) {
      if (attempt > 0) current = await this.o.store.get<Pod>({ kind: 'Pod', namespace: rt.namespace, name: rt.name });
      if (!current || current.metadata.uid !== rt.uid) return;
      const status = computePodStatus(current, rt, { hostIP: this.o.hostIP(), now: k8sTime(this.o.now()) });
      if (rt.reason) status.reason = rt.reason;
      if (deepEqual(status, current.status ?? {})) return;
      const next: Pod = { ...structuredClone(current), status };
      try {
        const saved = await this.o.store.update(next, { origin: this.origin });
        if (this.pods.has(rt.uid) && !this.pods.get(rt.uid)!.metadata.deletionTimestamp) this.pods.set(rt.uid, saved);
        return;
      } catch (err) {
        if (isGantryError(err, 'NotFound')) return;
        if (!isGantryError(err, 'Conflict')) throw err;
      }
    }
  }

  // ---- stopping --------------------------------------------------------------------------

  /** SIGKILL to every running container of the pod, waiting for the exits (a kill is quick). */
  private async killAll(rt: PodRuntime): Promise<void> {
    const running = [...rt.init.values(), ...rt.app.values()].filter((c) => c.phase === 'running' && c.id);
    await Promise.all(running.map((c) => {
      this.stopProbes(c.id!);
      return stopTask(this.o.client, c.id!, { gracePeriodMs: 0 }).catch((err) => this.o.logger.warn({ err: errorMessage(err), container: c.id }, 'stopping container failed'));
    }));
  }

  /** SIGKILL to every container of a pod right away (the pod was force-deleted). */
  async forceKill(uid: string): Promise<void> {
    const rt = this.runtimes.get(uid);
    if (!rt) return;
    for (const c of [...rt.init.values(), ...rt.app.values()]) {
      if (c.phase !== 'running' || !c.id) continue;
      await this.o.client.killTask(c.id, 9, { all: true }).catch(() => undefined);
    }
  }

  /**
   * Graceful deletion: stop the containers within the grace period counted from the
   * deletionTimestamp, clean up, and remove the Pod object from the store.
   */
  private async terminate(pod: Pod): Promise<void> {
    const uid = pod.metadata.uid!;
    const graceS = pod.spec.terminationGracePeriodSeconds ?? 30;
    const deadline = Date.parse(pod.metadata.deletionTimestamp!) + graceS * 1000;
    const rt = this.runtimes.get(uid);
    if (rt) {
      // One step of each container's stop; the pod comes back on an exit event or at the deadline.
      const wait = await this.stopGracefully(rt, deadline);
      if (wait > 0) {
        this.o.requeue(uid, wait);
        return;
      }
    }
    await this.cleanupPod(uid);
    await this.deletePodObject(pod);
  }

  /**
   * Advances the graceful stop of every running container of the pod (in parallel: each gets the
   * whole grace period). @returns 0 once none runs, else ms until the next step is due.
   */
  private async stopGracefully(rt: PodRuntime, deadline: number): Promise<number> {
    const waits = await Promise.all([...rt.init.values(), ...rt.app.values()].map(async (c) => {
      if (c.phase !== 'running' || !c.id) return 0;
      this.stopProbes(c.id);
      requestStop(c, deadline);
      const wait = await advanceStop(this.o.client, c, { now: this.o.now(), cgroupsPath: cgroupsPathFor(rt.uid, c.name) });
      if (wait === 0) await this.refresh(c);
      return wait;
    }));
    const pending = waits.filter((w) => w > 0);
    return pending.length ? Math.min(...pending) : 0;
  }

  /** Removes the Pod object (only the same pod: uid checked, resourceVersion precondition). */
  private async deletePodObject(pod: Pod): Promise<void> {
    const ref = { kind: 'Pod', namespace: pod.metadata.namespace ?? 'default', name: pod.metadata.name };
    for (let attempt = 0; attempt < 5; attempt++) {
      const current = await this.o.store.get<Pod>(ref);
      if (!current || current.metadata.uid !== pod.metadata.uid) return;
      try {
        await this.o.store.delete(ref, { origin: { ...this.origin, reason: 'pod terminated' }, resourceVersion: current.metadata.resourceVersion });
        this.pods.delete(pod.metadata.uid!);
        return;
      } catch (err) {
        if (isGantryError(err, 'NotFound')) return;
        if (!isGantryError(err, 'Conflict')) throw err;
      }
    }
  }

  /**
   * Everything of a pod on this node goes at once: containers (killed, then deleted, found by
   * label so nothing is missed), network, volumes, logs, the pod cgroup, the pod dir. Graceful
   * stops happen before, in {@link terminate}.
   */
  private async cleanupPod(uid: string): Promise<void> {
    const rt = this.runtimes.get(uid);
    if (rt) await this.killAll(rt);
    await this.o.teardownLimit(() => this.removePodParts(uid));
  }

  /** What {@link cleanupPod} removes once nothing of the pod runs. */
  private async removePodParts(uid: string): Promise<void> {
    await this.deletePodContainers(uid);
    await this.o.network.tearDown(uid);
    await this.o.volumes.cleanup(uid);
    await this.o.logs.cleanup(uid);
    await rm(this.podDir(uid), { recursive: true, force: true });
    // runc removed each container's cgroup; the pod's parent is gantry's to remove.
    removeCgroup(cgroupsPathFor(uid));
    this.runtimes.delete(uid);
    this.lastRefs.delete(uid);
    this.o.images.forgetPod(uid);
    this.crashBackoff.resetPrefix(`${uid}/`);
  }

  /** A finished pod keeps its status and logs; its containers and network are released. */
  private async release(pod: Pod, rt: PodRuntime): Promise<void> {
    if (rt.released) return;
    await this.killAll(rt);
    await this.o.teardownLimit(async () => {
      await this.deletePodContainers(rt.uid);
      if (!pod.spec.hostNetwork) await this.o.network.tearDown(rt.uid);
    });
    removeCgroup(cgroupsPathFor(rt.uid));
    rt.released = true;
  }

  /** Deletes every containerd container labelled with the pod's uid (so none is missed), with its probes. */
  private async deletePodContainers(uid: string): Promise<void> {
    const found = await this.o.client.listContainerRecords([`labels."${ContainerLabels.podUid}"==${uid}`]);
    await Promise.all(found.map((r) => {
      this.stopProbes(r.id);
      this.containerIndex.delete(r.id);
      return deleteContainer(this.o.client, r.id);
    }));
  }

  /** Stops the probes of every pod (agent shutdown: containers keep running). */
  stopAllProbes(): void {
    for (const p of this.probes.values()) p.stop();
    this.probes.clear();
  }

  /** The OOM event of a container: its exit is reported as OOMKilled. */
  markOom(containerId: string): void {
    const uid = this.containerIndex.get(containerId);
    const rt = uid ? this.runtimes.get(uid) : undefined;
    if (!rt) return;
    for (const c of [...rt.init.values(), ...rt.app.values()]) if (c.id === containerId) c.oomKilled = true;
  }

  // ---- adoption ------------------------------------------------------------------------

  /**
   * After an agent restart: takes over the containers gantry's labels tie to pods bound here
   * (running ones untouched), removes every other gantry container, and tears down networks and
   * volumes of pods that are gone. Call after {@link pods} holds the bound pods.
   * @returns counts for the log.
   */
  async adopt(): Promise<{ adopted: number; removed: number; orphanPods: number }> {
    const client = this.o.client;
    const records = await client.listContainerRecords();
    const byPod = new Map<string, FoundContainer[]>();
    let removed = 0;
    for (const r of records) {
      const l = parseContainerLabels(r.id, r.labels);
      if (!l) continue;
      const pod = this.pods.get(l.podUid);
      if (!pod) {
        await deleteContainer(client, r.id);
        removeCgroup(cgroupsPathFor(l.podUid));
        removed++;
        continue;
      }
      const list = byPod.get(l.podUid) ?? [];
      list.push({ id: r.id, container: l.container, kind: l.kind, restartCount: l.restartCount });
      byPod.set(l.podUid, list);
    }
    let adopted = 0;
    for (const [uid, found] of byPod) {
      const pod = this.pods.get(uid)!;
      const rt = this.runtimeFor(pod);
      if (rt.terminal) continue;
      const net = pod.spec.hostNetwork ? undefined : await this.o.network.get(uid);
      if (net) {
        rt.netnsPath = net.netnsPath;
        rt.podIP = net.ip || this.o.hostIP();
      } else if (pod.spec.hostNetwork) {
        rt.netnsPath = '';
        rt.podIP = this.o.hostIP();
      }
      this.restoreFromStatus(pod, rt);
      // The newest instance per container is the current one; older ones are leftovers.
      const newest = new Map<string, FoundContainer>();
      for (const f of found) {
        const key = `${f.kind}/${f.container}`;
        const cur = newest.get(key);
        if (!cur || f.restartCount > cur.restartCount) {
          if (cur) {
            await deleteContainer(client, cur.id);
            removed++;
          }
          newest.set(key, f);
        } else {
          await deleteContainer(client, f.id);
          removed++;
        }
      }
      for (const f of newest.values()) {
        const spec = (f.kind === 'init' ? pod.spec.initContainers ?? [] : pod.spec.containers).find((s) => s.name === f.container);
        if (!spec) {
          await deleteContainer(client, f.id);
          removed++;
          continue;
        }
        const c = this.containerEntry(rt, f.kind, spec);
        const task = await client.getTask(f.id);
        if (!task || task.status === 'CREATED' || task.status === 'UNKNOWN') {
          // Created but never started (the agent died in between): start afresh under the same id.
          await deleteContainer(client, f.id);
          c.phase = 'none';
          c.restartCount = f.restartCount;
          c.id = undefined;
          continue;
        }
        const prevStatus = statusOf(pod, f.kind, f.container);
        const sameInstance = prevStatus?.containerID === containerIdUri(f.id);
        c.id = f.id;
        c.restartCount = f.restartCount;
        c.phase = 'running';
        c.pid = task.pid;
        c.startedAt = sameInstance ? prevStatus?.state.running?.startedAt ?? prevStatus?.state.terminated?.startedAt : undefined;
        c.waiting = undefined;
        c.terminated = undefined;
        if (sameInstance && prevStatus?.lastState.terminated) c.lastTerminated = prevStatus.lastState.terminated;
        else if (!sameInstance && prevStatus?.state.terminated) c.lastTerminated = prevStatus.state.terminated;
        this.containerIndex.set(f.id, uid);
        if (task.status !== 'STOPPED') {
          const image = await getImageConfig(this.o.client, spec.image);
          c.stopSignal = image ? stopSignal(image) : undefined;
          this.startProbes(pod, rt, c, spec, undefined, { ready: sameInstance ? prevStatus?.ready : undefined, started: sameInstance ? prevStatus?.started : undefined });
          adopted++;
        }
        // A stopped task is picked up by the next sync's refresh, as an exit.
      }
    }
    let orphanPods = 0;
    const known = (uid: string): boolean => this.pods.has(uid);
    for (const uid of await this.o.network.list()) {
      if (known(uid)) continue;
      await this.o.network.tearDown(uid);
      removeCgroup(cgroupsPathFor(uid));
      orphanPods++;
    }
    for (const uid of await this.o.volumes.list()) {
      if (known(uid)) continue;
      await this.o.volumes.cleanup(uid);
    }
    return { adopted, removed, orphanPods };
  }

  /**
   * Seeds container entries from the stored status (restart counts, last states, finished init
   * containers) for containers containerd no longer has.
   */
  private restoreFromStatus(pod: Pod, rt: PodRuntime): void {
    const restore = (kind: ContainerKind, specs: Container[]): void => {
      for (const spec of specs) {
        const s = statusOf(pod, kind, spec.name);
        if (!s) continue;
        const c = this.containerEntry(rt, kind, spec);
        c.restartCount = s.restartCount;
        c.imageID = s.imageID;
        if (s.lastState.terminated) c.lastTerminated = s.lastState.terminated;
        if (s.state.terminated) {
          c.phase = 'exited';
          c.terminated = s.state.terminated;
        } else if (s.state.running) {
          // Running according to the store but not found in containerd: it is gone.
          c.phase = 'exited';
          c.terminated = { exitCode: 137, reason: 'ContainerStatusUnknown', message: 'The container could not be located when the pod was terminated', startedAt: s.state.running.startedAt, finishedAt: k8sTime(this.o.now()) };
        } else if (s.state.waiting && s.lastState.terminated) {
          c.phase = 'exited';
          c.terminated = s.lastState.terminated;
          c.lastTerminated = undefined;
        }
        const id = s.containerID?.replace(/^containerd:\/\//, '');
        if (id) c.id = id;
      }
    };
    restore('init', pod.spec.initContainers ?? []);
    restore('app', pod.spec.containers);
  }

  private podDir(uid: string): string {
    return path.join(this.o.dataDir, 'sandboxes', uid);
  }
}

/** `name@digest` as Kubernetes reports imageID. */
function imageId(image: LocalImage): string {
  return `${image.name.replace(/[:@][^/]*$/, '')}@${image.digest}`;
}

async function getImageConfig(client: ContainerdClient, name: string): Promise<LocalImage['config'] | undefined> {
  return (await getImage(client, name).catch(() => undefined))?.config;
}

function statusOf(pod: Pod, kind: ContainerKind, name: string) {
  const list = kind === 'init' ? pod.status?.initContainerStatuses : pod.status?.containerStatuses;
  return list?.find((s) => s.name === name);
}

/** True when the container's env takes the pod IP from the downward API. */
function usesPodIP(spec: Container): boolean {
  return (spec.env ?? []).some((e) => e.valueFrom?.fieldRef?.fieldPath === 'status.podIP' || e.valueFrom?.fieldRef?.fieldPath === 'status.podIPs');
}

/** Names of the ConfigMaps and Secrets a pod refers to. */
export function referencedNames(pod: Pod): { configMaps: Set<string>; secrets: Set<string> } {
  const configMaps = new Set<string>();
  const secrets = new Set<string>();
  for (const v of pod.spec.volumes ?? []) {
    if (v.configMap) configMaps.add(v.configMap.name);
    if (v.secret) secrets.add(v.secret.secretName);
    const projected = (v as { projected?: { sources?: { configMap?: { name: string }; secret?: { name: string } }[] } }).projected;
    for (const src of projected?.sources ?? []) {
      if (src.configMap) configMaps.add(src.configMap.name);
      if (src.secret) secrets.add(src.secret.name);
    }
  }
  for (const c of [...(pod.spec.initContainers ?? []), ...pod.spec.containers]) {
    for (const f of c.envFrom ?? []) {
      if (f.configMapRef) configMaps.add(f.configMapRef.name);
      if (f.secretRef) secrets.add(f.secretRef.name);
    }
    for (const e of c.env ?? []) {
      if (e.valueFrom?.configMapKeyRef) configMaps.add(e.valueFrom.configMapKeyRef.name);
      if (e.valueFrom?.secretKeyRef) secrets.add(e.valueFrom.secretKeyRef.name);
    }
  }
  for (const s of pod.spec.imagePullSecrets ?? []) secrets.add(s.name);
  return { configMaps, secrets };
}

/** A string that changes whenever a referenced ConfigMap/Secret does (or appears/disappears). */
function refsVersion(refs: PodReferences): string {
  const parts: string[] = [];
  for (const [n, o] of refs.configMaps) parts.push(`cm/${n}@${o.metadata.resourceVersion}`);
  for (const [n, o] of refs.secrets) parts.push(`s/${n}@${o.metadata.resourceVersion}`);
  return parts.sort().join(',');
}
