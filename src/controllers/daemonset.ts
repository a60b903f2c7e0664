/**
 * The DaemonSet controller: one pod per eligible node, as Kubernetes' daemon controller runs it.
 *
 * Eligibility (Kubernetes' NodeShouldRunDaemonPod): the template's nodeSelector and required
 * node affinity match the node, and its tolerations — plus the ones Kubernetes adds to every
 * daemon pod, {@link DAEMON_TOLERATIONS} — tolerate the node's NoSchedule and NoExecute taints.
 * A pod already on a node with an untolerated NoSchedule taint may stay; an untolerated
 * NoExecute taint removes it.
 *
 * Placement: as Kubernetes does since 1.12, the controller does not bind pods itself. Each pod
 * gets a required node affinity term `matchFields: metadata.name In [<node>]` (replacing the
 * template's required terms, which the controller already evaluated) and the default scheduler
 * binds it (gantry's scheduler supports matchFields on metadata.name).
 *
 * One reconcile: claim pods → per node create the missing pod, delete failed pods, extra pods
 * and pods on nodes that should not run one → RollingUpdate (maxUnavailable, default 1: delete
 * old-revision pods while at most that many nodes lack an available updated pod; unavailable
 * old pods go first) → status once. Pods carry `controller-revision-hash` (the template hash).
 * maxSurge is not supported (its default, 0, is what gantry does).
 */
import { errorMessage, GantryError, isGantryError } from '../errors.js';
import { objectKey, parseKey } from '../model/keys.js';
import type { DaemonSet, Node, NodeSelectorTerm, Pod, PodSpec, Taint, Toleration } from '../model/types.js';
import { nodeSelectorTermMatches } from '../scheduler/plugins/node-affinity.js';
import { toleratesTaint } from '../scheduler/plugins/taint-toleration.js';
import type { CacheEvent, CacheReader } from './cache.js';
import { podTemplateHash } from './deployment/hash.js';
import { Expectations } from './expectations.js';
import { copy, sameJson, updateIfChanged } from './objects.js';
import { claim, controllerReferenceTo, podToOwners, validateSelector } from './ownership.js';
import { deletePod, isPodActive, isPodAvailable, isPodReady, msUntilAvailable } from './pods.js';
import { randomSuffix } from '../model/generate-name.js';
import type { Controller, ReconcileContext, Result, Watch } from './runtime.js';
import { CONTROLLER_REVISION_HASH_LABEL } from './statefulset.js';
import { DAEMON_TOLERATIONS } from '../model/tolerations.js';
import { admissionWatches, createAdmittedPod } from './admission.js';

export { DAEMON_TOLERATIONS };

/** Whether a daemon pod should be created on / may keep running on a node. */
export interface NodeFit {
  shouldRun: boolean;
  shouldContinueRunning: boolean;
}

/** Kubernetes' NodeShouldRunDaemonPod for a template spec and a node. */
export function nodeShouldRunDaemonPod(spec: PodSpec, node: Node): NodeFit {
  const labels = node.metadata.labels ?? {};
  const name = node.metadata.name;
  const no = { shouldRun: false, shouldContinueRunning: false };
  for (const [k, v] of Object.entries(spec.nodeSelector ?? {})) if (labels[k] !== v) return no;
  const terms = spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  if (terms && !terms.some((t) => nodeSelectorTermMatches(t, labels, name))) return no;
  const tolerations = withDaemonTolerations(spec.tolerations);
  const untolerated = (t: Taint): boolean => !tolerations.some((tol) => toleratesTaint(tol, t));
  const taints = node.spec.taints ?? [];
  if (taints.some((t) => t.effect === 'NoExecute' && untolerated(t))) return no;
  const noSchedule = taints.some((t) => t.effect === 'NoSchedule' && untolerated(t));
  return { shouldRun: !noSchedule, shouldContinueRunning: true };
}

/** The template's tolerations plus the daemon ones it lacks. */
export function withDaemonTolerations(tolerations: readonly Toleration[] | undefined): Toleration[] {
  const out = [...(tolerations ?? [])];
  for (const t of DAEMON_TOLERATIONS) {
    if (!out.some((o) => o.key === t.key && o.effect === t.effect && (o.operator ?? 'Equal') === t.operator)) out.push({ ...t });
  }
  return out;
}

/** The node a daemon pod is for: its binding, else its matchFields metadata.name term. */
export function targetNode(pod: Pod): string | undefined {
  if (pod.spec.nodeName) return pod.spec.nodeName;
  for (const t of pod.spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? []) {
    for (const f of t.matchFields ?? []) if (f.key === 'metadata.name' && f.operator === 'In' && f.values?.length === 1) return f.values[0];
  }
  return undefined;
}

/** Runs DaemonSets. */
export class DaemonSetController implements Controller {
  readonly name = 'daemonset';
  readonly kinds = ['DaemonSet'] as const;
  readonly watches: readonly Watch[] = [
    { kind: 'Pod', keys: podToOwners('DaemonSet') },
    { kind: 'Node', keys: nodeToDaemonSets },
    ...admissionWatches('DaemonSet'),
  ];
  readonly expectations = new Expectations();

  observe(ev: CacheEvent): void {
    this.expectations.observePod(ev, 'DaemonSet');
  }

  async reconcile(key: string, ctx: ReconcileContext): Promise<Result | void> {
    const ds = ctx.cache.get<DaemonSet>(parseKey(key));
    if (!ds) {
      this.expectations.delete(key);
      return;
    }
    if (ds.metadata.deletionTimestamp) return;
    validateSelector(ds, 'run');
    const hash = podTemplateHash(ds.spec.template);
    const candidates = ctx.cache.list<Pod>('Pod', { namespace: ds.metadata.namespace });
    const pods = (await claim(ds, candidates, { selector: ds.spec.selector, store: ctx.store, origin: ctx.origin })).filter((p) => !p.metadata.deletionTimestamp);
    const nodes = ctx.cache.list<Node>('Node');
    const byNode = new Map<string, Pod[]>();
    for (const p of pods) {
      const n = targetNode(p) ?? '';
      byNode.set(n, [...(byNode.get(n) ?? []), p]);
    }
    const now = ctx.now();
    const minReady = ds.spec.minReadySeconds ?? 0;
    const fits = new Map(nodes.map((n) => [n.metadata.name, nodeShouldRunDaemonPod(ds.spec.template.spec, n)]));

    if (this.expectations.satisfied(key)) {
      const create: string[] = [];
      const remove: Pod[] = [];
      for (const node of nodes) {
        const name = node.metadata.name;
        const fit = fits.get(name)!;
        const onNode = byNode.get(name) ?? [];
        if (fit.shouldRun && onNode.length === 0) create.push(name);
        else if (!fit.shouldContinueRunning) remove.push(...onNode);
        else {
          const failed = onNode.filter((p) => p.status?.phase === 'Failed' || p.status?.phase === 'Succeeded');
          remove.push(...failed);
          const running = onNode.filter((p) => !failed.includes(p)).sort((a, b) => created(a) - created(b));
          // Keep one: prefer a pod already at the current revision, else the oldest.
          const keep = running.find((p) => p.metadata.labels?.[CONTROLLER_REVISION_HASH_LABEL] === hash) ?? running[0];
          remove.push(...running.filter((p) => p !== keep));
        }
      }
      // Pods for nodes that do not exist (deleted nodes, or no target at all).
      const known = new Set(nodes.map((n) => n.metadata.name));
      for (const [n, ps] of byNode) if (!known.has(n)) remove.push(...ps);
      if (remove.length === 0 && create.length === 0) remove.push(...this.rollingUpdateVictims(ds, hash, nodes, fits, byNode, now));
      await this.apply(key, ds, hash, create, remove, ctx);
    }

    const status = computeStatus(ds, hash, nodes, fits, byNode, now);
    await updateIfChanged(ctx.store, ds, { ...copy(ds), status }, { origin: { ...ctx.origin, reason: `status of DaemonSet ${ds.metadata.name}` } });
    if (minReady > 0) {
      const waits = pods.map((p) => msUntilAvailable(p, minReady, now)).filter((x): x is number => x !== undefined);
      if (waits.length > 0) return { requeueAfter: Math.min(...waits) + 1 };
    }
  }

  /** Old-revision pods to delete now under maxUnavailable (Kubernetes' rollingUpdate). */
  private rollingUpdateVictims(ds: DaemonSet, hash: string, nodes: Node[], fits: Map<string, NodeFit>, byNode: Map<string, Pod[]>, now: number): Pod[] {
    if ((ds.spec.updateStrategy?.type ?? 'RollingUpdate') !== 'RollingUpdate') return [];
    const minReady = ds.spec.minReadySeconds ?? 0;
    const desired = nodes.filter((n) => fits.get(n.metadata.name)!.shouldRun).length;
    const maxUnavailable = resolveMaxUnavailable(ds, desired);
    let unavailable = 0;
    const oldAvailable: Pod[] = [];
    const victims: Pod[] = [];
    for (const node of nodes) {
      const fit = fits.get(node.metadata.name)!;
      if (!fit.shouldRun) continue;
      const pod = (byNode.get(node.metadata.name) ?? []).find(isPodActive);
      if (!pod || !isPodAvailable(pod, minReady, now)) {
        unavailable++;
        if (pod && pod.metadata.labels?.[CONTROLLER_REVISION_HASH_LABEL] !== hash) victims.push(pod);
        continue;
      }
      if (pod.metadata.labels?.[CONTROLLER_REVISION_HASH_LABEL] !== hash) oldAvailable.push(pod);
    }
    // Unavailable old pods cost nothing to replace; available ones only within the budget.
    for (const pod of oldAvailable) {
      if (unavailable >= maxUnavailable) break;
      victims.push(pod);
      unavailable++;
    }
    return victims;
  }

  private async apply(key: string, ds: DaemonSet, hash: string, create: string[], remove: Pod[], ctx: ReconcileContext): Promise<void> {
    if (create.length === 0 && remove.length === 0) return;
    this.expectations.expectCreations(key, create.length);
    const results = await Promise.allSettled(create.map((n) => createDaemonPod(ds, hash, n, ctx)));
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed.length > 0) {
      this.expectations.creationObserved(key, failed.length);
      ctx.events.emit(ds, 'Warning', 'FailedCreate', `Error creating: ${errorMessage(failed[0]!.reason)}`);
    }
    for (const pod of remove) {
      await deletePod(ctx.store, pod, { origin: { ...ctx.origin, reason: `DaemonSet ${ds.metadata.name}: pod ${pod.metadata.name} is not wanted on ${targetNode(pod) ?? 'no node'}` }, now: ctx.now });
    }
    if (failed.length > 0) throw failed[0]!.reason;
  }
}

function created(p: Pod): number {
  return p.metadata.creationTimestamp ? Date.parse(p.metadata.creationTimestamp) : Number.POSITIVE_INFINITY;
}

/** maxUnavailable as a number of nodes (a percentage rounds up; at least 1). */
function resolveMaxUnavailable(ds: DaemonSet, desired: number): number {
  const v = ds.spec.updateStrategy?.rollingUpdate?.maxUnavailable ?? 1;
  let n: number;
  if (typeof v === 'number') n = v;
  else if (/^\d+%$/.test(v)) n = Math.ceil((Number(v.slice(0, -1)) * desired) / 100);
  else if (/^\d+$/.test(v)) n = Number(v);
  else throw new GantryError('InvalidManifest', `cannot roll out DaemonSet ${ds.metadata.namespace}/${ds.metadata.name}: maxUnavailable "${v}" is neither an integer nor a percentage`, { object: objectKey(ds), field: 'spec.updateStrategy.rollingUpdate.maxUnavailable' });
  return Math.max(1, n);
}

/** The daemon pod for a node: template + revision label + daemon tolerations + node affinity on the name. */
export function daemonPod(ds: DaemonSet, hash: string, nodeName: string): Pod {
  const tpl = ds.spec.template;
  const spec = copy(tpl.spec);
  spec.tolerations = withDaemonTolerations(spec.tolerations);
  const term: NodeSelectorTerm = { matchFields: [{ key: 'metadata.name', operator: 'In', values: [nodeName] }] };
  spec.affinity = {
    ...(spec.affinity ?? {}),
    nodeAffinity: { ...(spec.affinity?.nodeAffinity ?? {}), requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [term] } },
  };
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `${ds.metadata.name}-${randomSuffix()}`,
      namespace: ds.metadata.namespace,
      labels: { ...(tpl.metadata?.labels ?? {}), [CONTROLLER_REVISION_HASH_LABEL]: hash },
      ...(tpl.metadata?.annotations ? { annotations: { ...tpl.metadata.annotations } } : {}),
      ownerReferences: [controllerReferenceTo(ds)],
    },
    spec,
  };
}

async function createDaemonPod(ds: DaemonSet, hash: string, nodeName: string, ctx: ReconcileContext): Promise<Pod> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await createAdmittedPod(daemonPod(ds, hash, nodeName), ctx, { nameForMessage: `${ds.metadata.name}-`, reason: `DaemonSet ${ds.metadata.name} pod for node ${nodeName}` });
    } catch (err) {
      if (!isGantryError(err, 'AlreadyExists') || attempt >= 3) throw err;
    }
  }
}

function computeStatus(ds: DaemonSet, hash: string, nodes: Node[], fits: Map<string, NodeFit>, byNode: Map<string, Pod[]>, now: number): NonNullable<DaemonSet['status']> {
  const minReady = ds.spec.minReadySeconds ?? 0;
  let desired = 0, current = 0, misscheduled = 0, ready = 0, updated = 0, available = 0;
  for (const node of nodes) {
    const fit = fits.get(node.metadata.name)!;
    const pods = (byNode.get(node.metadata.name) ?? []).filter(isPodActive);
    if (fit.shouldRun) {
      desired++;
      if (pods.length === 0) continue;
      current++;
      const p = pods.find((x) => x.metadata.labels?.[CONTROLLER_REVISION_HASH_LABEL] === hash) ?? pods[0]!;
      if (isPodReady(p)) ready++;
      if (isPodAvailable(p, minReady, now)) available++;
      if (p.metadata.labels?.[CONTROLLER_REVISION_HASH_LABEL] === hash) updated++;
    } else if (pods.length > 0) misscheduled++;
  }
  return {
    observedGeneration: ds.metadata.generation,
    desiredNumberScheduled: desired,
    currentNumberScheduled: current,
    numberMisscheduled: misscheduled,
    numberReady: ready,
    updatedNumberScheduled: updated,
    numberAvailable: available,
    numberUnavailable: Math.max(0, desired - available),
    ...(ds.status?.conditions ? { conditions: ds.status.conditions.map((c) => ({ ...c })) } : {}),
  };
}

/**
 * Node labels, taints or existence change the eligibility of every DaemonSet; status-only updates
 * (heartbeats, every 10 s per node) do not, so they wake nothing.
 */
function nodeToDaemonSets(ev: CacheEvent, cache: CacheReader): Iterable<string> {
  if (ev.type === 'MODIFIED' && ev.prevObject && sameJson(ev.object.metadata.labels, ev.prevObject.metadata.labels) && sameJson(ev.object.spec, ev.prevObject.spec)) return [];
  return cache.list<DaemonSet>('DaemonSet').map((d) => objectKey(d));
}
