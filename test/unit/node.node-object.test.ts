import assert from 'node:assert/strict';
import { EPHEMERAL_STORAGE_RESERVE, newNode, nodeStatus, type MachineInfo } from '../../src/node/agent/node-object.js';
import { nodeAllocatable } from '../../src/scheduler/cache.js';

const machine: MachineInfo = { cpus: 2, memoryBytes: 8 * 2 ** 30, hostname: 'vm', arch: 'amd64', kernelVersion: '6.1', osImage: 'Debian' };
const now = '2026-12-07T00:00:00Z';

describe('the Node an agent registers: what it offers', () => {
  it('offers the filesystem its pods write to as ephemeral-storage: capacity in Ki, allocatable less the eviction reserve, as the kubelet reports them', () => {
    const status = nodeStatus(machine, { now, runtimeVersion: '1.6', ephemeralStorageBytes: 100 * 2 ** 30 });
    assert.equal(status.capacity?.['ephemeral-storage'], '104857600Ki');
    assert.equal(status.allocatable?.['ephemeral-storage'], String(Math.floor(100 * 2 ** 30 * (1 - EPHEMERAL_STORAGE_RESERVE))));
    assert.deepEqual([status.allocatable?.cpu, status.allocatable?.memory, status.allocatable?.pods], ['2', '8Gi', '110']);
    // What the scheduler reads of it: 90 GiB to hand out.
    const alloc = nodeAllocatable(newNode('vm', machine, status));
    assert.equal(alloc.scalar?.get('ephemeral-storage'), Math.floor(100 * 2 ** 30 * 0.9));
  });

  it('offers no ephemeral-storage when the filesystem cannot be read', () => {
    const status = nodeStatus(machine, { now, runtimeVersion: '1.6', ephemeralStorageBytes: 0 });
    assert.equal(status.capacity?.['ephemeral-storage'], undefined);
    assert.equal(nodeAllocatable(newNode('vm', machine, status)).scalar, undefined);
  });
});
