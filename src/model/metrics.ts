/**
 * Resource usage as it flows from the node agents to the control plane — Kubernetes' kubelet →
 * metrics-server → metrics.k8s.io path in gantry's shape: each agent reads cumulative CPU time and
 * working sets of its containers (and of the node) and reports them through its NodeApi; the
 * control plane keeps the last two reports per node in memory (src/metrics-server), turns them
 * into rates, and serves them to the autoscaler and as metrics.k8s.io/v1beta1 (`kubectl top`).
 * Nothing here is written to the store: a scrape every few seconds would flood the audit trail.
 */
import type { Pod } from './types.js';

/** One cumulative reading of a container or of the node, as the agent took it. */
export interface UsagePoint {
  /** When the container (or the node) started, ms since the epoch: its CPU time was 0 then. */
  startTime: number;
  /** When the reading was taken, ms since the epoch (the node's clock). */
  timestamp: number;
  /** CPU time used since `startTime`, in nanoseconds (core-nanoseconds). */
  cpuNanos: number;
  /** Working set (memory in use, less inactive file cache), in bytes. */
  memoryBytes: number;
}

/** One container's reading. */
export interface ContainerUsage extends UsagePoint {
  name: string;
}

/** The readings of one pod's running containers. */
export interface PodUsage {
  uid: string;
  namespace: string;
  name: string;
  containers: ContainerUsage[];
}

/** What a node agent reports each round. */
export interface NodeUsageReport {
  /** How often the agent reports, in ms (metrics-server's resolution). */
  periodMs: number;
  node: UsagePoint;
  pods: PodUsage[];
}

/** Usage over a window: CPU as a rate, memory as the last working set. */
export interface ResourceUsage {
  /** Cores used on average over the window, in billionths of a core. */
  cpuNanoCores: number;
  memoryBytes: number;
}

/** A pod's usage as metrics.k8s.io serves it. */
export interface PodMetricsSample {
  /** The end of the window, ms since the epoch. */
  timestamp: number;
  windowMs: number;
  containers: { name: string; usage: ResourceUsage }[];
}

/** A node's usage as metrics.k8s.io serves it. */
export interface NodeMetricsSample {
  timestamp: number;
  windowMs: number;
  usage: ResourceUsage;
}

/** Where the control plane's readers (the autoscaler, the metrics API) get usage. */
export interface ResourceMetricsReader {
  /**
   * The usage of `pod`, reported by the node it is bound to, for this incarnation of it (its uid);
   * undefined until two readings a window apart are in, and once its node stops reporting.
   */
  podMetrics(pod: Pod): PodMetricsSample | undefined;
  /** A node's usage, undefined while it has none (as above). */
  nodeMetrics(nodeName: string): NodeMetricsSample | undefined;
}

/** Where node reports go on the control plane. */
export interface UsageSink {
  /** Takes a node's report (replacing what it reported before). */
  record(nodeName: string, report: NodeUsageReport): void;
}
