/**
 * gantry's kubelet: runs the pods bound to its node as containers under containerd and reports
 * their status. It sees the control plane only through a {@link NodeApi} (its pods, the
 * ConfigMaps and Secrets they use, status writes, its Node), so it runs the same in `gantry up`
 * and on another machine. Level-triggered: the API's watch and containerd's task events only
 * queue pod uids; a per-pod sync ({@link PodSyncer}) reads the current state and acts on the
 * difference. A periodic resync is the safety net for anything missed.
 *
 * `stop()` leaves the pods running; the next agent on the same containerd adopts them by their
 * container labels (see {@link PodSyncer.adopt}).
 */
import { setMaxListeners } from 'node:events';
import { statfsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import pLimit from 'p-limit';
import { errorMessage, isGantryError } from '../../errors.js';
import type { ClusterDnsSettings } from './container-config.js';
import type { Logger } from '../../log.js';
import type { Metrics } from '../../metrics/index.js';
import { k8sTime } from '../../model/time.js';
import type { Node, Pod, Service } from '../../model/types.js';
import type { NodeApi, NodeEvent } from '../api.js';
import { ExponentialBackoff, WorkQueue, realClock, type Clock } from '../../controllers/queue.js';
import type { ContainerdClient } from '../containerd/client.js';
import { importImages } from '../images/import.js';
import type { ContainerLogs, NetworkManager, VolumeManager } from '../types.js';
import { KUBERNETES_BACKOFF } from './backoff.js';
import { ImageManager } from './images.js';
import { annotateStorageDir, ephemeralAllocatable, newNode, nodeLabels, nodeStatus, readMachine, type MachineInfo } from './node-object.js';
import { LocalPathVolumes } from './local-volumes.js';
import { PodSyncer } from './pod-sync.js';
import { readNodeUsage } from './node-usage.js';
import { collectUsage } from './usage.js';

/** How often usage is reported by default: metrics-server's default resolution. */
export const DEFAULT_USAGE_PERIOD_MS = 15_000;

/** Options for {@link NodeAgent}. */
export interface NodeAgentOptions {
  /** The control plane as this node sees it; its `nodeName` is this node's (pods with this `spec.nodeName` run here). */
  api: NodeApi;
  client: ContainerdClient;
  /** runc state dir of a private containerd (`PrivateContainerd.runcRoot`). */
  runcRoot?: string;
  network: NetworkManager;
  /**
   * The pod network this node's bridge serves: written to the Node's `spec.podCIDR` when it has
   * none, so the control plane's pod-CIDR allocator never hands that block to another node.
   */
  podCidr?: string;
  volumes: VolumeManager;
  logs: ContainerLogs;
  /** The node data dir (gantry passes `<data-dir>/node`, shared with the network and volume managers): the agent writes per-pod hosts/resolv.conf under `sandboxes/<uid>/`. */
  dataDir: string;
  logger: Logger;
  /** Air-gap images directory (OCI layouts / tarballs) imported at start. */
  imagesDir?: string;
  /** Registry hosts allowed over plain HTTP. */
  insecureRegistries?: string[];
  /** Node heartbeat period; default 10 s (Kubernetes'). */
  heartbeatMs?: number;
  clock?: Clock;
  /** Restart and image-pull back-off base and cap; defaults are Kubernetes' 10 s and 300 s. Tests shorten them. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Every pod is re-synced this often (safety net for missed events); default 10 s. */
  resyncMs?: number;
  /** Log rotation period; default 30 s. */
  logRotateMs?: number;
  /**
   * How often the node's and its containers' usage is read and reported to the control plane
   * (metrics-server's `--metric-resolution`); default 15 s, 0 turns reports off.
   */
  usagePeriodMs?: number;
  /**
   * How many pods may be setting up a sandbox or creating and starting a container at the same
   * moment (the CPU-bound part of a start: netns, CNI plugins, runc), and, separately, how many
   * may be torn down; default 4 per core each. Nothing else is bounded: every pod syncs on its
   * own, so one waiting on a pull, a back-off or a grace period never delays another.
   */
  maxParallelStarts?: number;
  /** The node's InternalIP (pod hostIP); default the first non-loopback IPv4 of the machine. */
  nodeIP?: string;
  /**
   * The port of the node's kubelet endpoint (`gantry agent`'s logs, exec and port-forward for the
   * control plane), published in the Node's `status.daemonEndpoints`.
   */
  kubeletPort?: number;
  /** The cluster DNS that ClusterFirst pods use; without it every pod gets the host's resolvers. */
  clusterDns?: ClusterDnsSettings;
  /**
   * Where this node keeps local-path volumes (`<data-dir>/storage`): published on the Node for
   * the provisioner; the agent makes and removes the volumes' directories there.
   */
  storageDir?: string;
  /**
   * The cluster's Services as the node sees them (its Services view): containers get the Service
   * variables of their namespace (`enableServiceLinks`). Without it they get none.
   */
  services?: () => readonly Service[];
  /** The process's metrics: pod start latency, restarts, image pulls, the pod queue. */
  metrics?: Metrics;
}

/** The node agent. */
export class NodeAgent {
  private readonly o: NodeAgentOptions;
  private readonly clock: Clock;
  private readonly queue: WorkQueue;
  private readonly syncer: PodSyncer;
  private machine: MachineInfo;
  private runtimeVersion = '';
  private ac?: AbortController;
  private background: Promise<unknown>[] = [];
  /** Pod syncs under way (one per pod at most: the queue never hands out a key twice). */
  private readonly syncing = new Set<Promise<void>>();
  private timers: ReturnType<typeof setInterval>[] = [];
  private started = false;
  private readonly localVolumes?: LocalPathVolumes;

  constructor(opts: NodeAgentOptions) {
    this.o = opts;
    this.clock = opts.clock ?? realClock;
    this.machine = readMachine(opts.nodeIP);
    const metrics = opts.metrics;
    this.queue = new WorkQueue({ clock: this.clock, rateLimiter: new ExponentialBackoff(200, 30_000), ...(metrics ? { name: 'node-agent', metrics: metrics.workqueue } : {}) });
    const images = new ImageManager({
      client: opts.client,
      insecureRegistries: opts.insecureRegistries,
      backoffBaseMs: opts.backoffBaseMs,
      backoffMaxMs: opts.backoffMaxMs,
      now: () => this.clock.now(),
      ...(metrics ? { metrics: metrics.kubelet } : {}),
    });
    this.syncer = new PodSyncer({
      api: opts.api,
      client: opts.client,
      runcRoot: opts.runcRoot,
      network: opts.network,
      volumes: opts.volumes,
      logs: opts.logs,
      images,
      dataDir: opts.dataDir,
      logger: opts.logger,
      hostIP: () => this.machine.internalIP ?? '127.0.0.1',
      clusterDns: opts.clusterDns,
      nodeAllocatable: () => ({ cpuMillis: this.machine.cpus * 1000, memoryBytes: this.machine.memoryBytes, ephemeralBytes: ephemeralAllocatable(diskBytes(opts.dataDir)) }),
      services: opts.services,
      backoffBaseMs: opts.backoffBaseMs ?? KUBERNETES_BACKOFF.baseMs,
      backoffMaxMs: opts.backoffMaxMs ?? KUBERNETES_BACKOFF.maxMs,
      now: () => this.clock.now(),
      requeue: (uid, ms) => (ms && ms > 0 ? this.queue.addAfter(uid, ms) : this.queue.add(uid)),
      startLimit: pLimit(opts.maxParallelStarts ?? 4 * os.availableParallelism()),
      teardownLimit: pLimit(opts.maxParallelStarts ?? 4 * os.availableParallelism()),
      ...(metrics ? { metrics: metrics.kubelet } : {}),
    });
    if (opts.storageDir) {
      this.localVolumes = new LocalPathVolumes({ api: opts.api, storageDir: opts.storageDir, legacyDir: opts.dataDir, logger: opts.logger.child({ part: 'local-path' }) });
    }
  }

  /** The node's name. */
  get nodeName(): string {
    return this.o.api.nodeName;
  }

  /**
   * Starts the agent: imports air-gap images, registers the Node, subscribes to containerd events,
   * adopts existing containers, then watches and syncs pods. Resolves once pods are being synced;
   * the agent runs until {@link stop} or `signal` aborts.
   */
  async start(signal?: AbortSignal): Promise<void> {
    if (this.started) return;
    this.started = true;
    const ac = new AbortController();
    // Every worker, watch and timer waits on this one signal.
    setMaxListeners(0, ac.signal);
    this.ac = ac;
    signal?.addEventListener('abort', () => void this.stop(), { once: true });
    try {
      await this.startParts(ac.signal);
    } catch (err) {
      // Whatever already runs (the event subscription, workers) must not outlive a failed start.
      await this.stop();
      throw err;
    }
  }

  private async startParts(signal: AbortSignal): Promise<void> {
    const log = this.o.logger;
    await mkdir(this.o.dataDir, { recursive: true });
    this.runtimeVersion = (await this.o.client.version()).version;
    if (this.o.imagesDir) {
      const summary = await importImages(this.o.client, this.o.imagesDir, { logger: log });
      log.info({ imagesDir: this.o.imagesDir, summary }, 'air-gap images imported');
    }
    await this.registerNode();
    this.background.push(this.eventLoop(signal));

    // Adopt before watching: the sync must see the containers already running.
    const listed = await this.o.api.listPods();
    for (const pod of listed.pods) this.syncer.track(pod);
    const adoption = await this.syncer.adopt();
    log.info({ node: this.nodeName, pods: listed.pods.length, ...adoption }, 'node agent started');

    this.background.push(this.watchLoop(listed.revision, signal));
    this.background.push(this.dispatch(signal));
    for (const pod of listed.pods) this.queue.add(pod.metadata.uid!);
    if (this.localVolumes) this.background.push(this.localVolumes.run(signal));

    this.every(this.o.heartbeatMs ?? 10_000, () => this.heartbeat());
    const resyncMs = this.o.resyncMs ?? 10_000;
    this.every(resyncMs, async () => {
      // Spread over the period: with every pod syncing on its own, a resync of all at one instant
      // would be a burst of hundreds of concurrent syncs (and of heap V8 then keeps).
      for (const uid of this.syncer.uids()) this.queue.addAfter(uid, Math.random() * resyncMs);
    });
    this.every(this.o.logRotateMs ?? 30_000, () => this.o.logs.rotate());
    const usagePeriodMs = this.o.usagePeriodMs ?? DEFAULT_USAGE_PERIOD_MS;
    if (usagePeriodMs > 0) this.every(usagePeriodMs, () => this.reportUsage(usagePeriodMs));
  }

  /** One round of usage: read what runs here, report it (the control plane makes rates of two rounds). */
  private async reportUsage(periodMs: number): Promise<void> {
    const report = await collectUsage({
      client: this.o.client,
      containers: this.syncer.runningContainers(),
      node: () => readNodeUsage({ now: () => this.clock.now() }),
      periodMs,
      now: () => this.clock.now(),
    });
    await this.o.api.reportUsage(report);
  }

  /**
   * Stops the agent. Pods keep running (their containers live in containerd's shims); probes and
   * watches stop. Waits up to 10 s for syncs in progress.
   */
  async stop(): Promise<void> {
    if (!this.ac || this.ac.signal.aborted) return;
    this.ac.abort();
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.queue.shutdown();
    this.syncer.stopAllProbes();
    await Promise.race([Promise.allSettled([...this.background, ...this.syncing]), sleep(10_000, undefined, { ref: false })]);
  }

  /**
   * A pod bound to this node, as the agent last saw it (a copy): what the node's kubelet endpoint
   * serves logs, exec and port-forward for.
   */
  boundPod(namespace: string, name: string): Pod | undefined {
    const pod = this.syncer.podNamed(namespace, name);
    return pod && structuredClone(pod);
  }

  /** Test and bench access: what the agent currently tracks for a pod. */
  podRuntime(uid: string) {
    return this.syncer.runtime(uid);
  }

  private every(ms: number, fn: () => Promise<unknown>): void {
    let busy = false;
    const t = setInterval(() => {
      if (busy) return;
      busy = true;
      fn()
        .catch((err) => this.o.logger.warn({ err: errorMessage(err) }, 'periodic node agent task failed'))
        .finally(() => (busy = false));
    }, ms);
    t.unref?.();
    this.timers.push(t);
  }

  // ---- work queue ------------------------------------------------------------------------

  /**
   * Hands every queued pod to a sync of its own, as the kubelet's per-pod workers: there is no
   * pool for slow pods to fill, and the queue keeps two syncs of one pod from overlapping.
   */
  private async dispatch(signal: AbortSignal): Promise<void> {
    for (;;) {
      const uid = await this.queue.get(signal);
      if (uid === undefined) return;
      const run = this.syncPod(uid, signal);
      this.syncing.add(run);
      void run.finally(() => this.syncing.delete(run));
    }
  }

  private async syncPod(uid: string, signal: AbortSignal): Promise<void> {
    try {
      await this.syncer.sync(uid);
      this.queue.forget(uid);
    } catch (err) {
      if (signal.aborted) return;
      const pod = this.syncer.pod(uid);
      this.o.logger.warn({ pod: pod ? `${pod.metadata.namespace}/${pod.metadata.name}` : uid, err: errorMessage(err) }, 'pod sync failed; retrying');
      this.queue.addRateLimited(uid);
    } finally {
      this.queue.done(uid);
    }
  }

  // ---- store watch -----------------------------------------------------------------------

  private async watchLoop(fromRevision: number, signal: AbortSignal): Promise<void> {
    let rev = fromRevision;
    while (!signal.aborted) {
      try {
        for await (const ev of this.o.api.watch({ fromRevision: rev, signal })) {
          rev = ev.revision;
          this.onNodeEvent(ev);
        }
        return;
      } catch (err) {
        if (signal.aborted) return;
        if (isGantryError(err, 'Conflict')) {
          rev = await this.relist().catch(() => rev);
          continue;
        }
        this.o.logger.warn({ err: errorMessage(err) }, 'store watch failed; re-watching');
        await sleep(1000, undefined, { signal }).catch(() => undefined);
      }
    }
  }

  /** After a watch fell too far behind: reload the pods bound here and sync them all. */
  private async relist(): Promise<number> {
    const listed = await this.o.api.listPods();
    const seen = new Set<string>();
    for (const pod of listed.pods) {
      seen.add(pod.metadata.uid!);
      this.syncer.track(pod);
      this.queue.add(pod.metadata.uid!);
    }
    for (const uid of this.syncer.uids()) {
      if (seen.has(uid)) continue;
      this.syncer.untrack(uid);
      this.queue.add(uid);
    }
    return listed.revision;
  }

  private onNodeEvent(ev: NodeEvent): void {
    if (ev.type === 'reference') {
      // A ConfigMap, Secret or claim a pod uses: refresh those pods (volume files; a missing one
      // may now exist; a claim may now be bound).
      for (const uid of this.syncer.usersOf(ev)) this.queue.add(uid);
      return;
    }
    if (ev.type === 'volume') {
      void this.localVolumes?.handle(ev.volume, ev.change);
      return;
    }
    const uid = ev.pod.metadata.uid!;
    if (ev.change === 'DELETED') {
      if (!this.syncer.knows(uid)) return;
      this.syncer.untrack(uid);
      // Gone without grace (force deletion): containers die now, cleanup follows in the sync.
      void this.syncer.forceKill(uid);
      this.queue.add(uid);
      return;
    }
    this.syncer.track(ev.pod);
    // Our own status writes need no sync of their own.
    if (ev.change === 'MODIFIED' && ev.byThisNode) return;
    this.queue.add(uid);
  }

  // ---- containerd events -----------------------------------------------------------------

  /** Task exits and OOMs queue their pod; re-subscribes (and resyncs) when containerd restarts. */
  private async eventLoop(signal: AbortSignal): Promise<void> {
    let first = true;
    while (!signal.aborted) {
      try {
        const events = this.o.client.subscribe({ signal });
        if (!first) for (const uid of this.syncer.runningUids()) this.queue.add(uid);
        first = false;
        for await (const ev of events) {
          if (ev.kind === 'TaskExit' && ev.event.id === ev.event.container_id) {
            const uid = this.syncer.podOfContainer(ev.event.container_id);
            if (uid) this.queue.add(uid);
          } else if (ev.kind === 'TaskOOM') {
            this.syncer.markOom(ev.event.container_id);
          }
        }
        if (signal.aborted) return;
      } catch (err) {
        if (signal.aborted) return;
        this.o.logger.warn({ err: errorMessage(err) }, 'containerd event stream ended; re-subscribing');
      }
      await sleep(1000, undefined, { signal }).catch(() => undefined);
    }
  }

  // ---- node ----------------------------------------------------------------------------

  /** Creates the Node object, or updates its status and labels. */
  private async registerNode(): Promise<void> {
    await this.writeNode(true);
  }

  private async heartbeat(): Promise<void> {
    await this.writeNode(false);
  }

  private async writeNode(registering: boolean): Promise<void> {
    const name = this.nodeName;
    await this.o.api.writeNode((current) => {
      const status = nodeStatus(this.machine, {
        now: k8sTime(this.clock.now()),
        runtimeVersion: this.runtimeVersion,
        prev: current?.status,
        ephemeralStorageBytes: diskBytes(this.o.dataDir),
        ...(this.o.kubeletPort ? { kubeletPort: this.o.kubeletPort } : {}),
      });
      const podCidr = this.o.podCidr;
      if (!current) {
        const node = newNode(name, this.machine, status);
        if (podCidr) node.spec = { ...node.spec, podCIDR: podCidr, podCIDRs: [podCidr] };
        annotateStorageDir(node, this.o.storageDir);
        return node;
      }
      const next: Node = structuredClone(current);
      if (podCidr && !next.spec.podCIDR) next.spec = { ...next.spec, podCIDR: podCidr, podCIDRs: [podCidr] };
      if (registering) next.metadata.labels = { ...next.metadata.labels, ...nodeLabels(name, this.machine) };
      annotateStorageDir(next, this.o.storageDir);
      next.status = status;
      return next;
    }, { reason: registering ? 'node registered' : 'heartbeat' });
  }
}

/** Bytes of the filesystem holding `dir` (the node's ephemeral storage), 0 when unknown. */
function diskBytes(dir: string): number {
  try {
    const st = statfsSync(dir);
    return st.blocks * st.bsize;
  } catch {
    return 0;
  }
}
