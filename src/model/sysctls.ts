/**
 * Pod sysctls as the kubelet admits them: only the namespaced kernel parameters it calls safe
 * (its default allow-list in Kubernetes 1.32) may be set, each once; `net.*` ones not in a pod on
 * the host's network, `kernel.shm*` ones not in a pod on the host's IPC namespace (they would
 * change the node). gantry has no `--allowed-unsafe-sysctls`: anything else is refused.
 */
import type { Sysctl } from './types.js';

/** The kubelet's safe sysctls: namespaced, and unable to affect other pods or the node. */
export const SAFE_SYSCTLS: readonly string[] = [
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range',
  'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
  'net.ipv4.tcp_rmem',
  'net.ipv4.tcp_wmem',
];

// Kubernetes' sysctl name pattern: dot- or slash-separated segments.
const SYSCTL_NAME = /^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$/;

/** A sysctl name with `/` separators written with dots, as Kubernetes compares them (`net/ipv4/x` is `net.ipv4.x`). */
export function dottedSysctl(name: string): string {
  // A name that starts with a slash-separated segment uses slashes as separators throughout.
  const firstDot = name.indexOf('.');
  const firstSlash = name.indexOf('/');
  if (firstSlash === -1 || (firstDot !== -1 && firstDot < firstSlash)) return name;
  return name.replace(/[./]/g, (c) => (c === '/' ? '.' : '/'));
}

/** Why a pod may not set `name` (undefined when it may), given how it shares the host's namespaces. */
export function sysctlProblem(name: string, host: { network?: boolean; ipc?: boolean }): string | undefined {
  if (name.length > 253 || !SYSCTL_NAME.test(name)) {
    return 'must have at most 253 characters and match the regex ^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$';
  }
  const dotted = dottedSysctl(name);
  if (!SAFE_SYSCTLS.includes(dotted)) {
    return `not a safe sysctl, and gantry's nodes allow no unsafe ones (safe: ${SAFE_SYSCTLS.join(', ')})`;
  }
  if (host.network && dotted.startsWith('net.')) return 'a net.* sysctl may not be set when `hostNetwork` is true (it would change the node)';
  if (host.ipc && dotted.startsWith('kernel.shm')) return 'a kernel.shm* sysctl may not be set when `hostIPC` is true (it would change the node)';
  return undefined;
}

/** A pod's sysctls as the OCI spec's `linux.sysctl` map, names dotted. */
export function sysctlMap(sysctls: readonly Sysctl[] | undefined): Record<string, string> | undefined {
  if (!sysctls?.length) return undefined;
  return Object.fromEntries(sysctls.map((s) => [dottedSysctl(s.name), s.value]));
}
