/**
 * Boundaries inside the node agent. The agent (src/node/agent) drives pods through these; the
 * implementations live in src/node/network (netns + CNI), src/node/volumes and src/node/logs.
 */
import type { NodeAllocatable } from '../model/downward.js';
import type { ConfigMap, Pod, Secret } from '../model/types.js';
import type { ClaimVolume } from './api.js';
import type { SpecMount } from './containerd/spec.js';

/** A pod's network: its namespace and address. */
export interface PodNetwork {
  /** Path of the network namespace file (e.g. `/run/netns/gantry-<uid>`), for the OCI spec. */
  netnsPath: string;
  /** The pod IP on the node's bridge (empty for hostNetwork pods: the node's IP is used). */
  ip: string;
}

/**
 * Sets up and tears down pod networks: one network namespace per pod, CNI loopback + bridge
 * (host-local IPAM) + portmap for hostPorts. Every method is idempotent, keyed by pod uid, so
 * a restarted agent can call them again safely.
 */
export interface NetworkManager {
  /**
   * Creates the pod's network namespace alone and returns its path: containers can be created in
   * it while {@link setUp} adds the interfaces (their processes start only after setUp).
   */
  createNamespace(pod: Pod): Promise<string>;
  /** Creates (or finds) the pod's namespace and runs CNI ADD; returns the pod IP. */
  setUp(pod: Pod, opts?: { signal?: AbortSignal }): Promise<PodNetwork>;
  /** The pod's network if it exists (after an agent restart), without changing anything. */
  get(podUid: string): Promise<PodNetwork | undefined>;
  /** Runs CNI DEL in reverse order and removes the namespace; no error if already gone. */
  tearDown(podUid: string): Promise<void>;
  /** Pod uids that have a namespace on this node (for cleaning up pods that no longer exist). */
  list(): Promise<string[]>;
  /** Removes node-wide leftovers (bridge, CNI-HOSTPORT chains) when the node is taken down. */
  cleanupNode(): Promise<void>;
}

/** ConfigMaps, Secrets and claims (with their volumes) a pod refers to, resolved by the agent from the store. */
export interface PodReferences {
  configMaps: Map<string, ConfigMap>;
  secrets: Map<string, Secret>;
  /** Claim name → the claim and its bound volume; a missing name is a claim that does not exist. */
  claims: Map<string, ClaimVolume>;
  /** Service-account tokens of the pod's projected `serviceAccountToken` sources, by `tokenSourceKey` (./volumes/projected.ts). */
  tokens?: Map<string, string>;
}

/** What volumes need to know of the node: its allocatable, which an unset limit in a downwardAPI file reads as. */
export interface VolumeContext {
  node: NodeAllocatable;
}

/**
 * Materialises pod volumes on the node: emptyDir, hostPath, configMap, secret, downwardAPI and
 * projected (as files, with items and defaultMode; a projected service-account token too), and
 * persistentVolumeClaim (the directory of the claim's bound volume, which outlives the pod).
 */
export interface VolumeManager {
  /**
   * Creates or refreshes the pod's volume directories and files, and returns per container name
   * the OCI mounts for its volumeMounts. A missing non-optional ConfigMap/Secret is a GantryError
   * (`NotFound`, disposition waiting) naming it, as the kubelet reports CreateContainerConfigError.
   */
  prepare(pod: Pod, refs: PodReferences, ctx?: VolumeContext): Promise<Map<string, SpecMount[]>>;
  /** Removes the pod's volumes (emptyDir, configMap/secret copies), never a persistent volume's directory. */
  cleanup(podUid: string): Promise<void>;
  /** Pod uids with volume directories on this node. */
  list(): Promise<string[]>;
}

/** Where a container's log goes and how it rotates. */
export interface ContainerLogs {
  /** Path of the current log file for a container (the OCI stdio `file://` target). */
  pathFor(podUid: string, container: string, restartCount: number): string;
  /** Rotates files over the size limit (copy-truncate), keeping a few old ones. */
  rotate(): Promise<void>;
  /** Removes a pod's logs. */
  cleanup(podUid: string): Promise<void>;
}
