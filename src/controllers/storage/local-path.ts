/**
 * gantry's local-path provisioner, after Rancher's local-path-provisioner that k3s ships: a
 * claim of a class whose provisioner is `gantry.dev/local-path` (or `rancher.io/local-path`)
 * gets a PersistentVolume that is a directory on one node, `<data-dir>/storage/<pv-name>` on
 * that node, with node affinity to it — so every pod using the claim is scheduled there.
 *
 * Which node: for WaitForFirstConsumer classes the one the scheduler chose for the claim's first
 * pod (annotation `volume.kubernetes.io/selected-node`); for Immediate classes a Ready,
 * schedulable node that the class's allowedTopologies admit, the one holding the fewest
 * local-path volumes. The node's directory comes from its Node object (annotation
 * `gantry.dev/local-path-dir`, written by its agent): the control plane never touches a node's
 * filesystem. The agent creates the directory, and removes it when the volume is deleted
 * (finalizer `gantry.dev/local-path-cleanup`, see src/node/volumes/local-path.ts).
 *
 * The volume is created pre-bound to the claim (claimRef with its uid), named `pvc-<claim uid>`
 * as Kubernetes names provisioned volumes; the binder (binder.ts) completes the binding.
 * Capacity is the claim's request, recorded, not enforced: a directory has no size limit.
 *
 * Also here: {@link ensureDefaultStorageClass}, the `local-path` class gantry creates at start.
 */
import path from 'node:path';
import { GantryError, isGantryError } from '../../errors.js';
import { applyDefaults } from '../../model/defaults.js';
import { parseKey } from '../../model/keys.js';
import { nodeSelectorTermMatches } from '../../model/node-selector.js';
import {
  ANN_PROVISIONED_BY, ANN_SELECTED_NODE, ANN_STORAGE_PROVISIONER, DEFAULT_CLASS_ANNOTATION, HOSTNAME_LABEL,
  LOCAL_PATH_CLASS, LOCAL_PATH_CLEANUP_FINALIZER, LOCAL_PATH_PROVISIONER, LOCAL_PATH_PROVISIONERS,
  NODE_STORAGE_DIR_ANNOTATION, claimClass, localPathNode,
} from '../../model/storage.js';
import type { Node, PersistentVolume, PersistentVolumeClaim, StorageClass } from '../../model/types.js';
import type { Store, WriteOrigin } from '../../store/types.js';
import type { CacheReader } from '../cache.js';
import { copy } from '../objects.js';
import type { Controller, ReconcileContext, Watch } from '../runtime.js';

const PVC = 'PersistentVolumeClaim';

/** The name Kubernetes gives a provisioned volume: `pvc-<claim uid>`. */
export function provisionedVolumeName(claim: PersistentVolumeClaim): string {
  return `pvc-${claim.metadata.uid}`;
}

/** Claims waiting for this provisioner. */
function waitingClaimKeys(cache: CacheReader): string[] {
  return cache.list<PersistentVolumeClaim>(PVC)
    .filter((c) => !c.spec.volumeName && LOCAL_PATH_PROVISIONERS.has(c.metadata.annotations?.[ANN_STORAGE_PROVISIONER] ?? ''))
    .map((c) => `${PVC}/${c.metadata.namespace ?? 'default'}/${c.metadata.name}`);
}

function isNodeReady(node: Node): boolean {
  return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** True when the class's allowedTopologies (if any) admit the node. */
function topologyAllows(cls: StorageClass, node: Node): boolean {
  const terms = cls.allowedTopologies ?? [];
  if (terms.length === 0) return true;
  const labels = { [HOSTNAME_LABEL]: node.metadata.name, ...(node.metadata.labels ?? {}) };
  return terms.some((t) => nodeSelectorTermMatches(
    { matchExpressions: (t.matchLabelExpressions ?? []).map((e) => ({ key: e.key, operator: 'In' as const, values: e.values })) },
    labels, node.metadata.name,
  ));
}

/** Provisions local-path volumes; see the module comment. */
export class LocalPathProvisioner implements Controller {
  readonly name = 'local-path-provisioner';
  readonly kinds = [PVC] as const;
  readonly watches: readonly Watch[] = [
    // A node that becomes Ready (or reports its directory) may take claims that found none.
    { kind: 'Node', keys: (_ev, cache) => waitingClaimKeys(cache) },
    { kind: 'PersistentVolume', keys: () => [] },
    { kind: 'StorageClass', keys: (_ev, cache) => waitingClaimKeys(cache) },
  ];

  async reconcile(key: string, ctx: ReconcileContext): Promise<void> {
    const claim = ctx.cache.get<PersistentVolumeClaim>(parseKey(key));
    if (!claim || claim.metadata.deletionTimestamp || claim.spec.volumeName) return;
    const provisioner = claim.metadata.annotations?.[ANN_STORAGE_PROVISIONER];
    if (!provisioner || !LOCAL_PATH_PROVISIONERS.has(provisioner)) return;
    const cls = ctx.cache.get<StorageClass>({ kind: 'StorageClass', name: claimClass(claim) ?? '' });
    if (!cls || !LOCAL_PATH_PROVISIONERS.has(cls.provisioner)) return;
    const pvName = provisionedVolumeName(claim);
    if (ctx.cache.get({ kind: 'PersistentVolume', name: pvName })) return;

    const node = await this.chooseNode(claim, cls, ctx);
    if (!node) return;
    const dir = node.metadata.annotations?.[NODE_STORAGE_DIR_ANNOTATION];
    if (!dir || !path.isAbsolute(dir)) {
      throw new GantryError('VolumeSetupFailed', `node ${node.metadata.name} does not report its local-path directory yet (annotation ${NODE_STORAGE_DIR_ANNOTATION})`, { disposition: 'waiting', retryAfterMs: 5000 });
    }
    const hostname = node.metadata.labels?.[HOSTNAME_LABEL] ?? node.metadata.name;
    ctx.events.emit(claim, 'Normal', 'Provisioning', `External provisioner is provisioning volume for claim "${claim.metadata.namespace}/${claim.metadata.name}"`);
    const pv: PersistentVolume = {
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: {
        name: pvName,
        annotations: { [ANN_PROVISIONED_BY]: cls.provisioner },
        finalizers: [LOCAL_PATH_CLEANUP_FINALIZER],
      },
      spec: {
        capacity: { storage: claim.spec.resources?.requests?.storage ?? '0' },
        accessModes: [...(claim.spec.accessModes ?? [])],
        persistentVolumeReclaimPolicy: cls.reclaimPolicy ?? 'Delete',
        storageClassName: cls.metadata.name,
        volumeMode: 'Filesystem',
        claimRef: { apiVersion: 'v1', kind: PVC, namespace: claim.metadata.namespace ?? 'default', name: claim.metadata.name, uid: claim.metadata.uid, resourceVersion: claim.metadata.resourceVersion },
        hostPath: { path: path.join(dir, pvName), type: 'DirectoryOrCreate' },
        nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: HOSTNAME_LABEL, operator: 'In', values: [hostname] }] }] } },
      },
    };
    try {
      await ctx.store.create(applyDefaults(pv), { origin: { ...ctx.origin, reason: `provisioned volume ${pvName} on node ${node.metadata.name} for claim ${claim.metadata.namespace}/${claim.metadata.name}` } });
    } catch (err) {
      if (!isGantryError(err, 'AlreadyExists')) throw err;
      return;
    }
    ctx.events.emit(claim, 'Normal', 'ProvisioningSucceeded', `Successfully provisioned volume ${pvName}`);
  }

  /** The selected node (WaitForFirstConsumer) or, for Immediate classes, the least used fitting node. */
  private async chooseNode(claim: PersistentVolumeClaim, cls: StorageClass, ctx: ReconcileContext): Promise<Node | undefined> {
    const nodes = ctx.cache.list<Node>('Node');
    const selected = claim.metadata.annotations?.[ANN_SELECTED_NODE];
    if (selected) {
      const node = nodes.find((n) => n.metadata.name === selected);
      if (node) return node;
      // As the external provisioner does: give the choice back to the scheduler.
      ctx.events.emit(claim, 'Warning', 'ProvisioningFailed', `failed to provision volume: node "${selected}" not found; the scheduler will choose again`);
      const next = copy(claim);
      delete next.metadata.annotations![ANN_SELECTED_NODE];
      await ctx.store.update(next, { origin: { ...ctx.origin, reason: `selected node ${selected} of claim ${claim.metadata.name} is gone` } });
      return undefined;
    }
    const used = new Map<string, number>();
    for (const pv of ctx.cache.list<PersistentVolume>('PersistentVolume')) {
      const n = localPathNode(pv);
      if (n) used.set(n, (used.get(n) ?? 0) + 1);
    }
    const fitting = nodes
      .filter((n) => isNodeReady(n) && !n.spec.unschedulable && !n.metadata.deletionTimestamp && topologyAllows(cls, n))
      .sort((a, b) => (used.get(a.metadata.name) ?? 0) - (used.get(b.metadata.name) ?? 0) || (a.metadata.name < b.metadata.name ? -1 : 1));
    if (fitting[0]) return fitting[0];
    const why = `failed to provision volume with StorageClass "${cls.metadata.name}": no Ready, schedulable node${cls.allowedTopologies?.length ? ' in its allowedTopologies' : ''} to hold the directory`;
    ctx.events.emit(claim, 'Warning', 'ProvisioningFailed', why);
    throw new GantryError('VolumeSetupFailed', why, { disposition: 'waiting', retryAfterMs: 10_000 });
  }
}

/** The StorageClass gantry creates at start: `local-path`, default, WaitForFirstConsumer, Delete. */
export function localPathStorageClass(): StorageClass {
  return applyDefaults<StorageClass>({
    apiVersion: 'storage.k8s.io/v1',
    kind: 'StorageClass',
    metadata: { name: LOCAL_PATH_CLASS, annotations: { [DEFAULT_CLASS_ANNOTATION]: 'true' } },
    provisioner: LOCAL_PATH_PROVISIONER,
    reclaimPolicy: 'Delete',
    volumeBindingMode: 'WaitForFirstConsumer',
  });
}

/**
 * Creates the `local-path` StorageClass unless one of that name exists (a repo that declares
 * its own `local-path` keeps it: the sync applies the repo's over gantry's). Returns whether it
 * was created.
 */
export async function ensureDefaultStorageClass(store: Store, opts: { origin?: WriteOrigin } = {}): Promise<boolean> {
  if (await store.get({ kind: 'StorageClass', name: LOCAL_PATH_CLASS })) return false;
  try {
    await store.create(localPathStorageClass(), { origin: opts.origin ?? { actor: 'controller/local-path-provisioner', reason: 'default StorageClass local-path' } });
    return true;
  } catch (err) {
    if (isGantryError(err, 'AlreadyExists')) return false;
    throw err;
  }
}
