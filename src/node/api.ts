/**
 * What a node agent needs from the control plane, and nothing more (the kubelet's view of the
 * API server): the pods bound to its node, the ConfigMaps, Secrets and claims (with their
 * volumes) those pods refer to, the local-path volumes that live on the node, and writes of pod
 * status, pod finalization, a volume's cleanup and its own Node, and its usage reports. Two implementations: on the store, for
 * an agent in the control plane's process (`gantry up`), and over HTTP for an agent on another
 * machine, where the server enforces the same limits. An agent never lists or watches every
 * Secret of the cluster: it hears about a ConfigMap or Secret only when one of its pods uses it.
 */
import type { EventSink } from '../events/recorder.js';
import type { NodeUsageReport } from '../model/metrics.js';
import type { ReferenceKind } from '../model/pod-refs.js';
import type { IssuedToken } from '../model/serviceaccount.js';
import type { ConfigMap, Node, PersistentVolume, PersistentVolumeClaim, Pod, PodStatus, Secret } from '../model/types.js';

/** A claim a pod of the node refers to, with the volume it is bound to (when bound). */
export interface ClaimVolume {
  claim: PersistentVolumeClaim;
  volume?: PersistentVolume;
}

/** A change the agent must react to. */
export type NodeEvent =
  | {
      type: 'pod';
      /** DELETED also when the pod stopped being bound to this node. */
      change: 'ADDED' | 'MODIFIED' | 'DELETED';
      pod: Pod;
      /** The change is this node's own status write (nothing to sync for it). */
      byThisNode: boolean;
      revision: number;
    }
  | {
      /**
       * A ConfigMap, Secret or claim that a pod of this node refers to changed, appeared or went
       * (for a claim also: its volume changed).
       */
      type: 'reference';
      kind: ReferenceKind;
      namespace: string;
      name: string;
      revision: number;
    }
  | {
      /** A local-path volume that lives on this node (its directory is the node's to make and remove). */
      type: 'volume';
      change: 'ADDED' | 'MODIFIED' | 'DELETED';
      volume: PersistentVolume;
      revision: number;
    };

export type { ReferenceKind } from '../model/pod-refs.js';

/** The agent's narrow interface to the control plane. */
export interface NodeApi {
  /** The node this API serves. */
  readonly nodeName: string;
  /** core/v1 Events about this node's pods (Created, Started, Killing, BackOff, …), source `kubelet`. */
  readonly events: EventSink;
  /** The pods bound to this node now, and the revision to watch from. */
  listPods(): Promise<{ pods: Pod[]; revision: number }>;
  /**
   * Changes after `fromRevision` that concern this node. A revision the control plane no longer
   * keeps fails with GantryError `Conflict`: list again, then watch from the list's revision.
   */
  watch(opts: { fromRevision: number; signal: AbortSignal }): AsyncIterable<NodeEvent>;
  /** A ConfigMap a pod of this node refers to (undefined when it does not exist). */
  getConfigMap(namespace: string, name: string): Promise<ConfigMap | undefined>;
  /** A Secret a pod of this node refers to (undefined when it does not exist). */
  getSecret(namespace: string, name: string): Promise<Secret | undefined>;
  /** A claim a pod of this node refers to, with its bound volume (undefined when the claim does not exist). */
  getClaim(namespace: string, name: string): Promise<ClaimVolume | undefined>;
  /** The local-path volumes whose directory lives on this node. */
  listLocalVolumes(): Promise<PersistentVolume[]>;
  /**
   * Says that the directory of a local-path volume of this node being deleted is gone: its
   * cleanup finalizer is removed (and with the last finalizer, the volume).
   */
  finishVolumeCleanup(volume: PersistentVolume): Promise<void>;
  /**
   * A token of the pod's service account, bound to the pod (Kubernetes' TokenRequest, as the
   * kubelet makes it for a projected `serviceAccountToken`). A missing account is a GantryError
   * `NotFound` (waiting).
   */
  requestServiceAccountToken(pod: Pod, opts: { audience?: string; expirationSeconds: number }): Promise<IssuedToken>;
  /**
   * Writes a pod's status. `compute` gets the pod as stored (again after a conflict) and returns
   * the status to write, or undefined when nothing changes. Resolves with the pod as stored after
   * the write (or as it was, when nothing changed); undefined when the pod is gone or is another
   * pod of the same name now.
   */
  writePodStatus(pod: Pod, compute: (current: Pod) => PodStatus | undefined): Promise<Pod | undefined>;
  /** Removes a pod whose containers have all stopped (only this pod: its uid is checked). */
  finalizePod(pod: Pod): Promise<void>;
  /**
   * Creates or updates this node's Node object: `build` gets the stored one (undefined at first
   * registration; again after a conflict) and returns the object to store.
   */
  writeNode(build: (current: Node | undefined) => Node, opts: { reason: string }): Promise<void>;
  /**
   * Reports this node's and its pods' resource usage (one collection round), which the control
   * plane keeps in memory for the autoscaler and `kubectl top`; never written to the store.
   */
  reportUsage(report: NodeUsageReport): Promise<void>;
}
