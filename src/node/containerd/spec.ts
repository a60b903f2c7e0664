/**
 * The OCI runtime spec gantry hands to runc through containerd, and the host's cgroup layout.
 * Defaults follow containerd's own (capabilities, mounts, masked paths) so a container behaves as
 * under `ctr run` / Kubernetes.
 */
import { existsSync, readFileSync, readdirSync, rmdirSync } from 'node:fs';
import path from 'node:path';

/** An OCI mount. */
export interface SpecMount {
  destination: string;
  type: string;
  source: string;
  options?: string[];
}

/** Resource limits applied through the container's cgroup. */
export interface SpecResources {
  /** memory limit in bytes */
  memoryBytes?: number;
  /** CFS quota in µs per period (cpu limit × period) */
  cpuQuota?: number;
  /** CFS period in µs; default 100000 when a quota is set */
  cpuPeriod?: number;
  /** relative CPU weight (cgroup v1 shares; runc converts for v2) */
  cpuShares?: number;
  pidsLimit?: number;
}

/** Options for {@link buildSpec}. */
export interface BuildSpecOptions {
  /** argv of the process (entrypoint + cmd, or command + args). */
  args: string[];
  /** `NAME=value` strings. */
  env: string[];
  /** Working directory; default `/`. */
  cwd?: string;
  /** Numeric user; default root. */
  user?: { uid: number; gid: number; additionalGids?: number[] };
  hostname?: string;
  /** Join this network namespace (a pod's); omitted → a fresh, empty one unless `hostNetwork`. */
  netnsPath?: string;
  /** Use the host's network namespace. */
  hostNetwork?: boolean;
  /** Extra mounts (volumes), appended after the standard ones. */
  mounts?: SpecMount[];
  resources?: SpecResources;
  /** cgroup path for runc's cgroupfs driver, e.g. `/gantry/<pod-uid>/<container>` (see {@link cgroupsPathFor}). */
  cgroupsPath: string;
  /** Mount the rootfs read-only. */
  readonlyRootfs?: boolean;
  /** Share the host's PID namespace (no namespace of its own). */
  hostPID?: boolean;
  /** Share the host's IPC namespace, and its /dev/shm. */
  hostIPC?: boolean;
  /** The process's capabilities (bounding, effective, permitted); default {@link DEFAULT_CAPABILITIES}. */
  capabilities?: readonly string[];
  /** `no_new_privs` for the process; default true. */
  noNewPrivileges?: boolean;
  /**
   * A privileged container: every device allowed (and `devices` created in its /dev), /sys and
   * its cgroup writable, no masked or read-only /proc paths.
   */
  privileged?: boolean;
  /** Devices to create in the container's /dev (the host's, for a privileged container). */
  devices?: LinuxDevice[];
  /** An OCI `linux.seccomp` filter; none means unconfined. */
  seccomp?: Record<string, unknown>;
  /** OCI annotations. */
  annotations?: Record<string, string>;
  /** Namespaced kernel parameters runc sets in the container's namespaces (`linux.sysctl`). */
  sysctls?: Record<string, string>;
  /**
   * Propagation of the container's root mount: `rshared` when a mount propagates back to the
   * host, `rslave` when one receives the host's (runc's default is rslave too).
   */
  rootfsPropagation?: 'rslave' | 'rshared';
}

/** The type URL containerd expects for a runtime spec Any. */
export const SPEC_TYPE_URL = 'types.containerd.io/opencontainers/runtime-spec/1/Spec';
/** The type URL containerd expects for an exec process spec Any. */
export const PROCESS_TYPE_URL = 'types.containerd.io/opencontainers/runtime-spec/1/Process';

/** containerd's default capability set for containers. */
export const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

/** An OCI `linux.devices` entry. */
export interface LinuxDevice {
  path: string;
  type: 'c' | 'b';
  major: number;
  minor: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

/** The OCI `process` object for `opts` (also used for exec). */
export function buildProcess(opts: Pick<BuildSpecOptions, 'args' | 'env' | 'cwd' | 'user' | 'capabilities' | 'noNewPrivileges'>): Record<string, unknown> {
  const caps = [...(opts.capabilities ?? DEFAULT_CAPABILITIES)];
  return {
    terminal: false,
    user: { uid: opts.user?.uid ?? 0, gid: opts.user?.gid ?? 0, ...(opts.user?.additionalGids?.length ? { additionalGids: opts.user.additionalGids } : {}) },
    args: opts.args,
    env: opts.env,
    cwd: opts.cwd || '/',
    capabilities: { bounding: caps, effective: caps, permitted: caps },
    rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
    noNewPrivileges: opts.noNewPrivileges ?? true,
  };
}

/** A runc runtime spec: standard mounts, namespaces (pid, ipc, uts, mount, network), limits. */
export function buildSpec(opts: BuildSpecOptions): Record<string, unknown> {
  const namespaces: Record<string, string>[] = [];
  if (!opts.hostPID) namespaces.push({ type: 'pid' });
  if (!opts.hostIPC) namespaces.push({ type: 'ipc' });
  namespaces.push({ type: 'uts' }, { type: 'mount' });
  if (opts.netnsPath) namespaces.push({ type: 'network', path: opts.netnsPath });
  else if (!opts.hostNetwork) namespaces.push({ type: 'network' });
  const r = opts.resources ?? {};
  const privileged = opts.privileged ?? false;
  const resources: Record<string, unknown> = { devices: [{ allow: privileged, access: 'rwm' }] };
  if (r.memoryBytes !== undefined) resources.memory = { limit: r.memoryBytes };
  if (r.cpuQuota !== undefined || r.cpuShares !== undefined) {
    resources.cpu = {
      ...(r.cpuShares !== undefined ? { shares: r.cpuShares } : {}),
      ...(r.cpuQuota !== undefined ? { quota: r.cpuQuota, period: r.cpuPeriod ?? 100_000 } : {}),
    };
  }
  if (r.pidsLimit !== undefined) resources.pids = { limit: r.pidsLimit };
  return {
    ociVersion: '1.0.2-dev',
    process: buildProcess(opts),
    root: { path: 'rootfs', readonly: opts.readonlyRootfs ?? false },
    hostname: opts.hostname ?? '',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
      opts.hostIPC
        // With the host's IPC namespace comes the host's shared memory, as containerd's CRI binds it.
        ? { destination: '/dev/shm', type: 'bind', source: '/dev/shm', options: ['rbind', 'rprivate', 'rw'] }
        : { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', privileged ? 'rw' : 'ro'] },
      // As Kubernetes does: the container sees its own cgroup (and so its limits) read-only.
      { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', privileged ? 'rw' : 'ro'] },
      { destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      ...(opts.mounts ?? []),
    ],
    ...(opts.annotations ? { annotations: opts.annotations } : {}),
    linux: {
      cgroupsPath: opts.cgroupsPath,
      resources,
      namespaces,
      ...(opts.devices?.length ? { devices: opts.devices } : {}),
      ...(opts.seccomp ? { seccomp: opts.seccomp } : {}),
      ...(opts.sysctls ? { sysctl: opts.sysctls } : {}),
      ...(opts.rootfsPropagation ? { rootfsPropagation: opts.rootfsPropagation } : {}),
      ...(privileged ? {} : CONFINED_PATHS),
    },
  };
}

/** What /proc and /sys paths an unprivileged container may not see or change (containerd's defaults). */
const CONFINED_PATHS = {
  maskedPaths: [
    '/proc/acpi',
    '/proc/asound',
    '/proc/kcore',
    '/proc/keys',
    '/proc/latency_stats',
    '/proc/timer_list',
    '/proc/timer_stats',
    '/proc/sched_debug',
    '/sys/firmware',
    '/proc/scsi',
  ],
  readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
};

/** Which cgroup hierarchy the host runs. */
export type CgroupVersion = 1 | 2;

/** Detects cgroup v2 (unified: `/sys/fs/cgroup/cgroup.controllers`) versus v1. */
export function cgroupVersion(root = '/sys/fs/cgroup'): CgroupVersion {
  return existsSync(path.join(root, 'cgroup.controllers')) ? 2 : 1;
}

/**
 * The cgroupsPath gantry gives a container: `/gantry/<parts…>` under the cgroupfs driver, which
 * runc places at `/sys/fs/cgroup/<controller>/gantry/…` on v1 and `/sys/fs/cgroup/gantry/…` on v2.
 */
export function cgroupsPathFor(...parts: string[]): string {
  return '/' + ['gantry', ...parts.map((p) => p.replace(/[^A-Za-z0-9_.-]/g, '_'))].join('/');
}

/** Limits as read back from a container's cgroup (undefined = unlimited or unreadable). */
export interface CgroupLimits {
  memoryBytes?: number;
  cpuQuota?: number;
  cpuPeriod?: number;
  pidsLimit?: number;
}

/** Reads the limits in effect for `cgroupsPath` from the host's cgroup filesystem (v1 or v2). */
export function readCgroupLimits(cgroupsPath: string, root = '/sys/fs/cgroup'): CgroupLimits {
  const read = (file: string): string | undefined => {
    try {
      return readFileSync(file, 'utf8').trim();
    } catch {
      return undefined;
    }
  };
  const num = (v: string | undefined): number | undefined => (v === undefined || v === 'max' || v === '-1' ? undefined : Number(v));
  if (cgroupVersion(root) === 2) {
    const dir = path.join(root, cgroupsPath);
    const [quota, period] = (read(path.join(dir, 'cpu.max')) ?? '').split(' ');
    return { memoryBytes: num(read(path.join(dir, 'memory.max'))), cpuQuota: num(quota), cpuPeriod: num(period), pidsLimit: num(read(path.join(dir, 'pids.max'))) };
  }
  const mem = num(read(path.join(root, 'memory', cgroupsPath, 'memory.limit_in_bytes')));
  return {
    // v1 reports "unlimited" as a huge page-rounded number.
    memoryBytes: mem !== undefined && mem < 2 ** 62 ? mem : undefined,
    cpuQuota: num(read(path.join(root, 'cpu', cgroupsPath, 'cpu.cfs_quota_us'))),
    cpuPeriod: num(read(path.join(root, 'cpu', cgroupsPath, 'cpu.cfs_period_us'))),
    pidsLimit: num(read(path.join(root, 'pids', cgroupsPath, 'pids.max'))),
  };
}

/**
 * Removes the (empty) cgroup directory `cgroupsPath` from every hierarchy. runc removes a
 * container's own cgroup, not the parents gantry put it under (e.g. a pod's). Busy or non-empty
 * cgroups are left alone. @returns whether anything was removed.
 */
export function removeCgroup(cgroupsPath: string, root = '/sys/fs/cgroup'): boolean {
  const dirs =
    cgroupVersion(root) === 2
      ? [path.join(root, cgroupsPath)]
      : readdirSync(root, { withFileTypes: true })
          .filter((e) => e.isDirectory())
          .map((e) => path.join(root, e.name, cgroupsPath));
  let removed = false;
  for (const dir of dirs) {
    try {
      rmdirSync(dir);
      removed = true;
    } catch {
      // absent in this hierarchy, or still in use
    }
  }
  return removed;
}
