/**
 * What the parts of a pod's sync share (src/node/agent only): the options the agent gives its
 * syncer, and the agent's view of what runs. The parts (sandbox, containers, teardown, adoption)
 * each own one job; {@link PodSyncer} composes them and keeps this state away from everyone else.
 */
import path from 'node:path';
import type { ClusterDnsSettings } from './container-config.js';
import type { Logger } from '../../log.js';
import type { KubeletMetrics } from '../../metrics/index.js';
import type { NodeAllocatable } from '../../model/downward.js';
import type { Container, Pod, Service } from '../../model/types.js';
import type { NodeApi } from '../api.js';
import type { ContainerdClient } from '../containerd/client.js';
import type { ContainerLogs, NetworkManager, VolumeManager } from '../types.js';
import type { ImageManager } from './images.js';
import type { ContainerRuntime, PodRuntime } from './runtime.js';

/** Everything a {@link PodSyncer} works with. */
export interface PodSyncerOptions {
  /** The control plane, as far as this node may see it. */
  api: NodeApi;
  client: ContainerdClient;
  runcRoot?: string;
  network: NetworkManager;
  volumes: VolumeManager;
  logs: ContainerLogs;
  images: ImageManager;
  /** The node data dir; per pod `sandboxes/<uid>/` holds the agent's hosts and resolv.conf files. */
  dataDir: string;
  logger: Logger;
  hostIP: () => string;
  /** Where ClusterFirst pods resolve names (absent: the host's resolvers). */
  clusterDns?: ClusterDnsSettings;
  nodeAllocatable: () => NodeAllocatable;
  /** The cluster's Services as this node sees them, for the Service variables of containers' env. */
  services?: () => readonly Service[];
  backoffBaseMs: number;
  backoffMaxMs: number;
  now: () => number;
  /** Asks for another sync of `uid` (after `ms`, or as soon as possible). */
  requeue: (uid: string, ms?: number) => void;
  /** Runs the CPU-bound part of a start (network setup, container create + start) within the node's bound. */
  startLimit: <T>(fn: () => Promise<T>) => Promise<T>;
  /**
   * Runs a pod's teardown (container removal, CNI DEL, files) within a bound of its own: a hundred
   * pods reaching their grace period's end together must not hold up starts, nor the SIGKILLs of
   * the others, which need no bound.
   */
  teardownLimit: <T>(fn: () => Promise<T>) => Promise<T>;
  /** Pod start latency and container restarts (`gantry_kubelet_*`). */
  metrics?: KubeletMetrics;
}

/** The options and the agent's view of what runs. */
export interface SyncContext {
  readonly o: PodSyncerOptions;
  /** What the agent runs, by pod uid. */
  readonly runtimes: Map<string, PodRuntime>;
  /** containerd id → pod uid, to route task events. */
  readonly containerIndex: Map<string, string>;
}

/** One container of a pod being worked on. */
export interface ContainerTarget {
  pod: Pod;
  rt: PodRuntime;
  c: ContainerRuntime;
  spec: Container;
}

/** The pod's directory of agent-written files (hosts, resolv.conf). */
export function podDir(o: PodSyncerOptions, uid: string): string {
  return path.join(o.dataDir, 'sandboxes', uid);
}
