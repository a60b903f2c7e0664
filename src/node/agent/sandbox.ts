/**
 * A pod's sandbox: its network namespace (CNI run in the background while containers are
 * created), the hosts and resolv.conf files the agent writes for it, and its volumes, prepared
 * from the ConfigMaps and Secrets the pod refers to (read through the node API) and its
 * service-account tokens (./tokens.ts; the pod is synced again when one wants refreshing).
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { isGantryError } from '../../errors.js';
import { podReferences } from '../../model/pod-refs.js';
import type { Pod } from '../../model/types.js';
import type { PodReferences } from '../types.js';
import { tokenSources } from '../volumes/projected.js';
import { hostsFile, podDnsConf } from './container-config.js';
import { PodTokens } from './tokens.js';
import { podDir, type PodSyncerOptions } from './context.js';
import { containerEntry, type PodRuntime } from './runtime.js';

/** Sets up and reads pod sandboxes. */
export class Sandbox {
  /** The last references read per pod (env resolution uses the same snapshot as the volumes). */
  private readonly lastRefs = new Map<string, PodReferences>();
  private readonly tokens: PodTokens;

  constructor(private readonly o: PodSyncerOptions) {
    this.tokens = new PodTokens({ api: o.api, now: o.now, logger: o.logger });
  }

  /** Network, hosts/resolv.conf files and volumes. @returns false when the pod cannot start yet. */
  async ensure(pod: Pod, rt: PodRuntime): Promise<boolean> {
    const uid = rt.uid;
    if (rt.netnsPath === undefined) {
      const dir = podDir(this.o, uid);
      await mkdir(dir, { recursive: true });
      const hostResolv = await readFile('/run/systemd/resolve/resolv.conf', 'utf8').catch(() => readFile('/etc/resolv.conf', 'utf8').catch(() => ''));
      await writeFile(path.join(dir, 'resolv.conf'), podDnsConf(pod, hostResolv, this.o.clusterDns));
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
    let refs: PodReferences;
    try {
      refs = await this.readReferences(pod);
    } catch (err) {
      // A token the node cannot have yet (its service account is missing) holds the pod like a
      // missing ConfigMap; nothing tells the node when the account appears, so it asks again soon.
      if (!isGantryError(err, 'NotFound')) throw err;
      return this.configError(pod, rt, err.message, 2000);
    }
    const version = refsVersion(refs) + downwardVersion(pod);
    if (!rt.mounts || rt.refsVersion !== version) {
      try {
        rt.mounts = await this.o.volumes.prepare(pod, refs, { node: this.o.nodeAllocatable() });
        rt.refsVersion = version;
        rt.configError = undefined;
        rt.mountError = undefined;
      } catch (err) {
        if (isGantryError(err, 'VolumeSetupFailed') && err.disposition === 'waiting') {
          // Not yet (an unbound claim, a host path still missing): the containers wait in
          // ContainerCreating, as the kubelet's do, and the reason is an event.
          if (rt.mountError !== err.message) this.o.api.events.emit(pod, 'Warning', 'FailedMount', err.message);
          rt.mountError = err.message;
          this.o.requeue(uid, err.retryAfterMs ?? 2000);
          // A pod already running keeps the volumes it has (a claim being deleted under it, say).
          return !!rt.mounts;
        }
        if (!isGantryError(err, 'NotFound')) throw err;
        return this.configError(pod, rt, err.message);
      }
    }
    return true;
  }

  /** Reports a missing reference on the containers not yet created; the pod goes on only with volumes it had. */
  private configError(pod: Pod, rt: PodRuntime, message: string, retryMs = 10_000): boolean {
    rt.configError = message;
    // The reference watch requeues when it appears; this is the safety net.
    this.o.requeue(rt.uid, retryMs);
    const specs = [...(pod.spec.initContainers ?? []).map((s) => ({ kind: 'init' as const, s })), ...pod.spec.containers.map((s) => ({ kind: 'app' as const, s }))];
    for (const { kind, s } of specs) {
      const c = containerEntry(rt, kind, s);
      if (c.phase === 'none') c.waiting = { reason: 'CreateContainerConfigError', message };
    }
    return !!rt.mounts;
  }

  /** Waits for the background network setup; a failure makes the next sync set the sandbox up anew. */
  async waitNetwork(rt: PodRuntime): Promise<void> {
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

  /**
   * The ConfigMaps and Secrets the pod refers to: those this sync's {@link ensure} read (one read
   * per sync, and env sees what the volumes saw), else read now.
   */
  async references(pod: Pod): Promise<PodReferences> {
    return this.lastRefs.get(pod.metadata.uid!) ?? (await this.readReferences(pod));
  }

  /** Drops what is kept of a pod and removes its directory. */
  async remove(uid: string): Promise<void> {
    await rm(podDir(this.o, uid), { recursive: true, force: true });
    this.lastRefs.delete(uid);
    this.tokens.forget(uid);
  }

  /** Runs CNI for the pod's namespace; the pod IP and its hosts line when done. */
  private setUpNetwork(pod: Pod, rt: PodRuntime): Promise<void> {
    const done = this.o.startLimit(() => this.o.network.setUp(pod)).then(async (net) => {
      rt.podIP = net.ip || this.o.hostIP();
      await writeFile(path.join(podDir(this.o, rt.uid), 'hosts'), hostsFile(pod, rt.podIP));
    });
    // Observed by waitNetwork; until then a failure must not count as unhandled.
    done.catch(() => undefined);
    return done;
  }

  private async readReferences(pod: Pod): Promise<PodReferences> {
    const ns = pod.metadata.namespace ?? 'default';
    const { configMaps, secrets, claims } = podReferences(pod);
    const refs: PodReferences = { configMaps: new Map(), secrets: new Map(), claims: new Map() };
    const [cms, ss, cs] = await Promise.all([
      Promise.all([...configMaps].map((name) => this.o.api.getConfigMap(ns, name))),
      Promise.all([...secrets].map((name) => this.o.api.getSecret(ns, name))),
      Promise.all([...claims].map((name) => this.o.api.getClaim(ns, name))),
    ]);
    for (const cm of cms) if (cm) refs.configMaps.set(cm.metadata.name, cm);
    for (const s of ss) if (s) refs.secrets.set(s.metadata.name, s);
    for (const c of cs) if (c) refs.claims.set(c.claim.metadata.name, c);
    const sources = tokenSources(pod);
    if (sources.length > 0) {
      const held = await this.tokens.tokensFor(pod, sources);
      refs.tokens = held.tokens;
      // Back before the earliest token wants refreshing: the next sync writes the new one.
      if (held.refreshAt !== undefined) this.o.requeue(pod.metadata.uid!, Math.max(0, held.refreshAt - this.o.now()));
    }
    this.lastRefs.set(pod.metadata.uid!, refs);
    return refs;
  }
}

/**
 * For a pod with downward API files: its labels and annotations, which those files show and the
 * kubelet keeps current (the rest of what they may show never changes).
 */
function downwardVersion(pod: Pod): string {
  const uses = (pod.spec.volumes ?? []).some((v) => v.downwardAPI || v.projected?.sources?.some((s) => s.downwardAPI));
  return uses ? `|${JSON.stringify([pod.metadata.labels ?? {}, pod.metadata.annotations ?? {}])}` : '';
}

/** A string that changes whenever a referenced ConfigMap/Secret/claim (or its volume) does (or appears/disappears). */
function refsVersion(refs: PodReferences): string {
  const parts: string[] = [];
  for (const [n, o] of refs.configMaps) parts.push(`cm/${n}@${o.metadata.resourceVersion}`);
  for (const [n, o] of refs.secrets) parts.push(`s/${n}@${o.metadata.resourceVersion}`);
  for (const [n, o] of refs.claims) parts.push(`pvc/${n}@${o.claim.metadata.resourceVersion}/${o.volume?.metadata.resourceVersion ?? ''}`);
  for (const [k, t] of refs.tokens ?? []) parts.push(`t/${k}@${createHash('sha256').update(t).digest('hex').slice(0, 16)}`);
  return parts.sort().join(',');
}
