/**
 * The control plane's memory of resource usage, doing what metrics-server does with kubelet
 * scrapes (sigs.k8s.io/metrics-server `pkg/storage`): for every container and node it keeps the
 * last reading and the one before it from the same incarnation, and serves CPU as the rate
 * between the two — (cpu₂ − cpu₁) / (t₂ − t₁), over the window t₂ − t₁ — and memory as the last
 * working set. A pod is served only when every container of it has both readings, a container
 * that restarted starts over, and a container younger than one period but at least 10 s old uses
 * its start (CPU 0) as the earlier reading, as metrics-server's "fresh container" rule does.
 *
 * Reports replace their node's previous one whole, so pods that left a node are forgotten with
 * its next report; a node that stops reporting (three periods, at least 10 s) is not served.
 * Everything lives in memory: usage is never written to the store.
 */
import type { Pod } from '../model/types.js';
import type {
  ContainerUsage, NodeMetricsSample, NodeUsageReport, PodMetricsSample, ResourceMetricsReader, UsagePoint, UsageSink,
} from '../model/metrics.js';

/** metrics-server's floor for the fresh-container rule: younger readings are too noisy. */
const FRESH_CONTAINER_MIN_MS = 10_000;
/** A node silent for this many of its periods (and at least {@link MIN_STALE_MS}) is not served. */
const STALE_PERIODS = 3;
const MIN_STALE_MS = 10_000;

/** A reading and the one before it (when there is one of the same incarnation). */
interface Points {
  last: UsagePoint;
  prev?: UsagePoint;
}

interface PodPoints {
  uid: string;
  containers: Map<string, Points>;
}

interface NodeRecord {
  receivedAt: number;
  periodMs: number;
  node: Points;
  /** By pod uid. */
  pods: Map<string, PodPoints>;
}

/** Options of {@link UsageStore}. */
export interface UsageStoreOptions {
  /** ms since the epoch; injectable for tests. */
  now?: () => number;
}

/** Resource usage of every node and its pods, from the agents' reports. */
export class UsageStore implements UsageSink, ResourceMetricsReader {
  private readonly nodes = new Map<string, NodeRecord>();
  private readonly now: () => number;

  constructor(opts: UsageStoreOptions = {}) {
    this.now = opts.now ?? Date.now;
  }

  record(nodeName: string, report: NodeUsageReport): void {
    const before = this.nodes.get(nodeName);
    const period = report.periodMs;
    const pods = new Map<string, PodPoints>();
    for (const p of report.pods) {
      const old = before?.pods.get(p.uid);
      const containers = new Map<string, Points>();
      for (const c of p.containers) {
        if (containers.has(c.name)) continue;
        containers.set(c.name, advance(old?.containers.get(c.name), c, period));
      }
      pods.set(p.uid, { uid: p.uid, containers });
    }
    this.nodes.set(nodeName, { receivedAt: this.now(), periodMs: period, node: advance(before?.node, report.node, period), pods });
  }

  podMetrics(pod: Pod): PodMetricsSample | undefined {
    const nodeName = pod.spec?.nodeName;
    const uid = pod.metadata.uid;
    if (!nodeName || !uid) return undefined;
    const rec = this.fresh(nodeName);
    const points = rec?.pods.get(uid);
    if (!points || points.containers.size === 0) return undefined;
    const containers: PodMetricsSample['containers'] = [];
    let timestamp = Infinity;
    let windowMs = 0;
    for (const [name, pts] of points.containers) {
      // metrics-server serves a pod only once every container of it has a rate.
      if (!pts.prev) return undefined;
      const rate = usageBetween(pts.prev, pts.last);
      if (!rate) continue;
      containers.push({ name, usage: rate.usage });
      // The earliest container's time speaks for the pod, as in metrics-server.
      if (pts.last.timestamp < timestamp) {
        timestamp = pts.last.timestamp;
        windowMs = rate.windowMs;
      }
    }
    if (containers.length === 0) return undefined;
    return { timestamp, windowMs, containers };
  }

  nodeMetrics(nodeName: string): NodeMetricsSample | undefined {
    const rec = this.fresh(nodeName);
    if (!rec?.node.prev) return undefined;
    const rate = usageBetween(rec.node.prev, rec.node.last);
    return rate ? { timestamp: rec.node.last.timestamp, windowMs: rate.windowMs, usage: rate.usage } : undefined;
  }

  /** Nodes with a report in force, for listing NodeMetrics. */
  nodeNames(): string[] {
    return [...this.nodes.keys()].filter((n) => this.fresh(n) !== undefined);
  }

  /** Forgets a node (its agent is gone for good). */
  forget(nodeName: string): void {
    this.nodes.delete(nodeName);
  }

  private fresh(nodeName: string): NodeRecord | undefined {
    const rec = this.nodes.get(nodeName);
    if (!rec) return undefined;
    const staleAfter = Math.max(MIN_STALE_MS, STALE_PERIODS * rec.periodMs);
    return this.now() - rec.receivedAt > staleAfter ? undefined : rec;
  }
}

/**
 * The points after a new reading, as metrics-server's storage moves them: a reading of the same
 * incarnation (started before the last one was taken) pushes the last one back; a repeat of the
 * same moment keeps the earlier pair; a restart starts over — except that a young container uses
 * its start (CPU 0) as the earlier reading.
 */
function advance(old: Points | undefined, next: UsagePoint | ContainerUsage, periodMs: number): Points {
  const last: UsagePoint = { startTime: next.startTime, timestamp: next.timestamp, cpuNanos: next.cpuNanos, memoryBytes: next.memoryBytes };
  const age = last.timestamp - last.startTime;
  if (last.startTime < last.timestamp && age < periodMs && age >= FRESH_CONTAINER_MIN_MS) {
    return { last, prev: { ...last, timestamp: last.startTime, cpuNanos: 0 } };
  }
  if (!old || last.startTime >= old.last.timestamp) return { last };
  if (last.timestamp > old.last.timestamp) return { last, prev: old.last };
  if (old.prev && old.prev.timestamp < last.timestamp) return { last, prev: old.prev };
  return { last };
}

/** The usage between two readings, or undefined when they cannot make a rate (time or CPU going back). */
function usageBetween(prev: UsagePoint, last: UsagePoint): { usage: PodMetricsSample['containers'][number]['usage']; windowMs: number } | undefined {
  const windowMs = last.timestamp - prev.timestamp;
  if (windowMs <= 0 || last.cpuNanos < prev.cpuNanos || last.startTime < prev.startTime) return undefined;
  const cpuNanoCores = Math.floor(((last.cpuNanos - prev.cpuNanos) * 1000) / windowMs);
  return { usage: { cpuNanoCores, memoryBytes: last.memoryBytes }, windowMs };
}
