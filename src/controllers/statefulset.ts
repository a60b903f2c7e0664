/**
 * The StatefulSet controller: pods `<name>-0 … <name>-(N-1)` with stable identity, as
 * Kubernetes' statefulset controller runs them. One reconcile:
 *
 * 1. claim pods by selector; sort them into replicas (ordinal < N) and condemned (ordinal ≥ N);
 * 2. revisions: updateRevision = `<name>-<hash of the template>`; currentRevision from status;
 * 3. replicas in ordinal order: create missing pods, delete failed or succeeded ones (they are
 *    recreated with the same name); with OrderedReady each pod must be Running and Ready
 *    before the next is created (Parallel does not wait);
 * 4. condemned pods in reverse ordinal order, one at a time with OrderedReady and only while
 *    every other pod is healthy;
 * 5. RollingUpdate: from the highest ordinal down to `partition`, delete one pod not at the
 *    update revision, and only while all pods are Running and Ready (it comes back at the new
 *    revision); OnDelete: pods change only when deleted by someone else;
 * 6. status once (replicas, readyReplicas, availableReplicas, currentReplicas, updatedReplicas,
 *    currentRevision, updateRevision, observedGeneration).
 *
 * Pods get labels `statefulset.kubernetes.io/pod-name`, `apps.kubernetes.io/pod-index` and
 * `controller-revision-hash` (the revision name), `hostname` = pod name and `subdomain` =
 * serviceName, and a volume per volumeClaimTemplate naming the pod's claim
 * `<template>-<sts>-<ordinal>`, a PersistentVolumeClaim created before the pod and kept by the
 * retention policy (see statefulset-claims.ts).
 *
 * gantry keeps no ControllerRevision objects: a pod below the partition that must be recreated
 * uses the template of a surviving pod at the current revision, else the update template.
 */
import { errorMessage, isGantryError } from '../errors.js';
import { parseKey } from '../model/keys.js';
import type { Pod, PodSpec, StatefulSet, Volume } from '../model/types.js';
import { podTemplateHash } from './deployment/hash.js';
import { copy, updateIfChanged } from './objects.js';
import { claim, controllerReferenceTo, podToOwners, validateSelector } from './ownership.js';
import { deletePod, isPodAvailable, isPodReady } from './pods.js';
import { controllerRef, type Controller, type ReconcileContext, type Result, type Watch } from './runtime.js';
import { claimName, claimToStatefulSets, ensureClaims, updateClaimOwners } from './statefulset-claims.js';
import { admissionWatches, createAdmittedPod } from './admission.js';

export { claimName } from './statefulset-claims.js';

/** Label with the pod's own name (Services can select one replica). */
export const POD_NAME_LABEL = 'statefulset.kubernetes.io/pod-name';
/** Label with the pod's ordinal. */
export const POD_INDEX_LABEL = 'apps.kubernetes.io/pod-index';
/** Label with the revision a pod was made from (StatefulSet: `<name>-<hash>`; DaemonSet: `<hash>`). */
export const CONTROLLER_REVISION_HASH_LABEL = 'controller-revision-hash';
/** The ordinal of a pod named `<sts>-<n>`, or undefined. */
export function ordinalOf(stsName: string, podName: string): number | undefined {
  if (!podName.startsWith(`${stsName}-`)) return undefined;
  const rest = podName.slice(stsName.length + 1);
  return /^(0|[1-9]\d*)$/.test(rest) ? Number(rest) : undefined;
}

/** Running, Ready and not terminating (Kubernetes' isRunningAndReady + !isTerminating). */
function isHealthy(p: Pod): boolean {
  return p.status?.phase === 'Running' && isPodReady(p) && !p.metadata.deletionTimestamp;
}

function isFinished(p: Pod): boolean {
  return p.status?.phase === 'Failed' || p.status?.phase === 'Succeeded';
}

function revisionOf(p: Pod): string | undefined {
  return p.metadata.labels?.[CONTROLLER_REVISION_HASH_LABEL];
}

/** Runs StatefulSets. */
export class StatefulSetController implements Controller {
  readonly name = 'statefulset';
  readonly kinds = ['StatefulSet'] as const;
  readonly watches: readonly Watch[] = [
    { kind: 'Pod', keys: podToOwners('StatefulSet') },
    { kind: 'PersistentVolumeClaim', keys: claimToStatefulSets },
    // Cached for the default class of new claims.
    { kind: 'StorageClass', keys: () => [] },
    ...admissionWatches('StatefulSet'),
  ];

  async reconcile(key: string, ctx: ReconcileContext): Promise<Result | void> {
    const sts = ctx.cache.get<StatefulSet>(parseKey(key));
    if (!sts || sts.metadata.deletionTimestamp) return;
    validateSelector(sts, 'run');
    const ns = sts.metadata.namespace;
    const name = sts.metadata.name;
    const candidates = ctx.cache.list<Pod>('Pod', { namespace: ns });
    const pods = await claim(sts, candidates, { selector: sts.spec.selector, store: ctx.store, origin: ctx.origin });
    const replicas = sts.spec.replicas ?? 1;
    const updateRevision = `${name}-${podTemplateHash(sts.spec.template)}`;
    const currentRevision = sts.status?.currentRevision ?? updateRevision;
    const ordered = (sts.spec.podManagementPolicy ?? 'OrderedReady') === 'OrderedReady';
    const rolling = (sts.spec.updateStrategy?.type ?? 'RollingUpdate') === 'RollingUpdate';
    const partition = rolling ? sts.spec.updateStrategy?.rollingUpdate?.partition ?? 0 : 0;

    const slots: (Pod | undefined)[] = Array.from({ length: replicas });
    const condemned: Pod[] = [];
    for (const p of pods) {
      const ord = ordinalOf(name, p.metadata.name);
      if (ord === undefined) continue;
      if (ord < replicas) slots[ord] = p;
      else condemned.push(p);
    }
    condemned.sort((a, b) => ordinalOf(name, b.metadata.name)! - ordinalOf(name, a.metadata.name)!);
    const origin = (reason: string) => ({ ...ctx.origin, reason });
    const revisionFor = (ord: number): string => (rolling && ord < partition ? currentRevision : updateRevision);
    const templateFor = (rev: string): PodSpec => {
      if (rev !== updateRevision) {
        const donor = pods.find((p) => revisionOf(p) === rev && !p.metadata.deletionTimestamp);
        if (donor) return donor.spec;
      }
      return sts.spec.template.spec;
    };

    // Claims follow the retention policy before any pod goes: a condemned pod owns its claims
    // (whenScaled Delete) by the time it is deleted.
    await updateClaimOwners(sts, pods.map((pod) => ({ pod, ordinal: ordinalOf(name, pod.metadata.name) })).filter((x): x is { pod: Pod; ordinal: number } => x.ordinal !== undefined), ctx);
    for (let ord = 0; ord < replicas; ord++) {
      const p = slots[ord];
      if (p && !p.metadata.deletionTimestamp) await ensureClaims(sts, ord, ctx, { existingPod: true });
    }

    const step = async (): Promise<void> => {
      // Replicas, in order.
      for (let ord = 0; ord < replicas; ord++) {
        const p = slots[ord];
        if (!p) {
          const rev = revisionFor(ord);
          slots[ord] = await createPod(sts, ord, rev, templateFor(rev), ctx);
          if (ordered) return;
          continue;
        }
        if (isFinished(p)) {
          // Failed or succeeded: delete; the next pass recreates it under the same name.
          await deletePod(ctx.store, p, { origin: origin(`pod ${p.metadata.name} ${p.status?.phase}: recreate`), now: ctx.now });
          if (ordered) return;
          continue;
        }
        if (ordered && !isHealthy(p)) return;
      }
      // Condemned, highest ordinal first.
      const unhealthy = [...slots, ...condemned].filter((p): p is Pod => !!p && !isHealthy(p));
      for (const p of condemned) {
        if (p.metadata.deletionTimestamp) {
          if (ordered) return;
          continue;
        }
        if (ordered && unhealthy.some((u) => u !== p)) return;
        await scaleDown(sts, p, ctx);
        if (ordered) return;
      }
      if (!rolling) return;
      // Rolling update, highest ordinal first, one at a time, only while everything is healthy.
      if (slots.some((p) => !p || !isHealthy(p))) return;
      for (let ord = replicas - 1; ord >= partition; ord--) {
        const p = slots[ord]!;
        if (revisionOf(p) !== updateRevision) {
          await deletePod(ctx.store, p, { origin: origin(`rolling update of ${name} to ${updateRevision}`), now: ctx.now });
          return;
        }
      }
    };
    await step();

    const live = ctx.cache.list<Pod>('Pod', { namespace: ns }).filter((p) => controllerRef(p)?.uid === sts.metadata.uid && ordinalOf(name, p.metadata.name) !== undefined && !p.metadata.deletionTimestamp);
    const now = ctx.now();
    const minReady = sts.spec.minReadySeconds ?? 0;
    const status: NonNullable<StatefulSet['status']> = {
      observedGeneration: sts.metadata.generation,
      replicas: live.length,
      readyReplicas: live.filter(isPodReady).length,
      availableReplicas: live.filter((p) => isPodAvailable(p, minReady, now)).length,
      currentReplicas: live.filter((p) => revisionOf(p) === currentRevision).length,
      updatedReplicas: live.filter((p) => revisionOf(p) === updateRevision).length,
      currentRevision,
      updateRevision,
      ...(sts.status?.conditions ? { conditions: sts.status.conditions.map((c) => ({ ...c })) } : {}),
    };
    // The rollout is complete once every replica is at the update revision.
    if (status.updatedReplicas === replicas && live.length === replicas) {
      status.currentRevision = updateRevision;
      status.currentReplicas = status.updatedReplicas;
    }
    await updateIfChanged(ctx.store, sts, { ...copy(sts), status }, { origin: origin(`status of StatefulSet ${name}`) });
  }
}

/** The pod of ordinal `ord` at revision `rev` (Kubernetes' newVersionedStatefulSetPod). */
export function statefulSetPod(sts: StatefulSet, ord: number, rev: string, spec: PodSpec): Pod {
  const name = `${sts.metadata.name}-${ord}`;
  const tpl = sts.spec.template;
  const podSpec = copy(spec);
  delete podSpec.nodeName;
  podSpec.hostname = name;
  if (sts.spec.serviceName) podSpec.subdomain = sts.spec.serviceName;
  const claims: Volume[] = (sts.spec.volumeClaimTemplates ?? []).map((c) => ({
    name: c.metadata.name,
    persistentVolumeClaim: { claimName: claimName(c.metadata.name, sts.metadata.name, ord) },
  }));
  if (claims.length > 0) {
    const names = new Set(claims.map((c) => c.name));
    podSpec.volumes = [...(podSpec.volumes ?? []).filter((v) => !names.has(v.name)), ...claims];
  }
  const annotations: Record<string, string> = { ...(tpl.metadata?.annotations ?? {}) };
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: sts.metadata.namespace,
      labels: { ...(tpl.metadata?.labels ?? {}), [POD_NAME_LABEL]: name, [POD_INDEX_LABEL]: String(ord), [CONTROLLER_REVISION_HASH_LABEL]: rev },
      ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
      ownerReferences: [controllerReferenceTo(sts)],
    },
    spec: podSpec,
  };
}

async function createPod(sts: StatefulSet, ord: number, rev: string, spec: PodSpec, ctx: ReconcileContext): Promise<Pod | undefined> {
  await ensureClaims(sts, ord, ctx);
  const pod = statefulSetPod(sts, ord, rev, spec);
  try {
    return await createAdmittedPod(pod, ctx, { reason: `create pod ${ord} of StatefulSet ${sts.metadata.name}` });
  } catch (err) {
    // The old pod of that name is still being removed (or the cache lags): the watch retries.
    if (isGantryError(err, 'AlreadyExists')) return undefined;
    ctx.events.emit(sts, 'Warning', 'FailedCreate', `create Pod ${pod.metadata.name} in StatefulSet ${sts.metadata.name} failed error: ${errorMessage(err)}`);
    throw err;
  }
}

/** Deletes a condemned pod (its claims already carry the owners the retention policy gives them). */
async function scaleDown(sts: StatefulSet, pod: Pod, ctx: ReconcileContext): Promise<void> {
  const origin = { ...ctx.origin, reason: `scale down StatefulSet ${sts.metadata.name} to ${sts.spec.replicas ?? 1}` };
  await deletePod(ctx.store, pod, { origin, now: ctx.now });
}
