/**
 * A node's capacity, what is asked of it and what is used of it: the requests of the pods bound
 * to it against its allocatable CPU, memory and pod count, counted as the scheduler counts them
 * (terminated pods hold nothing), and the usage metrics.k8s.io reports (as `kubectl top node`
 * reads it). Pure.
 */
import { bytes, cpuMillis } from '../../../src/model/quantity.js';
import type { Node, Pod } from '../../../src/model/types.js';
import { effectiveRequests } from '../../../src/scheduler/podinfo.js';

/** One resource: what pods request and what the node offers (0 when it reports nothing). */
export interface ResourceUse {
  requested: number;
  allocatable: number;
}

/** A node's use: CPU in millicores, memory in bytes, and pods. */
export interface NodeUsage {
  cpu: ResourceUse;
  memory: ResourceUse;
  pods: ResourceUse;
}

/** What the pods bound to `node` request of it. */
export function nodeUsage(node: Node, pods: readonly Pod[]): NodeUsage {
  const alloc = node.status?.allocatable ?? node.status?.capacity ?? {};
  const usage: NodeUsage = {
    cpu: { requested: 0, allocatable: cpuMillis(alloc.cpu) },
    memory: { requested: 0, allocatable: bytes(alloc.memory) },
    pods: { requested: 0, allocatable: Number(alloc.pods ?? 0) || 0 },
  };
  for (const pod of pods) {
    if (pod.spec.nodeName !== node.metadata.name) continue;
    if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') continue;
    const r = effectiveRequests(pod);
    usage.cpu.requested += r.cpu;
    usage.memory.requested += r.memory;
    usage.pods.requested += 1;
  }
  return usage;
}

/** The share requested, 0–100 (0 when the node offers nothing), rounded down as kubectl does. */
export function percent(use: ResourceUse): number {
  return use.allocatable > 0 ? Math.floor((use.requested / use.allocatable) * 100) : 0;
}

/** Millicores as people write them: `250m`, `2`, `1.5`. */
export function formatCpu(millis: number): string {
  if (millis % 1000 === 0) return String(millis / 1000);
  if (millis < 1000) return `${millis}m`;
  return String(Math.round(millis / 100) / 10);
}

/** Bytes in the largest binary unit that keeps one decimal: `16Mi`, `1.5Gi`. */
export function formatMemory(n: number): string {
  for (const [suffix, mult] of [['Ti', 2 ** 40], ['Gi', 2 ** 30], ['Mi', 2 ** 20], ['Ki', 2 ** 10]] as const) {
    if (n >= mult) return `${Math.round((n / mult) * 10) / 10}${suffix}`;
  }
  return `${n}`;
}

/** A node's usage as metrics.k8s.io reports it: CPU in millicores, memory (working set) in bytes. */
export interface NodeLiveUsage {
  cpu: number;
  memory: number;
}

/** A NodeMetricsList as `GET /apis/metrics.k8s.io/v1beta1/nodes` answers it (the fields read here). */
export interface NodeMetricsList {
  items?: { metadata?: { name?: string }; usage?: { cpu?: string; memory?: string } }[];
}

/** Each reported node's usage, by node name. */
export function nodeLiveUsage(list: NodeMetricsList): Map<string, NodeLiveUsage> {
  const out = new Map<string, NodeLiveUsage>();
  for (const item of list.items ?? []) {
    const name = item.metadata?.name;
    if (name) out.set(name, { cpu: cpuMillis(item.usage?.cpu), memory: bytes(item.usage?.memory) });
  }
  return out;
}
