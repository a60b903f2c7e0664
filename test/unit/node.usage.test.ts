import assert from 'node:assert/strict';
import { parseMeminfoInUse, parseProcStat } from '../../src/node/agent/node-usage.js';
import { collectUsage, type RunningContainer } from '../../src/node/agent/usage.js';
import { cgroupUsage } from '../../src/node/containerd/cgroup-metrics.js';
import { encodeAny } from '../../src/node/containerd/proto.js';
import type { TaskMetric } from '../../src/node/containerd/types.js';

const v1 = (cpuNanos: number, usage: number, inactiveFile: number) =>
  encodeAny('io.containerd.cgroups.v1.Metrics', { cpu: { usage: { total: cpuNanos } }, memory: { usage: { usage }, total_inactive_file: inactiveFile } });
const v2 = (usageUsec: number, usage: number, inactiveFile: number) =>
  encodeAny('io.containerd.cgroups.v2.Metrics', { cpu: { usage_usec: usageUsec }, memory: { usage, inactive_file: inactiveFile } });

describe('node usage: what the agent reads of its containers and of the machine', () => {
  it('cgroupUsage() reads CPU time and the working set (usage less inactive file cache) from cgroup v1 and v2 statistics', () => {
    assert.deepEqual(cgroupUsage(v1(2_500_000_000, 50 << 20, 10 << 20)), { cpuNanos: 2_500_000_000, memoryWorkingSetBytes: 40 << 20 });
    assert.deepEqual(cgroupUsage(v2(2_500_000, 50 << 20, 10 << 20)), { cpuNanos: 2_500_000_000, memoryWorkingSetBytes: 40 << 20 });
    assert.equal(cgroupUsage(v1(1, 1 << 20, 2 << 20)).memoryWorkingSetBytes, 0, 'never below zero');
  });

  it('cgroupUsage() refuses statistics of a type it does not know, naming it', () => {
    assert.throws(() => cgroupUsage({ type_url: 'io.containerd.windows.Stats', value: Buffer.alloc(0) }), /io\.containerd\.windows\.Stats.*cgroup v1 and v2 statistics only/);
  });

  it('collectUsage() reports running pod containers with their pods and start times, and leaves other tasks out', async () => {
    const at = new Date('2026-12-01T12:00:00Z');
    const metrics: TaskMetric[] = [
      { id: 'uid1-main-0', timestamp: at, data: v1(3e9, 30 << 20, 0) },
      { id: 'uid1-sidecar-2', timestamp: at, data: v1(1e9, 10 << 20, 0) },
      { id: 'exited-instance', timestamp: at, data: v1(9e9, 1, 0) },
    ];
    const containers: RunningContainer[] = [
      { id: 'uid1-main-0', podUid: 'uid1', namespace: 'shop', podName: 'web-1', container: 'main', startedAt: '2026-12-01T11:00:00Z' },
      { id: 'uid1-sidecar-2', podUid: 'uid1', namespace: 'shop', podName: 'web-1', container: 'sidecar', startedAt: '2026-12-01T11:30:00Z' },
      { id: 'uid2-main-0', podUid: 'uid2', namespace: 'shop', podName: 'web-2', container: 'main' },
    ];
    const node = { startTime: 1, timestamp: at.getTime(), cpuNanos: 5e12, memoryBytes: 1 << 30 };
    const report = await collectUsage({ client: { taskMetrics: async () => metrics }, containers, node: async () => node, periodMs: 15_000 });
    assert.deepEqual(report, {
      periodMs: 15_000,
      node,
      pods: [{
        uid: 'uid1', namespace: 'shop', name: 'web-1',
        containers: [
          { name: 'main', startTime: Date.parse('2026-12-01T11:00:00Z'), timestamp: at.getTime(), cpuNanos: 3e9, memoryBytes: 30 << 20 },
          { name: 'sidecar', startTime: Date.parse('2026-12-01T11:30:00Z'), timestamp: at.getTime(), cpuNanos: 1e9, memoryBytes: 10 << 20 },
        ],
      }],
    });
  });

  it('parseProcStat() counts busy time (not idle nor iowait) in nanoseconds, and the boot time', () => {
    const stat = 'cpu  100 5 50 1000 20 3 2 1 0 0\ncpu0 50 2 25 500 10 1 1 0 0 0\nintr 1 2\nbtime 1796595115\n';
    assert.deepEqual(parseProcStat(stat), { cpuNanos: (100 + 5 + 50 + 3 + 2 + 1) * 1e7, startTime: 1796595115000 });
    assert.throws(() => parseProcStat('cpu0 1 2 3\n'), /no aggregate cpu line or no btime/);
  });

  it('parseMeminfoInUse() is MemTotal less MemAvailable, in bytes', () => {
    assert.equal(parseMeminfoInUse('MemTotal:       24683748 kB\nMemFree:  100 kB\nMemAvailable:   20832208 kB\n'), (24683748 - 20832208) * 1024);
    assert.throws(() => parseMeminfoInUse('MemTotal: 1 kB\n'), /lacks MemTotal or MemAvailable/);
  });
});
