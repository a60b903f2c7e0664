/**
 * After an agent restart: what containerd runs is matched to the pods bound here by gantry's
 * container labels. Running containers are taken over untouched (same ids, same pids), leftovers
 * and orphans are removed, and the container entries are seeded from the stored status, so
 * restart counts and last states survive the restart.
 */
import type { Container, Pod } from '../../model/types.js';
import { k8sTime } from '../../model/time.js';
import type { ContainerdClient } from '../containerd/client.js';
import { deleteContainer } from '../containerd/run.js';
import { cgroupsPathFor, removeCgroup } from '../containerd/spec.js';
import { getImage, type LocalImage } from '../images/image-store.js';
import { stopSignal } from './container-config.js';
import type { Containers } from './containers.js';
import type { SyncContext } from './context.js';
import { parseContainerLabels, type ContainerKind } from './labels.js';
import { containerIdUri } from './pod-status.js';
import { containerEntry, type PodRuntime } from './runtime.js';

/** What one containerd container instance is, for adoption. */
interface FoundContainer {
  id: string;
  container: string;
  kind: ContainerKind;
  restartCount: number;
}

/** What {@link adopt} needs besides the shared context. */
export interface AdoptionParts {
  /** The pods bound here, by uid. */
  pods: ReadonlyMap<string, Pod>;
  /** The runtime entry of a bound pod (created when new). */
  runtimeFor: (pod: Pod) => PodRuntime;
  containers: Containers;
}

/**
 * Takes over the containers gantry's labels tie to pods bound here (running ones untouched),
 * removes every other gantry container, and tears down networks and volumes of pods that are
 * gone. @returns counts for the log.
 */
export async function adopt(ctx: SyncContext, parts: AdoptionParts): Promise<{ adopted: number; removed: number; orphanPods: number }> {
  const { o } = ctx;
  const client = o.client;
  const byPod = new Map<string, FoundContainer[]>();
  let removed = 0;
  for (const r of await client.listContainerRecords()) {
    const l = parseContainerLabels(r.id, r.labels);
    if (!l) continue;
    if (!parts.pods.has(l.podUid)) {
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
    const pod = parts.pods.get(uid)!;
    const rt = parts.runtimeFor(pod);
    if (rt.terminal) continue;
    const net = pod.spec.hostNetwork ? undefined : await o.network.get(uid);
    if (net) {
      rt.netnsPath = net.netnsPath;
      rt.podIP = net.ip || o.hostIP();
    } else if (pod.spec.hostNetwork) {
      rt.netnsPath = '';
      rt.podIP = o.hostIP();
    }
    restoreFromStatus(pod, rt, o.now());
    const current = await keepNewest(client, found);
    removed += found.length - current.length;
    for (const f of current) {
      const spec = (f.kind === 'init' ? pod.spec.initContainers ?? [] : pod.spec.containers).find((s) => s.name === f.container);
      if (!spec) {
        await deleteContainer(client, f.id);
        removed++;
        continue;
      }
      if (await adoptOne(ctx, { pod, rt, spec, found: f, containers: parts.containers })) adopted++;
    }
  }
  let orphanPods = 0;
  for (const uid of await o.network.list()) {
    if (parts.pods.has(uid)) continue;
    await o.network.tearDown(uid);
    removeCgroup(cgroupsPathFor(uid));
    orphanPods++;
  }
  for (const uid of await o.volumes.list()) {
    if (!parts.pods.has(uid)) await o.volumes.cleanup(uid);
  }
  return { adopted, removed, orphanPods };
}

/** The newest instance per container is the current one; older ones are leftovers, deleted here. */
async function keepNewest(client: ContainerdClient, found: FoundContainer[]): Promise<FoundContainer[]> {
  const newest = new Map<string, FoundContainer>();
  for (const f of found) {
    const key = `${f.kind}/${f.container}`;
    const cur = newest.get(key);
    if (!cur || f.restartCount > cur.restartCount) {
      if (cur) await deleteContainer(client, cur.id);
      newest.set(key, f);
    } else {
      await deleteContainer(client, f.id);
    }
  }
  return [...newest.values()];
}

/** Takes over one current container instance. @returns true when it runs (and its probes now do too). */
async function adoptOne(ctx: SyncContext, t: { pod: Pod; rt: PodRuntime; spec: Container; found: FoundContainer; containers: Containers }): Promise<boolean> {
  const { pod, rt, spec, found: f } = t;
  const client = ctx.o.client;
  const c = containerEntry(rt, f.kind, spec);
  const task = await client.getTask(f.id);
  if (!task || task.status === 'CREATED' || task.status === 'UNKNOWN') {
    // Created but never started (the agent died in between): start afresh under the same id.
    await deleteContainer(client, f.id);
    c.phase = 'none';
    c.restartCount = f.restartCount;
    c.id = undefined;
    return false;
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
  ctx.containerIndex.set(f.id, rt.uid);
  // A stopped task is picked up by the next sync's refresh, as an exit.
  if (task.status === 'STOPPED') return false;
  const image = await getImageConfig(client, spec.image);
  c.stopSignal = image ? stopSignal(image) : undefined;
  c.process = await containerProcess(client, f.id);
  t.containers.startProbes({ pod, rt, c, spec }, { ready: sameInstance ? prevStatus?.ready : undefined, started: sameInstance ? prevStatus?.started : undefined });
  return true;
}

/**
 * Seeds container entries from the stored status (restart counts, last states, finished init
 * containers) for containers containerd no longer has.
 */
export function restoreFromStatus(pod: Pod, rt: PodRuntime, now: number): void {
  const restore = (kind: ContainerKind, specs: Container[]): void => {
    for (const spec of specs) {
      const s = statusOf(pod, kind, spec.name);
      if (!s) continue;
      const c = containerEntry(rt, kind, spec);
      c.restartCount = s.restartCount;
      c.imageID = s.imageID;
      if (s.lastState.terminated) c.lastTerminated = s.lastState.terminated;
      if (s.state.terminated) {
        c.phase = 'exited';
        c.terminated = s.state.terminated;
      } else if (s.state.running) {
        // Running according to the store but not found in containerd: it is gone.
        c.phase = 'exited';
        c.terminated = { exitCode: 137, reason: 'ContainerStatusUnknown', message: 'The container could not be located when the pod was terminated', startedAt: s.state.running.startedAt, finishedAt: k8sTime(now) };
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
  // Initialized once is initialized for good: a sidecar restarting now holds nothing back.
  if (pod.status?.conditions?.some((c) => c.type === 'Initialized' && c.status === 'True')) rt.initialized = true;
}

/** The OCI process a container was created with (exec probes and hooks run as it). */
async function containerProcess(client: ContainerdClient, id: string): Promise<Record<string, unknown> | undefined> {
  const record = await client.getContainerRecord(id).catch(() => undefined);
  if (!record?.spec?.value) return undefined;
  try {
    return (JSON.parse(Buffer.from(record.spec.value).toString('utf8')) as { process?: Record<string, unknown> }).process;
  } catch {
    return undefined;
  }
}

async function getImageConfig(client: ContainerdClient, name: string): Promise<LocalImage['config'] | undefined> {
  return (await getImage(client, name).catch(() => undefined))?.config;
}

function statusOf(pod: Pod, kind: ContainerKind, name: string) {
  const list = kind === 'init' ? pod.status?.initContainerStatuses : pod.status?.containerStatuses;
  return list?.find((s) => s.name === name);
}
