/**
 * The node's own usage for NodeMetrics (`kubectl top node`), read from the kernel: CPU time as the
 * busy time of `/proc/stat` (user, nice, system, irq, softirq, steal: everything but idle and
 * iowait), memory as MemTotal − MemAvailable of `/proc/meminfo` — memory in use less what the
 * kernel could reclaim at once, the machine-wide counterpart of a container's working set. The
 * node's start is its boot time (`btime`), when its CPU time was 0.
 */
import { readFile } from 'node:fs/promises';
import { GantryError } from '../../errors.js';
import type { UsagePoint } from '../../model/metrics.js';

/** The kernel's USER_HZ: /proc/stat counts in hundredths of a second on every Linux architecture gantry runs on. */
const USER_HZ = 100;
const NANOS_PER_TICK = 1e9 / USER_HZ;

/** Reads the node's usage now. `procDir` is for tests. */
export async function readNodeUsage(opts: { procDir?: string; now?: () => number } = {}): Promise<UsagePoint> {
  const proc = opts.procDir ?? '/proc';
  const [stat, meminfo] = await Promise.all([readFile(`${proc}/stat`, 'utf8'), readFile(`${proc}/meminfo`, 'utf8')]);
  return { ...parseProcStat(stat), timestamp: (opts.now ?? Date.now)(), memoryBytes: parseMeminfoInUse(meminfo) };
}

/** Busy CPU time since boot (ns) and the boot time (ms since the epoch) from /proc/stat. */
export function parseProcStat(text: string): { cpuNanos: number; startTime: number } {
  const cpu = /^cpu\s+(.+)$/m.exec(text);
  const btime = /^btime\s+(\d+)$/m.exec(text);
  if (!cpu || !btime) throw new GantryError('Internal', '/proc/stat has no aggregate cpu line or no btime: cannot read the node\'s CPU usage');
  const f = cpu[1]!.trim().split(/\s+/).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already inside user).
  const busy = (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0);
  return { cpuNanos: busy * NANOS_PER_TICK, startTime: Number(btime[1]) * 1000 };
}

/** MemTotal − MemAvailable of /proc/meminfo, in bytes. */
export function parseMeminfoInUse(text: string): number {
  const kb = (field: string): number | undefined => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(text);
    return m ? Number(m[1]) : undefined;
  };
  const total = kb('MemTotal');
  const available = kb('MemAvailable');
  if (total === undefined || available === undefined) throw new GantryError('Internal', '/proc/meminfo lacks MemTotal or MemAvailable: cannot read the node\'s memory usage');
  return Math.max(0, total - available) * 1024;
}
