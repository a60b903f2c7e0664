/**
 * `gantry cordon NODE`, `gantry uncordon NODE` and `gantry drain NODE`, through gantry's
 * Kubernetes API as kubectl does them (the server `--kubeconfig`/`--server` name, else the local
 * gantry through `<data-dir>/kubeconfig`):
 *
 * - cordon / uncordon: a strategic merge patch of the Node's `spec.unschedulable`;
 * - drain: cordon, then evict every pod on the node (`POST …/pods/NAME/eviction`) except
 *   mirror pods and, with `--ignore-daemonsets`, DaemonSet pods, all at once; an eviction a
 *   PodDisruptionBudget refuses (429) is retried every 5 s, printing the budget that blocks it
 *   when that changes; each evicted pod is waited for until it is gone (`pod/x evicted`). Without
 *   `--timeout` the drain waits as long as it takes, as kubectl's does.
 *
 * As kubectl, a drain refuses (after cordoning) when the node runs DaemonSet pods and
 * `--ignore-daemonsets` is not given, pods without a controller and no `--force`, or pods with
 * emptyDir data and no `--delete-emptydir-data`; it names every such pod.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiClient } from '../../api/client.js';
import { GantryError } from '../../errors.js';
import type { Node, Pod } from '../../model/types.js';
import { serverEndpoint, type RemoteOptions } from '../remote.js';

/** What the drain needs of the API (an {@link ApiClient} in the product; a fake in unit tests). */
export interface DrainApi {
  getNode(name: string): Promise<Node | undefined>;
  /** Sets (true) or clears (false) the Node's spec.unschedulable; returns the Node. */
  setUnschedulable(name: string, unschedulable: boolean): Promise<Node>;
  /** Pods bound to the node. */
  podsOn(node: string): Promise<Pod[]>;
  getPod(namespace: string, name: string): Promise<Pod | undefined>;
  daemonSetExists(namespace: string, name: string): Promise<boolean>;
  evict(pod: Pod, opts: { gracePeriodSeconds?: number }): Promise<EvictOutcome>;
}

/** An eviction's answer. */
export type EvictOutcome =
  | { result: 'evicted' }
  | { result: 'gone' }
  /** Refused for now by a PodDisruptionBudget (429): worth retrying. */
  | { result: 'blocked'; message: string };

/** The Kubernetes paths of {@link DrainApi}, over an {@link ApiClient}. */
export class KubeDrainApi implements DrainApi {
  constructor(private readonly client: ApiClient) {}

  async getNode(name: string): Promise<Node | undefined> {
    const res = await this.client.request(`/api/v1/nodes/${encodeURIComponent(name)}`);
    if (res.status === 404) return undefined;
    return ok<Node>(res, `reading node ${name}`);
  }

  async setUnschedulable(name: string, unschedulable: boolean): Promise<Node> {
    const res = await this.client.request(`/api/v1/nodes/${encodeURIComponent(name)}`, {
      method: 'PATCH',
      contentType: 'application/strategic-merge-patch+json',
      body: { spec: { unschedulable: unschedulable ? true : null } },
    });
    return ok<Node>(res, `${unschedulable ? 'cordoning' : 'uncordoning'} node ${name}`);
  }

  async podsOn(node: string): Promise<Pod[]> {
    const res = await this.client.request(`/api/v1/pods?fieldSelector=${encodeURIComponent(`spec.nodeName=${node}`)}`);
    return ok<{ items: Pod[] }>(res, `listing the pods of node ${node}`).items;
  }

  async getPod(namespace: string, name: string): Promise<Pod | undefined> {
    const res = await this.client.request(`/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}`);
    if (res.status === 404) return undefined;
    return ok<Pod>(res, `reading pod ${namespace}/${name}`);
  }

  async daemonSetExists(namespace: string, name: string): Promise<boolean> {
    const res = await this.client.request(`/apis/apps/v1/namespaces/${encodeURIComponent(namespace)}/daemonsets/${encodeURIComponent(name)}`);
    if (res.status === 404) return false;
    ok(res, `reading daemonset ${namespace}/${name}`);
    return true;
  }

  async evict(pod: Pod, opts: { gracePeriodSeconds?: number }): Promise<EvictOutcome> {
    const ns = pod.metadata.namespace ?? 'default';
    const name = pod.metadata.name;
    const res = await this.client.request(`/api/v1/namespaces/${encodeURIComponent(ns)}/pods/${encodeURIComponent(name)}/eviction`, {
      method: 'POST',
      body: {
        apiVersion: 'policy/v1',
        kind: 'Eviction',
        metadata: { name, namespace: ns },
        ...(opts.gracePeriodSeconds !== undefined ? { deleteOptions: { gracePeriodSeconds: opts.gracePeriodSeconds } } : {}),
      },
    });
    if (res.status === 404) return { result: 'gone' };
    if (res.status === 429) {
      const st = res.body as { message?: string; details?: { causes?: { message?: string }[] } } | undefined;
      const cause = st?.details?.causes?.map((c) => c.message).filter(Boolean).join('; ');
      return { result: 'blocked', message: cause || st?.message || 'the eviction was refused for now (429)' };
    }
    ok(res, `evicting pod ${ns}/${name}`);
    return { result: 'evicted' };
  }
}

/** The body of a successful answer, or a GantryError with the server's message. */
function ok<T>(res: { status: number; body: unknown }, what: string): T {
  if (res.status >= 200 && res.status < 300) return res.body as T;
  const message = (res.body as { message?: string } | undefined)?.message ?? (typeof res.body === 'string' ? res.body : `HTTP ${res.status}`);
  const code = res.status === 404 ? 'NotFound' : res.status === 401 || res.status === 403 ? 'AuthFailed' : res.status === 409 ? 'Conflict' : res.status === 400 || res.status === 422 ? 'InvalidArgument' : 'Internal';
  throw new GantryError(code, `${what}: ${message} (${res.status})`);
}

/** Options shared by the three commands. */
export interface NodeCommandOptions extends RemoteOptions {
  dataDir: string;
  /** Where progress lines go; default stdout. */
  write?: (line: string) => void;
  /** The API to use; default one for the options' server (tests pass a fake). */
  api?: DrainApi;
}

/** Options of {@link runDrain}. */
export interface DrainOptions extends NodeCommandOptions {
  /** Leave DaemonSet pods on the node instead of refusing. */
  ignoreDaemonsets?: boolean;
  /** Evict pods without a controller too. */
  force?: boolean;
  /** Evict pods whose emptyDir data is lost with them too. */
  deleteEmptydirData?: boolean;
  /** Seconds each pod gets to stop; default (negative or unset) its own terminationGracePeriodSeconds. */
  gracePeriod?: number;
  /** Give up after this many seconds (0 or unset: never, as kubectl). */
  timeout?: number;
  /** Milliseconds between retries of an eviction a budget refused (default 5000, as kubectl). */
  retryIntervalMs?: number;
  /** Milliseconds between checks that an evicted pod is gone (default 1000). */
  pollIntervalMs?: number;
  signal?: AbortSignal;
}

/** The API the options name, or the local gantry's through `<data-dir>/kubeconfig`. */
async function apiFor(o: NodeCommandOptions, command: string): Promise<DrainApi> {
  if (o.api) return o.api;
  return new KubeDrainApi(new ApiClient(await serverEndpoint(o, command)));
}

const out = (o: NodeCommandOptions): ((line: string) => void) => o.write ?? ((line) => process.stdout.write(`${line}\n`));

/** Cordons (true) or uncordons (false) a node, printing what kubectl prints. */
async function setCordon(api: DrainApi, node: string, unschedulable: boolean, write: (l: string) => void): Promise<void> {
  const current = await api.getNode(node);
  if (!current) throw new GantryError('NotFound', `node "${node}" not found: gantry get nodes lists them`);
  if ((current.spec?.unschedulable === true) === unschedulable) {
    write(`node/${node} already ${unschedulable ? 'cordoned' : 'uncordoned'}`);
    return;
  }
  await api.setUnschedulable(node, unschedulable);
  write(`node/${node} ${unschedulable ? 'cordoned' : 'uncordoned'}`);
}

/** `gantry cordon NODE`: no new pods are scheduled there. */
export async function runCordon(node: string, o: NodeCommandOptions): Promise<{ output: string; exitCode: number }> {
  await setCordon(await apiFor(o, 'cordon'), node, true, out(o));
  return { output: '', exitCode: 0 };
}

/** `gantry uncordon NODE`: the node takes pods again. */
export async function runUncordon(node: string, o: NodeCommandOptions): Promise<{ output: string; exitCode: number }> {
  await setCordon(await apiFor(o, 'uncordon'), node, false, out(o));
  return { output: '', exitCode: 0 };
}

/** Which of a node's pods a drain evicts, which it leaves, and what stops it. */
export interface DrainPlan {
  evict: Pod[];
  /** Lines printed before evicting (pods left or evicted despite their kind). */
  warnings: string[];
  /** Reasons the drain refuses, each naming its pods; empty when it may go ahead. */
  errors: string[];
}

const podName = (p: Pod): string => `${p.metadata.namespace ?? 'default'}/${p.metadata.name}`;

/** Sorts a node's pods into evicted, left and refused, by kubectl's filters (mirror, DaemonSet, emptyDir, no controller). */
export async function planDrain(pods: readonly Pod[], api: Pick<DrainApi, 'daemonSetExists'>, o: Pick<DrainOptions, 'ignoreDaemonsets' | 'force' | 'deleteEmptydirData'>): Promise<DrainPlan> {
  const evict: Pod[] = [];
  const groups = { ds: [] as string[], dsGone: [] as string[], local: [] as string[], unmanaged: [] as string[] };
  for (const pod of pods) {
    if (pod.metadata.annotations?.['kubernetes.io/config.mirror'] !== undefined) continue;
    const ref = pod.metadata.ownerReferences?.find((r) => r.controller === true);
    if (ref?.kind === 'DaemonSet') {
      const exists = await api.daemonSetExists(pod.metadata.namespace ?? 'default', ref.name);
      if (!exists && !o.force) {
        groups.dsGone.push(podName(pod));
        continue;
      }
      if (exists) {
        groups.ds.push(podName(pod));
        continue;
      }
    }
    const finished = pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
    if (!finished && pod.spec.volumes?.some((v) => v.emptyDir !== undefined)) groups.local.push(podName(pod));
    if (!finished && !ref) groups.unmanaged.push(podName(pod));
    evict.push(pod);
  }
  const warnings: string[] = [];
  const errors: string[] = [];
  if (groups.dsGone.length) errors.push(`cannot delete Pods whose DaemonSet is gone (use --force to override): ${groups.dsGone.join(', ')}`);
  if (groups.ds.length) {
    if (o.ignoreDaemonsets) warnings.push(`Warning: ignoring DaemonSet-managed Pods: ${groups.ds.join(', ')}`);
    else errors.push(`cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore): ${groups.ds.join(', ')}`);
  }
  if (groups.local.length) {
    if (o.deleteEmptydirData) warnings.push(`Warning: deleting Pods with local storage: ${groups.local.join(', ')}`);
    else errors.push(`cannot delete Pods with local storage (use --delete-emptydir-data to override): ${groups.local.join(', ')}`);
  }
  if (groups.unmanaged.length) {
    if (o.force) warnings.push(`Warning: deleting Pods that declare no controller: ${groups.unmanaged.join(', ')}`);
    else errors.push(`cannot delete Pods that declare no controller (use --force to override): ${groups.unmanaged.join(', ')}`);
  }
  return { evict: errors.length ? [] : evict, warnings, errors };
}

/** `gantry drain NODE`: cordon, then evict the node's pods within their disruption budgets. */
export async function runDrain(node: string, o: DrainOptions): Promise<{ output: string; exitCode: number }> {
  const api = await apiFor(o, 'drain');
  const write = out(o);
  const timeoutMs = o.timeout && o.timeout > 0 ? o.timeout * 1000 : undefined;
  const deadline = timeoutMs !== undefined ? Date.now() + timeoutMs : Infinity;
  const retryMs = o.retryIntervalMs ?? 5000;
  const pollMs = o.pollIntervalMs ?? 1000;
  const grace = o.gracePeriod !== undefined && o.gracePeriod >= 0 ? o.gracePeriod : undefined;
  await setCordon(api, node, true, write);
  const plan = await planDrain(await api.podsOn(node), api, o);
  for (const w of plan.warnings) write(w);
  if (plan.errors.length) {
    throw new GantryError('InvalidArgument', `cannot drain node "${node}" (it stays cordoned): ${plan.errors.join('; ')}`);
  }
  /** What each pod still waits for, for the timeout's message. */
  const pending = new Map<string, string>();
  const timedOut = (): boolean => Date.now() >= deadline || o.signal?.aborted === true;
  const pause = (ms: number): Promise<void> => sleep(Math.max(0, Math.min(ms, deadline - Date.now())), undefined, o.signal ? { signal: o.signal } : {}).catch(() => undefined);

  const drainOne = async (pod: Pod): Promise<boolean> => {
    const name = podName(pod);
    pending.set(name, 'evicting');
    write(`evicting pod ${name}`);
    let lastBlock = '';
    for (;;) {
      const res = await api.evict(pod, grace !== undefined ? { gracePeriodSeconds: grace } : {});
      if (res.result === 'gone') break;
      if (res.result === 'evicted') {
        pending.set(name, 'terminating');
        break;
      }
      pending.set(name, `blocked: ${res.message}`);
      if (res.message !== lastBlock) {
        write(`cannot evict pod ${name} yet: ${res.message} (a PodDisruptionBudget; retrying every ${retryMs >= 1000 ? `${Math.round(retryMs / 1000)}s` : `${retryMs}ms`})`);
        lastBlock = res.message;
      }
      if (timedOut()) return false;
      await pause(retryMs);
      if (timedOut()) return false;
    }
    // Gone when the object is gone, or replaced by another of the same name (a StatefulSet's).
    for (;;) {
      const now = await api.getPod(pod.metadata.namespace ?? 'default', pod.metadata.name);
      if (!now || now.metadata.uid !== pod.metadata.uid) break;
      if (timedOut()) return false;
      await pause(pollMs);
    }
    pending.delete(name);
    write(`pod/${pod.metadata.name} evicted`);
    return true;
  };

  const results = await Promise.all(plan.evict.map(drainOne));
  if (results.every(Boolean)) {
    write(`node/${node} drained`);
    return { output: '', exitCode: 0 };
  }
  const left = [...pending].map(([name, what]) => `${name} (${what})`).join(', ');
  const why = o.signal?.aborted ? 'interrupted' : `did not complete within ${o.timeout}s`;
  throw new GantryError('Timeout', `drain of node "${node}" ${why}; the node stays cordoned; pods left: ${left}`, { disposition: 'stalled' });
}
