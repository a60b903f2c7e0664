/**
 * The Node object a node agent registers: labels, capacity and allocatable read from the machine,
 * addresses, nodeInfo and the conditions whose Ready heartbeat the node lifecycle controller reads.
 */
import os from 'node:os';
import type { Condition, Node, NodeStatus } from '../../model/types.js';
import { formatBytes } from '../../model/quantity.js';
import { NODE_STORAGE_DIR_ANNOTATION } from '../../model/storage.js';

/** The kubelet version string gantry's agents report. */
export const KUBELET_VERSION = 'gantry/0.1.0';
/** Kubernetes' default `--max-pods`. */
export const MAX_PODS = 110;

/** A condition with the node-specific heartbeat time. */
export type NodeCondition = Condition & { lastHeartbeatTime?: string };

/** What the agent knows about its machine. */
export interface MachineInfo {
  cpus: number;
  memoryBytes: number;
  internalIP?: string;
  hostname: string;
  arch: string;
  kernelVersion: string;
  osImage: string;
}

const GO_ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };

/** Reads the machine: cores, memory, first non-loopback IPv4 outside pod bridges (or `preferredIP`), arch. */
export function readMachine(preferredIP?: string): MachineInfo {
  let internalIP = preferredIP;
  if (!internalIP) {
    for (const [name, addrs] of Object.entries(os.networkInterfaces())) {
      // Pod bridges and veths are not the node's address (they exist again after a restart).
      if (/^(veth|cni|docker|gantry|gagt|gbn|br-)/.test(name)) continue;
      const a = addrs?.find((x) => x.family === 'IPv4' && !x.internal);
      if (a) {
        internalIP = a.address;
        break;
      }
    }
  }
  return {
    cpus: typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length,
    memoryBytes: os.totalmem(),
    internalIP,
    hostname: os.hostname(),
    arch: GO_ARCH[process.arch] ?? process.arch,
    kernelVersion: os.release(),
    osImage: os.version(),
  };
}

/** Memory as a `Ki` quantity, as the kubelet reports it. */
export function memoryQuantity(n: number): string {
  const exact = formatBytes(n);
  return /[KMGTPE]i$/.test(exact) ? exact : `${Math.floor(n / 1024)}Ki`;
}

/** The share of the node's filesystem kept free, as the kubelet's default hard eviction threshold (`nodefs.available<10%`). */
export const EPHEMERAL_STORAGE_RESERVE = 0.1;

/** The ephemeral storage a node of `diskBytes` offers its pods: the disk less the eviction reserve. */
export function ephemeralAllocatable(diskBytes: number): number {
  return Math.floor(diskBytes * (1 - EPHEMERAL_STORAGE_RESERVE));
}

/**
 * The node's status at `now`; with `kubeletPort`, where its agent serves logs, exec and
 * port-forward; with `ephemeralStorageBytes`, the size of the filesystem its pods write to, which
 * it offers as `ephemeral-storage` (capacity in Ki, allocatable less the eviction reserve, in
 * bytes, as the kubelet reports them).
 */
export function nodeStatus(machine: MachineInfo, opts: { now: string; runtimeVersion: string; prev?: NodeStatus; kubeletPort?: number; ephemeralStorageBytes?: number }): NodeStatus {
  const disk = opts.ephemeralStorageBytes ?? 0;
  const resources = { cpu: String(machine.cpus), memory: memoryQuantity(machine.memoryBytes), pods: String(MAX_PODS) };
  const prev = (opts.prev?.conditions ?? []) as NodeCondition[];
  const cond = (type: string, status: 'True' | 'False', reason: string, message: string): NodeCondition => {
    const old = prev.find((c) => c.type === type);
    return { type, status, reason, message, lastHeartbeatTime: opts.now, lastTransitionTime: old && old.status === status && old.lastTransitionTime ? old.lastTransitionTime : opts.now };
  };
  const addresses: { type: string; address: string }[] = [];
  if (machine.internalIP) addresses.push({ type: 'InternalIP', address: machine.internalIP });
  addresses.push({ type: 'Hostname', address: machine.hostname });
  return {
    capacity: { ...resources, ...(disk > 0 ? { 'ephemeral-storage': `${Math.floor(disk / 1024)}Ki` } : {}) },
    allocatable: { ...resources, ...(disk > 0 ? { 'ephemeral-storage': String(ephemeralAllocatable(disk)) } : {}) },
    conditions: [
      cond('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
      cond('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
      cond('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
      cond('Ready', 'True', 'KubeletReady', 'kubelet is posting ready status'),
    ],
    addresses,
    ...(opts.kubeletPort ? { daemonEndpoints: { kubeletEndpoint: { Port: opts.kubeletPort } } } : {}),
    nodeInfo: {
      architecture: machine.arch,
      operatingSystem: 'linux',
      osImage: machine.osImage,
      kernelVersion: machine.kernelVersion,
      containerRuntimeVersion: `containerd://${opts.runtimeVersion}`,
      kubeletVersion: KUBELET_VERSION,
    },
  };
}

/** A new Node object for `nodeName`. */
export function newNode(nodeName: string, machine: MachineInfo, status: NodeStatus): Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: nodeName, labels: nodeLabels(nodeName, machine) },
    spec: {},
    status,
  };
}

/** The well-known labels the agent owns on its Node. */
export function nodeLabels(nodeName: string, machine: MachineInfo): Record<string, string> {
  return { 'kubernetes.io/hostname': nodeName, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': machine.arch };
}

/** Tells the local-path provisioner where this node keeps volumes (an annotation on its Node). */
export function annotateStorageDir(node: Node, dir: string | undefined): void {
  if (dir && node.metadata.annotations?.[NODE_STORAGE_DIR_ANNOTATION] !== dir) {
    node.metadata.annotations = { ...node.metadata.annotations, [NODE_STORAGE_DIR_ANNOTATION]: dir };
  }
}
