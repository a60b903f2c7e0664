/**
 * {@link NodeApi} on the store, for the agent that runs in the control plane's process. It keeps
 * to what a remote agent gets over HTTP: only pods bound to its node, news of a ConfigMap, Secret
 * or claim only when one of those pods refers to it (by key: the agent reads the object itself),
 * and the local-path volumes whose directory is on its node.
 */
import { GantryError, isGantryError } from '../errors.js';
import { EventRecorder, type EventSink } from '../events/recorder.js';
import { silentLogger } from '../log.js';
import type { NodeUsageReport, UsageSink } from '../model/metrics.js';
import { podReferences, referencedNames, type PodReferenceNames } from '../model/pod-refs.js';
import { MIN_TOKEN_EXPIRATION_SECONDS, podServiceAccount, type IssuedToken, type ServiceAccountTokenIssuer } from '../model/serviceaccount.js';
import { LOCAL_PATH_CLEANUP_FINALIZER, localPathNode } from '../model/storage.js';
import type { ConfigMap, Node, PersistentVolume, PersistentVolumeClaim, Pod, PodStatus, Secret, ServiceAccount } from '../model/types.js';
import { removeFinalizer } from '../store/finalizers.js';
import type { ReadStore, Store, WriteOrigin } from '../store/types.js';
import type { ClaimVolume, NodeApi, NodeEvent, ReferenceKind } from './api.js';

/** Conflicting writes are retried this many times before the next sync tries again. */
const ATTEMPTS = 5;

/** Options for {@link StoreNodeApi}. */
export interface StoreNodeApiOptions {
  store: Store;
  nodeName: string;
  /** Signs service-account tokens for this node's pods (the API server's key); without it pods get none. */
  tokens?: ServiceAccountTokenIssuer;
  /** The control plane's usage memory (src/metrics-server); without it usage reports are refused. */
  usage?: UsageSink;
}

/** The store-backed node API. */
export class StoreNodeApi implements NodeApi {
  readonly nodeName: string;
  readonly events: EventSink;
  private readonly store: Store;
  private readonly tokens?: ServiceAccountTokenIssuer;
  private readonly usage?: UsageSink;
  private readonly origin: WriteOrigin;
  /** The pods bound here, by uid, with the names they refer to. */
  private readonly bound = new Map<string, { namespace: string; refs: PodReferenceNames }>();

  constructor(opts: StoreNodeApiOptions) {
    this.store = opts.store;
    this.nodeName = opts.nodeName;
    this.tokens = opts.tokens;
    this.usage = opts.usage;
    this.origin = { actor: `node/${opts.nodeName}` };
    this.events = new EventRecorder({ store: opts.store, component: 'kubelet', host: opts.nodeName, logger: silentLogger() });
  }

  async listPods(): Promise<{ pods: Pod[]; revision: number }> {
    const listed = await this.store.list<Pod>('Pod');
    const pods = listed.items.filter((p) => this.isBoundHere(p));
    this.bound.clear();
    for (const p of pods) this.remember(p);
    return { pods, revision: listed.revision };
  }

  async *watch(opts: { fromRevision: number; signal: AbortSignal }): AsyncIterable<NodeEvent> {
    for await (const ev of this.store.watch({ fromRevision: opts.fromRevision, kinds: ['Pod', 'ConfigMap', 'Secret', 'PersistentVolumeClaim', 'PersistentVolume'], signal: opts.signal })) {
      const obj = ev.object;
      if (obj.kind === 'Pod') {
        const pod = obj as Pod;
        const uid = pod.metadata.uid!;
        if (ev.type !== 'DELETED' && this.isBoundHere(pod)) {
          this.remember(pod);
          yield { type: 'pod', change: ev.type, pod, byThisNode: ev.origin?.actor === this.origin.actor, revision: ev.revision };
        } else if (this.bound.delete(uid)) {
          yield { type: 'pod', change: 'DELETED', pod, byThisNode: false, revision: ev.revision };
        }
        continue;
      }
      if (obj.kind === 'PersistentVolume') {
        const pv = obj as PersistentVolume;
        if (localPathNode(pv) === this.nodeName) yield { type: 'volume', change: ev.type, volume: pv, revision: ev.revision };
        // A claim's volume is part of the claim, for the pods that mount it.
        const ref = pv.spec?.claimRef;
        if (ref?.name && this.isReferenced('PersistentVolumeClaim', ref.namespace ?? 'default', ref.name)) {
          yield { type: 'reference', kind: 'PersistentVolumeClaim', namespace: ref.namespace ?? 'default', name: ref.name, revision: ev.revision };
        }
        continue;
      }
      const kind = obj.kind as ReferenceKind;
      const namespace = obj.metadata.namespace ?? 'default';
      if (this.isReferenced(kind, namespace, obj.metadata.name)) yield { type: 'reference', kind, namespace, name: obj.metadata.name, revision: ev.revision };
    }
  }

  async getClaim(namespace: string, name: string): Promise<ClaimVolume | undefined> {
    const claim = await this.store.get<PersistentVolumeClaim>({ kind: 'PersistentVolumeClaim', namespace, name });
    if (!claim) return undefined;
    const volume = claim.spec.volumeName ? await this.store.get<PersistentVolume>({ kind: 'PersistentVolume', name: claim.spec.volumeName }) : undefined;
    return volume ? { claim, volume } : { claim };
  }

  async listLocalVolumes(): Promise<PersistentVolume[]> {
    return (await this.store.list<PersistentVolume>('PersistentVolume')).items.filter((pv) => localPathNode(pv) === this.nodeName);
  }

  async finishVolumeCleanup(volume: PersistentVolume): Promise<void> {
    const current = await this.store.get<PersistentVolume>({ kind: 'PersistentVolume', name: volume.metadata.name });
    // Only this node's volume, only this incarnation, and only once it is being deleted.
    if (!current || current.metadata.uid !== volume.metadata.uid || !current.metadata.deletionTimestamp || localPathNode(current) !== this.nodeName) return;
    await removeFinalizer(this.store, current, LOCAL_PATH_CLEANUP_FINALIZER, { origin: { ...this.origin, reason: `directory of volume ${volume.metadata.name} removed` } });
  }

  getConfigMap(namespace: string, name: string): Promise<ConfigMap | undefined> {
    return this.store.get<ConfigMap>({ kind: 'ConfigMap', namespace, name });
  }

  getSecret(namespace: string, name: string): Promise<Secret | undefined> {
    return this.store.get<Secret>({ kind: 'Secret', namespace, name });
  }

  requestServiceAccountToken(pod: Pod, opts: { audience?: string; expirationSeconds: number }): Promise<IssuedToken> {
    if (!this.tokens) throw new GantryError('ApiUnavailable', `node ${this.nodeName} cannot get service account tokens: this gantry signs none (its API is off)`);
    return issuePodToken(this.store, this.tokens, { pod, nodeName: this.nodeName, ...opts });
  }

  async writePodStatus(pod: Pod, compute: (current: Pod) => PodStatus | undefined): Promise<Pod | undefined> {
    let current: Pod | undefined = pod;
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      if (attempt > 0) current = await this.store.get<Pod>(podRef(pod));
      if (!current || current.metadata.uid !== pod.metadata.uid) return undefined;
      const status = compute(current);
      if (status === undefined) return current;
      try {
        return await this.store.update<Pod>({ ...structuredClone(current), status }, { origin: this.origin });
      } catch (err) {
        if (isGantryError(err, 'NotFound')) return undefined;
        if (!isGantryError(err, 'Conflict')) throw err;
      }
    }
    return current;
  }

  async finalizePod(pod: Pod): Promise<void> {
    const ref = podRef(pod);
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const current = await this.store.get<Pod>(ref);
      if (!current || current.metadata.uid !== pod.metadata.uid) return;
      try {
        await this.store.delete(ref, { origin: { ...this.origin, reason: 'pod terminated' }, resourceVersion: current.metadata.resourceVersion });
        return;
      } catch (err) {
        if (isGantryError(err, 'NotFound')) return;
        if (!isGantryError(err, 'Conflict')) throw err;
      }
    }
  }

  async writeNode(build: (current: Node | undefined) => Node, opts: { reason: string }): Promise<void> {
    const ref = { kind: 'Node', name: this.nodeName };
    const origin = { ...this.origin, reason: opts.reason };
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const current = await this.store.get<Node>(ref);
      const next = build(current);
      try {
        if (current) await this.store.update(next, { origin });
        else await this.store.create(next, { origin });
        return;
      } catch (err) {
        if (!isGantryError(err, 'Conflict') && !isGantryError(err, 'AlreadyExists')) throw err;
      }
    }
  }

  async reportUsage(report: NodeUsageReport): Promise<void> {
    if (!this.usage) throw new GantryError('ApiUnavailable', `node ${this.nodeName} cannot report resource usage: this gantry keeps none (no metrics pipeline in this process)`);
    this.usage.record(this.nodeName, report);
  }

  private isBoundHere(pod: Pod): boolean {
    return pod.spec?.nodeName === this.nodeName;
  }

  private remember(pod: Pod): void {
    this.bound.set(pod.metadata.uid!, { namespace: pod.metadata.namespace ?? 'default', refs: podReferences(pod) });
  }

  private isReferenced(kind: ReferenceKind, namespace: string, name: string): boolean {
    for (const b of this.bound.values()) {
      if (b.namespace === namespace && referencedNames(b.refs, kind).has(name)) return true;
    }
    return false;
  }
}

function podRef(pod: Pod): { kind: 'Pod'; namespace: string; name: string } {
  return { kind: 'Pod', namespace: pod.metadata.namespace ?? 'default', name: pod.metadata.name };
}

/**
 * Issues a token of a pod's service account, bound to the pod as it is stored now (same uid,
 * bound to `nodeName`) and naming its node: what the API server does for the kubelet's
 * TokenRequest.
 * @throws GantryError NotFound when the pod is gone or the account does not exist (waiting),
 *   InvalidArgument for a lifetime under ten minutes.
 */
export async function issuePodToken(
  store: ReadStore,
  issuer: ServiceAccountTokenIssuer,
  req: { pod: Pod; nodeName: string; audience?: string; expirationSeconds: number },
): Promise<IssuedToken> {
  const namespace = req.pod.metadata.namespace ?? 'default';
  const object = `Pod/${namespace}/${req.pod.metadata.name}`;
  if (req.expirationSeconds < MIN_TOKEN_EXPIRATION_SECONDS) {
    throw new GantryError('InvalidArgument', `expirationSeconds ${req.expirationSeconds}: may not specify a duration less than ${MIN_TOKEN_EXPIRATION_SECONDS} seconds`, { object });
  }
  const pod = await store.get<Pod>({ kind: 'Pod', namespace, name: req.pod.metadata.name });
  if (!pod || pod.metadata.uid !== req.pod.metadata.uid || pod.spec.nodeName !== req.nodeName) {
    throw new GantryError('NotFound', `pods "${req.pod.metadata.name}" (uid ${req.pod.metadata.uid}) not found on node ${req.nodeName}`, { object, disposition: 'waiting' });
  }
  const name = podServiceAccount(pod);
  const sa = await store.get<ServiceAccount>({ kind: 'ServiceAccount', namespace, name });
  if (!sa?.metadata.uid) throw new GantryError('NotFound', `serviceaccounts "${name}" not found`, { object, field: 'spec.serviceAccountName', disposition: 'waiting', retryAfterMs: 2000 });
  const node = await store.get<Node>({ kind: 'Node', name: req.nodeName });
  return issuer.issue({
    namespace,
    serviceAccount: { name, uid: sa.metadata.uid },
    pod: { name: pod.metadata.name, uid: pod.metadata.uid! },
    node: { name: req.nodeName, ...(node?.metadata.uid ? { uid: node.metadata.uid } : {}) },
    ...(req.audience ? { audiences: [req.audience] } : {}),
    expirationSeconds: req.expirationSeconds,
  });
}
