/**
 * Volumes in scheduling, after kube-scheduler's VolumeBinding and VolumeRestrictions plugins.
 *
 * VolumeBinding: a pod whose claim is missing or being deleted, or unbound with an Immediate
 * class, fits nowhere ("pod has unbound immediate PersistentVolumeClaims": it waits for the
 * binder); a bound claim admits only the nodes its volume's node affinity admits (a local-path
 * volume: its one node); an unbound WaitForFirstConsumer claim admits a node where a free volume
 * matches it (static hostPath/local volumes, by Kubernetes' matching rules) or where its class
 * can provision (the class's allowedTopologies, a provisioner that provisions). What binding
 * the chosen node needs — a free volume reserved for the claim, or the claim marked for
 * provisioning there — is {@link volumeBindingPlan}, written with the pod's bind.
 *
 * VolumeRestrictions: a ReadWriteOncePod claim used by another pod rejects the pod everywhere;
 * a ReadWriteOnce claim used by pods on one node admits only that node (the directory is
 * mounted read-write on one node at a time). ReadWriteMany and ReadOnlyMany claims are shared.
 */
import {
  ANN_BETA_STORAGE_PROVISIONER, ANN_BOUND_BY_CONTROLLER, ANN_SELECTED_NODE, ANN_STORAGE_PROVISIONER, HOSTNAME_LABEL,
  findMatchingVolume, volumeFitsNode, waitsForFirstConsumer,
} from '../../model/storage.js';
import { nodeSelectorTermMatches } from '../../model/node-selector.js';
import type { PersistentVolume, PersistentVolumeClaim, StorageClass } from '../../model/types.js';
import type { NodeInfo, SchedulerCache } from '../cache.js';
import type { PodInfo } from '../podinfo.js';
import type { CycleState, FilterPlugin } from './types.js';

const REASON_BIND_CONFLICT = ["node(s) didn't find available persistent volumes to bind"] as const;
const REASON_NODE_CONFLICT = ['node(s) had volume node affinity conflict'] as const;
const REASON_PV_NOT_EXIST = ['node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)'] as const;
const REASON_RWO_ELSEWHERE = ['node(s) could not mount a ReadWriteOnce volume that pods on another node use'] as const;
/** Kubernetes' PreFilter message for a claim that must be bound before the pod is scheduled. */
export const UNBOUND_IMMEDIATE_CLAIMS = 'pod has unbound immediate PersistentVolumeClaims';
const RWOP_CONFLICT = 'node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode';

/** A pod's claims sorted by what scheduling must do about them. */
interface PodClaims {
  bound: { claim: PersistentVolumeClaim; volume: PersistentVolume | undefined }[];
  delayed: { claim: PersistentVolumeClaim; cls: StorageClass | undefined }[];
  /** Why the pod fits nowhere, if it does not. */
  reject?: string;
}

function sortClaims(pod: PodInfo, cache: SchedulerCache): PodClaims {
  const out: PodClaims = { bound: [], delayed: [] };
  const volumes = cache.volumes!;
  for (const key of pod.claims) {
    const name = key.slice(key.indexOf('/') + 1);
    const claim = volumes.claim(key);
    if (!claim) return { ...out, reject: `persistentvolumeclaim "${name}" not found` };
    if (claim.metadata.deletionTimestamp) return { ...out, reject: `persistentvolumeclaim "${name}" is being deleted` };
    if (claim.spec.volumeName) {
      out.bound.push({ claim, volume: volumes.volume(claim.spec.volumeName) });
      continue;
    }
    const cls = volumes.classOf(claim);
    if (!waitsForFirstConsumer(cls)) return { ...out, reject: UNBOUND_IMMEDIATE_CLAIMS };
    out.delayed.push({ claim, cls });
  }
  return out;
}

function claimsOf(state: CycleState): PodClaims {
  let c = state.data.get('VolumeBinding') as PodClaims | undefined;
  if (!c) state.data.set('VolumeBinding', (c = sortClaims(state.pod, state.cache)));
  return c;
}

/** True when the class can make a volume on the node. */
function canProvision(cls: StorageClass | undefined, node: NodeInfo): boolean {
  if (!cls || !cls.provisioner || cls.provisioner === 'kubernetes.io/no-provisioner') return false;
  const terms = cls.allowedTopologies ?? [];
  if (terms.length === 0) return true;
  return terms.some((t) => nodeSelectorTermMatches(
    { matchExpressions: (t.matchLabelExpressions ?? []).map((e) => ({ key: e.key, operator: 'In' as const, values: e.values })) },
    node.labels, node.name,
  ));
}

/**
 * For each delayed claim on this node: the free volume it would bind, or `provision`; undefined
 * when some claim can have neither.
 */
function delayedOn(claims: PodClaims, node: NodeInfo, cache: SchedulerCache): (PersistentVolume | 'provision')[] | undefined {
  const excluded = new Set<string>();
  const out: (PersistentVolume | 'provision')[] = [];
  const view = { name: node.name, labels: { [HOSTNAME_LABEL]: node.name, ...node.labels } };
  for (const { claim, cls } of claims.delayed) {
    const selected = claim.metadata.annotations?.[ANN_SELECTED_NODE];
    if (selected && selected !== node.name) return undefined;
    const pv = findMatchingVolume(claim, cache.volumes!.volumes(), { node: view, excluded });
    if (pv) {
      excluded.add(pv.metadata.name);
      out.push(pv);
    } else if (canProvision(cls, node)) {
      out.push('provision');
    } else {
      return undefined;
    }
  }
  return out;
}

/** The VolumeBinding filter. */
export const volumeBindingFilter: FilterPlugin = {
  name: 'VolumeBinding',
  preFilter(state) {
    return state.pod.claims.length > 0 && state.cache.volumes !== undefined;
  },
  rejectAll(state) {
    return claimsOf(state).reject;
  },
  filter(state, node) {
    const claims = claimsOf(state);
    const view = { name: node.name, labels: node.labels };
    for (const { volume } of claims.bound) {
      if (!volume) return REASON_PV_NOT_EXIST;
      if (!volumeFitsNode(volume, view)) return REASON_NODE_CONFLICT;
    }
    if (claims.delayed.length > 0 && !delayedOn(claims, node, state.cache)) return REASON_BIND_CONFLICT;
    return null;
  },
};

/** Access modes a claim asks for. */
function modesOf(claim: PersistentVolumeClaim): Set<string> {
  return new Set(claim.spec.accessModes ?? []);
}

/** Nodes a pod may use under its ReadWriteOnce claims (undefined: any), or a rejection. */
function restrictionsOf(state: CycleState): { nodes?: Set<string>; reject?: string } {
  let r = state.data.get('VolumeRestrictions') as { nodes?: Set<string>; reject?: string } | undefined;
  if (r) return r;
  r = {};
  for (const key of state.pod.claims) {
    const claim = state.cache.volumes!.claim(key);
    if (!claim) continue;
    const others = [...state.cache.claimUsers(key)].filter(([podKey]) => podKey !== state.pod.key);
    if (others.length === 0) continue;
    const modes = modesOf(claim);
    if (modes.has('ReadWriteOncePod')) {
      r = { reject: RWOP_CONFLICT };
      break;
    }
    if (modes.has('ReadWriteOnce') && !modes.has('ReadWriteMany') && !modes.has('ReadOnlyMany')) {
      const here = new Set(others.map(([, node]) => node));
      r.nodes = r.nodes ? new Set([...r.nodes].filter((n) => here.has(n))) : here;
    }
  }
  state.data.set('VolumeRestrictions', r);
  return r;
}

/** The VolumeRestrictions filter (ReadWriteOncePod and ReadWriteOnce claims in use). */
export const volumeRestrictionsFilter: FilterPlugin = {
  name: 'VolumeRestrictions',
  preFilter(state) {
    return state.pod.claims.length > 0 && state.cache.volumes !== undefined;
  },
  rejectAll(state) {
    return restrictionsOf(state).reject;
  },
  filter(state, node) {
    const nodes = restrictionsOf(state).nodes;
    return !nodes || nodes.has(node.name) ? null : REASON_RWO_ELSEWHERE;
  },
};

/** The writes binding the pod to `node` needs before the pod's own bind. */
export interface VolumeBindingPlan {
  /** Free volumes reserved for a claim (claimRef), which the PV controller then binds. */
  volumes: PersistentVolume[];
  /** Claims marked for provisioning on the node (`volume.kubernetes.io/selected-node`). */
  claims: PersistentVolumeClaim[];
}

/**
 * The bindings of the pod's WaitForFirstConsumer claims on the chosen node (Kubernetes'
 * AssumePodVolumes): copies to write, in the same transaction as the pod's bind. Empty when
 * every claim is bound already (or the cache has no volumes).
 */
export function volumeBindingPlan(pod: PodInfo, node: NodeInfo, cache: SchedulerCache): VolumeBindingPlan {
  const plan: VolumeBindingPlan = { volumes: [], claims: [] };
  if (pod.claims.length === 0 || !cache.volumes) return plan;
  const claims = sortClaims(pod, cache);
  if (claims.reject || claims.delayed.length === 0) return plan;
  const choices = delayedOn(claims, node, cache);
  if (!choices) return plan;
  claims.delayed.forEach(({ claim, cls }, i) => {
    const choice = choices[i]!;
    if (choice === 'provision') {
      if (claim.metadata.annotations?.[ANN_SELECTED_NODE] === node.name) return;
      const provisioner = cls?.provisioner ?? '';
      plan.claims.push({
        ...claim,
        metadata: { ...claim.metadata, annotations: { ...claim.metadata.annotations, [ANN_SELECTED_NODE]: node.name, [ANN_STORAGE_PROVISIONER]: provisioner, [ANN_BETA_STORAGE_PROVISIONER]: provisioner } },
      });
      return;
    }
    if (choice.spec.claimRef?.uid === claim.metadata.uid) return;
    plan.volumes.push({
      ...choice,
      metadata: { ...choice.metadata, annotations: { ...choice.metadata.annotations, [ANN_BOUND_BY_CONTROLLER]: 'yes' } },
      spec: {
        ...choice.spec,
        claimRef: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace: claim.metadata.namespace ?? 'default', name: claim.metadata.name, uid: claim.metadata.uid, resourceVersion: claim.metadata.resourceVersion },
      },
    });
  });
  return plan;
}
