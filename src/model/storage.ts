/**
 * Storage semantics shared by the PV controller, the local-path provisioner, the scheduler and
 * the node agent (pure: no I/O): the well-known annotations and finalizers, StorageClass
 * defaulting, and how a claim matches a volume — Kubernetes' rules
 * (pkg/controller/volume/persistentvolume: FindMatchingVolume, CheckAccessModes,
 * CheckVolumeModeMismatches), so a claim binds here to the volume it would bind to there.
 */
import { isManaged } from './annotations.js';
import { nodeSelectorTermsMatch } from './node-selector.js';
import { bytes } from './quantity.js';
import { matchesSelector } from './selectors.js';
import type {
  KubeObject, PersistentVolume, PersistentVolumeAccessMode, PersistentVolumeClaim, Pod, StorageClass, StringMap,
} from './types.js';

/** gantry's provisioner: a directory per claim on the node the claim's first pod runs on. */
export const LOCAL_PATH_PROVISIONER = 'gantry.dev/local-path';
/**
 * Provisioner names gantry's local-path provisioner answers to: its own, and Rancher's (k3s's
 * `local-path` class), so a repo written for k3s provisions the same way here.
 */
export const LOCAL_PATH_PROVISIONERS: ReadonlySet<string> = new Set([LOCAL_PATH_PROVISIONER, 'rancher.io/local-path']);
/** The StorageClass gantry creates at start (unless one of that name exists), marked default. */
export const LOCAL_PATH_CLASS = 'local-path';

/** Marks a StorageClass as the default one (value "true"). */
export const DEFAULT_CLASS_ANNOTATION = 'storageclass.kubernetes.io/is-default-class';
/** The beta spelling of {@link DEFAULT_CLASS_ANNOTATION}, still honoured by Kubernetes. */
export const BETA_DEFAULT_CLASS_ANNOTATION = 'storageclass.beta.kubernetes.io/is-default-class';
/** The beta form of `storageClassName`, still read by Kubernetes. */
export const BETA_STORAGE_CLASS_ANNOTATION = 'volume.beta.kubernetes.io/storage-class';

/** On a claim: the binding's first pass completed. */
export const ANN_BIND_COMPLETED = 'pv.kubernetes.io/bind-completed';
/** On a claim or volume: the binding was made by the controller, not declared by the user. */
export const ANN_BOUND_BY_CONTROLLER = 'pv.kubernetes.io/bound-by-controller';
/** On a claim: the node the scheduler chose for its first pod (WaitForFirstConsumer provisioning). */
export const ANN_SELECTED_NODE = 'volume.kubernetes.io/selected-node';
/** On a claim: the provisioner expected to make its volume. */
export const ANN_STORAGE_PROVISIONER = 'volume.kubernetes.io/storage-provisioner';
/** The beta spelling of {@link ANN_STORAGE_PROVISIONER}, written alongside it as Kubernetes does. */
export const ANN_BETA_STORAGE_PROVISIONER = 'volume.beta.kubernetes.io/storage-provisioner';
/** On a volume: the provisioner that made it. */
export const ANN_PROVISIONED_BY = 'pv.kubernetes.io/provisioned-by';

/** Holds a claim's deletion while a pod uses it. */
export const PVC_PROTECTION_FINALIZER = 'kubernetes.io/pvc-protection';
/** Holds a volume's deletion while it is bound. */
export const PV_PROTECTION_FINALIZER = 'kubernetes.io/pv-protection';
/** Holds a local-path volume's deletion until its node agent removed the directory. */
export const LOCAL_PATH_CLEANUP_FINALIZER = 'gantry.dev/local-path-cleanup';

/** Annotations the storage controllers and the scheduler write on claims and volumes (never the repo's). */
export const STORAGE_CONTROLLER_ANNOTATIONS: ReadonlySet<string> = new Set([
  ANN_BIND_COMPLETED, ANN_BOUND_BY_CONTROLLER, ANN_SELECTED_NODE, ANN_STORAGE_PROVISIONER, ANN_BETA_STORAGE_PROVISIONER, ANN_PROVISIONED_BY,
]);
/** Finalizers the API server (admission) and gantry's controllers put on objects; never the repo's. */
export const SYSTEM_FINALIZERS: ReadonlySet<string> = new Set([PVC_PROTECTION_FINALIZER, PV_PROTECTION_FINALIZER, LOCAL_PATH_CLEANUP_FINALIZER]);

/**
 * On a Node: the absolute directory its agent keeps local-path volumes in (`<data-dir>/storage`
 * on that machine), written by the agent, read by the provisioner.
 */
export const NODE_STORAGE_DIR_ANNOTATION = 'gantry.dev/local-path-dir';

/** Kubernetes' label for a node's name (local volumes' node affinity uses it). */
export const HOSTNAME_LABEL = 'kubernetes.io/hostname';

/** The class a claim asks for: undefined (the default class), '' (none) or a name. */
export function claimClass(pvc: PersistentVolumeClaim): string | undefined {
  const beta = pvc.metadata.annotations?.[BETA_STORAGE_CLASS_ANNOTATION];
  if (beta !== undefined) return beta;
  return pvc.spec.storageClassName ?? undefined;
}

/** The class a volume belongs to ('' for none). */
export function volumeClass(pv: PersistentVolume): string {
  return pv.metadata.annotations?.[BETA_STORAGE_CLASS_ANNOTATION] ?? pv.spec.storageClassName ?? '';
}

/** True when a StorageClass is marked default. */
export function isDefaultClass(sc: StorageClass): boolean {
  const a = sc.metadata.annotations;
  return a?.[DEFAULT_CLASS_ANNOTATION] === 'true' || a?.[BETA_DEFAULT_CLASS_ANNOTATION] === 'true';
}

/**
 * The default StorageClass, when one is marked. With several, Kubernetes takes the newest;
 * gantry first prefers one the repo declares over its own built-in `local-path`, so declaring
 * a default class in Git is enough to replace it.
 */
export function defaultStorageClass(classes: readonly StorageClass[]): StorageClass | undefined {
  const defaults = classes.filter((c) => isDefaultClass(c) && !c.metadata.deletionTimestamp);
  const pool = defaults.some((c) => isManaged(c.metadata)) ? defaults.filter((c) => isManaged(c.metadata)) : defaults;
  let best: StorageClass | undefined;
  for (const c of pool) {
    const t = c.metadata.creationTimestamp ?? '';
    const bt = best?.metadata.creationTimestamp ?? '';
    if (!best || t > bt || (t === bt && c.metadata.name < best.metadata.name)) best = c;
  }
  return best;
}

/** True when claims of this class are provisioned by gantry's local-path provisioner. */
export function isLocalPathClass(sc: StorageClass | undefined): boolean {
  return sc !== undefined && LOCAL_PATH_PROVISIONERS.has(sc.provisioner);
}

/** True when `binding mode` waits for a pod before binding or provisioning. */
export function waitsForFirstConsumer(sc: StorageClass | undefined): boolean {
  return sc?.volumeBindingMode === 'WaitForFirstConsumer';
}

const MODE_ORDER: PersistentVolumeAccessMode[] = ['ReadWriteOnce', 'ReadOnlyMany', 'ReadWriteMany', 'ReadWriteOncePod'];
const MODE_SHORT: Record<PersistentVolumeAccessMode, string> = { ReadWriteOnce: 'RWO', ReadOnlyMany: 'ROX', ReadWriteMany: 'RWX', ReadWriteOncePod: 'RWOP' };

/** Access modes as kubectl prints them: `RWO,ROX`, in Kubernetes' order, each once. */
export function accessModesShort(modes: readonly string[] | undefined): string {
  const set = new Set(modes ?? []);
  return MODE_ORDER.filter((m) => set.has(m)).map((m) => MODE_SHORT[m]).join(',');
}

/** True when the volume offers every access mode the claim asks for. */
export function hasAccessModes(volume: PersistentVolume, claim: PersistentVolumeClaim): boolean {
  const offered = new Set(volume.spec.accessModes ?? []);
  return (claim.spec.accessModes ?? []).every((m) => offered.has(m));
}

/**
 * True when a claim's volume may only be read: its only access mode is ReadOnlyMany (gantry
 * then mounts it read-only in every container, so writes fail with EROFS).
 */
export function isReadOnlyClaim(modes: readonly string[] | undefined): boolean {
  return (modes ?? []).length > 0 && (modes ?? []).every((m) => m === 'ReadOnlyMany');
}

/** The volume mode, `Filesystem` when unset. */
export function volumeModeOf(spec: { volumeMode?: string }): string {
  return spec.volumeMode ?? 'Filesystem';
}

/** Storage a claim asks for, in bytes. */
export function requestedBytes(pvc: PersistentVolumeClaim): number {
  return bytes(pvc.spec.resources?.requests?.storage);
}

/** Storage a volume holds, in bytes. */
export function capacityBytes(pv: PersistentVolume): number {
  return bytes(pv.spec.capacity?.storage);
}

/**
 * True when the volume is bound or pre-bound to this claim: its claimRef names the claim, and
 * its uid when the ref carries one.
 */
export function isVolumeBoundToClaim(pv: PersistentVolume, pvc: PersistentVolumeClaim): boolean {
  const ref = pv.spec.claimRef;
  if (!ref) return false;
  if (ref.name !== pvc.metadata.name || (ref.namespace ?? 'default') !== (pvc.metadata.namespace ?? 'default')) return false;
  return !ref.uid || ref.uid === pvc.metadata.uid;
}

/** A node as volume matching sees it. */
export interface NodeView {
  name: string;
  labels: StringMap;
}

/** True when the volume may be used on the node: it has no node affinity, or the node satisfies it. */
export function volumeFitsNode(pv: PersistentVolume, node: NodeView): boolean {
  const terms = pv.spec.nodeAffinity?.required?.nodeSelectorTerms;
  if (!terms) return true;
  return nodeSelectorTermsMatch(terms, { [HOSTNAME_LABEL]: node.name, ...node.labels }, node.name);
}

/** Options for {@link findMatchingVolume}. */
export interface MatchOptions {
  /** Scheduler path: the volume's node affinity must admit this node. */
  node?: NodeView;
  /** Scheduler path: volumes already chosen for another claim of the same pod. */
  excluded?: ReadonlySet<string>;
  /**
   * PV controller path for a WaitForFirstConsumer class: only a volume pre-bound to the claim
   * is returned; binding any other waits for the scheduler.
   */
  delayBinding?: boolean;
}

/**
 * The volume a claim binds to, as Kubernetes' FindMatchingVolume chooses it: a volume pre-bound
 * to the claim wins (unless its node affinity rejects the node); otherwise the smallest Available
 * volume of the claim's class with enough capacity, the same volume mode, every requested access
 * mode, labels matching the claim's selector and (with a node) an admitting node affinity.
 * Volumes being deleted or bound to another claim never match.
 */
export function findMatchingVolume(pvc: PersistentVolumeClaim, volumes: Iterable<PersistentVolume>, opts: MatchOptions = {}): PersistentVolume | undefined {
  const wanted = requestedBytes(pvc);
  const cls = claimClass(pvc) ?? '';
  let best: PersistentVolume | undefined;
  let bestSize = Infinity;
  for (const pv of volumes) {
    if (opts.excluded?.has(pv.metadata.name)) continue;
    const prebound = isVolumeBoundToClaim(pv, pvc);
    if (pv.spec.claimRef && !prebound) continue;
    const size = capacityBytes(pv);
    if (size < wanted) continue;
    if (volumeModeOf(pv.spec) !== volumeModeOf(pvc.spec)) continue;
    if (pv.metadata.deletionTimestamp) continue;
    const fits = !opts.node || volumeFitsNode(pv, opts.node);
    if (prebound) return fits ? pv : undefined;
    if (!opts.node && opts.delayBinding) continue;
    if ((pv.status?.phase ?? 'Pending') !== 'Available') continue;
    if (pvc.spec.selector && !matchesSelector(pvc.spec.selector, pv.metadata.labels)) continue;
    if (volumeClass(pv) !== cls) continue;
    if (!fits) continue;
    if (!hasAccessModes(pv, pvc)) continue;
    if (size < bestSize || (size === bestSize && best && pv.metadata.name < best.metadata.name)) {
      best = pv;
      bestSize = size;
    }
  }
  return best;
}

/** The claim names a pod's volumes refer to (in the pod's namespace). */
export function podClaimNames(pod: Pod): string[] {
  const out: string[] = [];
  for (const v of pod.spec.volumes ?? []) if (v.persistentVolumeClaim) out.push(v.persistentVolumeClaim.claimName);
  return out;
}

/**
 * True when the pod counts as using its claims (Kubernetes' pvc-protection rule): it is bound to
 * a node and has not finished. A terminating pod still uses them until its node removes it.
 */
export function podUsesClaims(pod: Pod): boolean {
  const phase = pod.status?.phase;
  return Boolean(pod.spec.nodeName) && phase !== 'Succeeded' && phase !== 'Failed';
}

/** True when gantry's local-path provisioner made this volume. */
export function isLocalPathVolume(pv: PersistentVolume): boolean {
  return LOCAL_PATH_PROVISIONERS.has(pv.metadata.annotations?.[ANN_PROVISIONED_BY] ?? '');
}

/**
 * The node a local-path volume lives on: the single hostname its node affinity names, or
 * undefined for any other volume.
 */
export function localPathNode(pv: PersistentVolume): string | undefined {
  if (!isLocalPathVolume(pv)) return undefined;
  const terms = pv.spec.nodeAffinity?.required?.nodeSelectorTerms ?? [];
  const req = terms[0]?.matchExpressions?.find((r) => r.key === HOSTNAME_LABEL && r.operator === 'In');
  return terms.length === 1 && req?.values?.length === 1 ? req.values[0] : undefined;
}

/** The directory a volume mounts from: its hostPath or local path. */
export function volumePath(pv: PersistentVolume): string | undefined {
  return pv.spec.hostPath?.path ?? pv.spec.local?.path;
}

/** A claim's `namespace/name`. */
export function claimKey(namespace: string | undefined, name: string): string {
  return `${namespace ?? 'default'}/${name}`;
}

/** True when the object still carries this finalizer. */
export function hasFinalizer(obj: KubeObject, finalizer: string): boolean {
  return obj.metadata.finalizers?.includes(finalizer) ?? false;
}
