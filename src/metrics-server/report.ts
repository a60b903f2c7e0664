/**
 * Reading a usage report that came over the network (a remote agent's POST): the shape of
 * {@link NodeUsageReport}, checked field by field, so a bad report is refused with the field it
 * got wrong rather than kept and served.
 */
import type { ContainerUsage, NodeUsageReport, PodUsage, UsagePoint } from '../model/metrics.js';

/** More pods than a node may run (Kubernetes' limit is 110 a node; gantry allows more), or containers a pod has. */
const MAX_PODS = 2000;
const MAX_CONTAINERS = 100;

type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

/** The report in `body`, or the reason it is not one (naming the field). */
export function parseUsageReport(body: unknown): NodeUsageReport | string {
  if (!isRec(body)) return 'body: a usage report (periodMs, node, pods) is required';
  if (!isCount(body.periodMs) || body.periodMs === 0) return 'periodMs: a positive number of milliseconds is required';
  const node = point(body.node, 'node');
  if (typeof node === 'string') return node;
  if (!Array.isArray(body.pods)) return 'pods: a list is required';
  if (body.pods.length > MAX_PODS) return `pods: more than ${MAX_PODS}`;
  const pods: PodUsage[] = [];
  for (const [i, p] of body.pods.entries()) {
    const at = `pods[${i}]`;
    if (!isRec(p) || typeof p.uid !== 'string' || typeof p.namespace !== 'string' || typeof p.name !== 'string' || !Array.isArray(p.containers)) {
      return `${at}: uid, namespace, name and containers are required`;
    }
    if (p.containers.length > MAX_CONTAINERS) return `${at}.containers: more than ${MAX_CONTAINERS}`;
    const containers: ContainerUsage[] = [];
    for (const [j, c] of p.containers.entries()) {
      const read = point(c, `${at}.containers[${j}]`);
      if (typeof read === 'string') return read;
      if (typeof (c as Rec).name !== 'string') return `${at}.containers[${j}].name: a string is required`;
      containers.push({ name: (c as Rec).name as string, ...read });
    }
    pods.push({ uid: p.uid, namespace: p.namespace, name: p.name, containers });
  }
  return { periodMs: body.periodMs, node, pods };
}

function point(v: unknown, at: string): UsagePoint | string {
  if (!isRec(v)) return `${at}: a reading (startTime, timestamp, cpuNanos, memoryBytes) is required`;
  for (const f of ['startTime', 'timestamp', 'cpuNanos', 'memoryBytes'] as const) {
    if (!isCount(v[f])) return `${at}.${f}: a non-negative number is required`;
  }
  return { startTime: v.startTime as number, timestamp: v.timestamp as number, cpuNanos: v.cpuNanos as number, memoryBytes: v.memoryBytes as number };
}
