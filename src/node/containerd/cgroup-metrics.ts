/**
 * What a task's cgroup statistics (Tasks.Metrics) say about its usage, for both cgroup versions,
 * read as the kubelet's cAdvisor reads the same files: CPU as the cumulative CPU time of the
 * cgroup (v1 `cpuacct.usage`, v2 `cpu.stat usage_usec`), memory as the working set — usage minus
 * the inactive file cache (v1 `memory.usage_in_bytes` − `total_inactive_file`, v2
 * `memory.current` − `inactive_file`), the figure metrics-server serves and the autoscaler uses.
 */
import { GantryError } from '../../errors.js';
import { loadProtos, type AnyValue } from './proto.js';

/** A task's cumulative usage at one moment. */
export interface CgroupUsage {
  /** CPU time since the cgroup was made, in nanoseconds. */
  cpuNanos: number;
  /** Working set in bytes. */
  memoryWorkingSetBytes: number;
}

const V1 = 'io.containerd.cgroups.v1.Metrics';
const V2 = 'io.containerd.cgroups.v2.Metrics';

interface V1Metrics {
  cpu?: { usage?: { total?: number } } | null;
  memory?: { total_inactive_file?: number; usage?: { usage?: number } | null } | null;
}

interface V2Metrics {
  cpu?: { usage_usec?: number } | null;
  memory?: { inactive_file?: number; usage?: number } | null;
}

/**
 * The usage a Tasks.Metrics payload reports. Throws GantryError Internal for a payload of
 * another type (containerd on a runtime gantry does not model).
 */
export function cgroupUsage(data: AnyValue): CgroupUsage {
  const name = data.type_url.slice(data.type_url.lastIndexOf('/') + 1);
  if (name !== V1 && name !== V2) throw new GantryError('Internal', `containerd task metrics of type ${JSON.stringify(data.type_url)}: gantry reads cgroup v1 and v2 statistics only`);
  const type = loadProtos().root.lookupType(name);
  // Only fields gantry's subset names are decoded; the rest of the message is skipped.
  const m = type.toObject(type.decode(data.value), { longs: Number }) as V1Metrics & V2Metrics;
  if (name === V1) {
    const v1 = m as V1Metrics;
    return { cpuNanos: v1.cpu?.usage?.total ?? 0, memoryWorkingSetBytes: workingSet(v1.memory?.usage?.usage, v1.memory?.total_inactive_file) };
  }
  const v2 = m as V2Metrics;
  return { cpuNanos: (v2.cpu?.usage_usec ?? 0) * 1000, memoryWorkingSetBytes: workingSet(v2.memory?.usage, v2.memory?.inactive_file) };
}

/** cAdvisor's working set: usage less inactive file pages, never below zero. */
function workingSet(usage: number | undefined, inactiveFile: number | undefined): number {
  const u = usage ?? 0;
  const inactive = inactiveFile ?? 0;
  return inactive < u ? u - inactive : 0;
}
