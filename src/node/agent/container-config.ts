/**
 * How a pod container's process is derived from its image config and the pod spec, as the kubelet
 * and containerd's CRI do: argv, user and groups, security (capabilities, privilege, seccomp),
 * working dir, resource limits, stop signal. Pure.
 */
import { constants as osConstants } from 'node:os';
import { GantryError } from '../../errors.js';
import { capabilityName } from '../../model/capabilities.js';
import { bytes, cpuMillis } from '../../model/quantity.js';
import type { Container, Pod, SeccompProfile } from '../../model/types.js';
import { DEFAULT_CAPABILITIES, type SpecResources } from '../containerd/spec.js';
import type { ImageConfig } from '../images/image-store.js';
import { expandVars } from './env.js';

/** The CFS period gantry uses (Kubernetes' default, 100 ms). */
export const CPU_PERIOD_US = 100_000;
/** Smallest CFS quota the kernel takes (the kubelet's floor too). */
const MIN_QUOTA_US = 1000;
/** cgroup v1 shares for a container without a CPU request (the kubelet's minimum). */
const MIN_SHARES = 2;
/**
 * pids limit for every container. Kubernetes leaves pids unlimited unless the node sets
 * `podPidsLimit`; gantry sets this default so one fork bomb cannot take the machine down.
 */
export const DEFAULT_PIDS_LIMIT = 4096;

/**
 * The process argv: `command` replaces the image's Entrypoint (and then the image's Cmd is
 * dropped), `args` replaces Cmd. `$(VAR)` in command and args expands from the container's env.
 * @throws GantryError InvalidArgument when neither the pod nor the image names a program.
 */
export function containerArgs(container: Container, image: ImageConfig, vars: ReadonlyMap<string, string>): string[] {
  let entry: string[];
  let args: string[];
  if (container.command && container.command.length > 0) {
    entry = container.command.map((c) => expandVars(c, vars));
    args = (container.args ?? []).map((a) => expandVars(a, vars));
  } else {
    entry = image.Entrypoint ?? [];
    args = container.args ? container.args.map((a) => expandVars(a, vars)) : (image.Cmd ?? []);
  }
  const argv = [...entry, ...args];
  if (argv.length === 0) {
    throw new GantryError('InvalidArgument', `container ${container.name}: no command specified (the image has neither Entrypoint nor Cmd, and the pod sets no command)`, { disposition: 'stalled' });
  }
  return argv;
}

/**
 * The numeric user and group: securityContext of the container over the pod's over the image's
 * `User`. Only numeric image users (`1000`, `1000:1000`) and `root` are supported; a named user
 * is an error asking for runAsUser (gantry does not read /etc/passwd from images).
 */
export function containerUser(pod: Pod, container: Container, image: ImageConfig): { uid: number; gid: number; additionalGids?: number[] } {
  let imageUid = 0;
  let imageGid: number | undefined;
  const raw = (image.User ?? '').trim();
  if (raw) {
    const [u, g] = raw.split(':') as [string, string | undefined];
    const num = (s: string): number | undefined => (s === 'root' ? 0 : /^\d+$/.test(s) ? Number(s) : undefined);
    const uid = num(u);
    const gid = g === undefined ? undefined : num(g);
    const overridden = container.securityContext?.runAsUser !== undefined || pod.spec.securityContext?.runAsUser !== undefined;
    if ((uid === undefined || (g !== undefined && gid === undefined)) && !overridden) {
      throw new GantryError(
        'InvalidArgument',
        `container ${container.name}: image user "${raw}" is not numeric; gantry supports numeric users only — set securityContext.runAsUser (and runAsGroup)`,
        { disposition: 'stalled' },
      );
    }
    imageUid = uid ?? 0;
    imageGid = gid;
  }
  const uid = container.securityContext?.runAsUser ?? pod.spec.securityContext?.runAsUser ?? imageUid;
  const gid = container.securityContext?.runAsGroup ?? pod.spec.securityContext?.runAsGroup ?? imageGid ?? 0;
  if ((container.securityContext?.runAsNonRoot ?? pod.spec.securityContext?.runAsNonRoot) && uid === 0) {
    throw new GantryError('InvalidArgument', `container ${container.name} has runAsNonRoot and would run as root (uid 0)`, { disposition: 'stalled' });
  }
  // As the kubelet hands them to the runtime: fsGroup first, then supplementalGroups.
  const psc = pod.spec.securityContext;
  const groups = [...new Set([...(psc?.fsGroup !== undefined ? [psc.fsGroup] : []), ...(psc?.supplementalGroups ?? [])])];
  return { uid, gid, ...(groups.length ? { additionalGids: groups } : {}) };
}

/** The security settings of a container's process, resolved from its and the pod's security contexts. */
export interface ContainerSecurity {
  /** Capabilities of the process (bounding, effective, permitted). */
  capabilities: string[];
  /** `no_new_privs`: set only when `allowPrivilegeEscalation` is false, as the kubelet does. */
  noNewPrivileges: boolean;
  privileged: boolean;
  readonlyRootfs: boolean;
  /** Which seccomp filter: none, gantry's RuntimeDefault, or a file of the node's seccomp directory. */
  seccomp: { type: 'Unconfined' } | { type: 'RuntimeDefault' } | { type: 'Localhost'; file: string };
}

/**
 * The container's security, as containerd's CRI builds it from the kubelet's request: the default
 * capability set with `ALL` and named capabilities added and dropped (add first, drop last), all
 * of `available` for a privileged container; seccomp from the container's profile, else the
 * pod's, else Unconfined (the kubelet's default), none for a privileged container.
 * `available` is what this node's agent holds itself: a capability it lacks cannot be given.
 */
export function containerSecurity(pod: Pod, container: Container, available: readonly string[]): ContainerSecurity {
  const sc = container.securityContext ?? {};
  const privileged = sc.privileged === true;
  const have = new Set(available);
  let caps: Set<string>;
  if (privileged) {
    caps = new Set(available);
  } else {
    const add = (sc.capabilities?.add ?? []).map(capabilityName).filter((c): c is string => !!c);
    const drop = (sc.capabilities?.drop ?? []).map(capabilityName).filter((c): c is string => !!c);
    caps = new Set(DEFAULT_CAPABILITIES);
    if (add.includes('ALL')) caps = new Set(available);
    if (drop.includes('ALL')) caps = new Set();
    for (const c of add) if (c !== 'ALL') caps.add(c);
    for (const c of drop) if (c !== 'ALL') caps.delete(c);
    for (const c of caps) if (!have.has(c)) caps.delete(c);
  }
  const profile: SeccompProfile | undefined = sc.seccompProfile ?? pod.spec.securityContext?.seccompProfile;
  const seccomp: ContainerSecurity['seccomp'] = privileged || !profile || profile.type === 'Unconfined'
    ? { type: 'Unconfined' }
    : profile.type === 'Localhost' ? { type: 'Localhost', file: profile.localhostProfile ?? '' } : { type: 'RuntimeDefault' };
  return {
    capabilities: [...caps],
    noNewPrivileges: !privileged && sc.allowPrivilegeEscalation === false,
    privileged,
    readonlyRootfs: sc.readOnlyRootFilesystem === true,
    seccomp,
  };
}

/**
 * cgroup limits from `resources`: memory limit in bytes, CPU limit as a CFS quota per 100 ms
 * period, CPU request as shares (1 core = 1024), and {@link DEFAULT_PIDS_LIMIT}.
 */
export function containerResources(container: Container): SpecResources {
  const limits = container.resources?.limits ?? {};
  const requests = container.resources?.requests ?? {};
  const out: SpecResources = { pidsLimit: DEFAULT_PIDS_LIMIT };
  if (limits.memory !== undefined) out.memoryBytes = bytes(limits.memory);
  if (limits.cpu !== undefined) {
    out.cpuQuota = Math.max(MIN_QUOTA_US, Math.round((cpuMillis(limits.cpu) * CPU_PERIOD_US) / 1000));
    out.cpuPeriod = CPU_PERIOD_US;
  }
  // As the kubelet: the request, or the limit when only a limit is set, else the minimum.
  const reqMillis = requests.cpu !== undefined ? cpuMillis(requests.cpu) : limits.cpu !== undefined ? cpuMillis(limits.cpu) : 0;
  out.cpuShares = reqMillis > 0 ? Math.max(MIN_SHARES, Math.floor((reqMillis * 1024) / 1000)) : MIN_SHARES;
  return out;
}

/** The image's STOPSIGNAL as a number (`SIGQUIT`, `QUIT`, `3`), default SIGTERM. */
export function stopSignal(image: ImageConfig): number {
  const raw = (image.StopSignal ?? '').trim();
  if (!raw) return osConstants.signals.SIGTERM;
  if (/^\d+$/.test(raw)) return Number(raw);
  const name = (raw.toUpperCase().startsWith('SIG') ? raw.toUpperCase() : `SIG${raw.toUpperCase()}`) as keyof typeof osConstants.signals;
  return osConstants.signals[name] ?? osConstants.signals.SIGTERM;
}

/** The pod's hostname: `spec.hostname`, else the pod name (cut to 63 characters as Kubernetes). */
export function podHostname(pod: Pod): string {
  return (pod.spec.hostname || pod.metadata.name).slice(0, 63).replace(/[-.]+$/, '');
}

/** /etc/hosts for a pod, as the kubelet writes it (managed header, localhost lines, the pod's own entry). */
export function hostsFile(pod: Pod, podIP: string | undefined): string {
  const lines = [
    '# Kubernetes-managed hosts file (written by the gantry node agent).',
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'fe00::0\tip6-mcastprefix',
    'fe00::1\tip6-allnodes',
    'fe00::2\tip6-allrouters',
  ];
  const host = podHostname(pod);
  if (podIP) {
    const fqdn = pod.spec.subdomain ? `${host}.${pod.spec.subdomain}.${pod.metadata.namespace ?? 'default'}.svc.cluster.local\t` : '';
    lines.push(`${podIP}\t${fqdn}${host}`);
  }
  const aliases = pod.spec.hostAliases ?? [];
  if (aliases.length) {
    lines.push('', '# Entries added by HostAliases.');
    for (const a of aliases) lines.push(`${a.ip}\t${(a.hostnames ?? []).join('\t')}`);
  }
  return lines.join('\n') + '\n';
}

/** The cluster DNS as the agent writes it into pods' resolv.conf. */
export interface ClusterDnsSettings {
  /** The cluster DNS address (the service CIDR's tenth). */
  ip: string;
  /** Default cluster.local. */
  domain?: string;
}

/**
 * A pod's resolv.conf, by `dnsPolicy` as the kubelet writes it: ClusterFirst (the default; for
 * hostNetwork pods only as ClusterFirstWithHostNet) names the cluster DNS with the search path
 * `<ns>.svc.<domain> svc.<domain> <domain>` and `ndots:5`; Default (and ClusterFirst without
 * a cluster DNS) is the host's; None is `dnsConfig` alone. `dnsConfig` adds nameservers and
 * searches after the policy's, and options override the policy's of the same name.
 */
export function podDnsConf(pod: Pod, hostText: string, cluster: ClusterDnsSettings | undefined): string {
  const policy = pod.spec.dnsPolicy ?? 'ClusterFirst';
  const useCluster = !!cluster && (policy === 'ClusterFirstWithHostNet' || (policy === 'ClusterFirst' && !pod.spec.hostNetwork));
  let nameservers: string[] = [];
  let searches: string[] = [];
  const options = new Map<string, string | undefined>();
  if (useCluster) {
    const domain = cluster.domain ?? 'cluster.local';
    const ns = pod.metadata.namespace ?? 'default';
    nameservers = [cluster.ip];
    searches = [`${ns}.svc.${domain}`, `svc.${domain}`, domain];
    options.set('ndots', '5');
  } else if (policy !== 'None') {
    const host = podResolvConf(hostText);
    nameservers = [...host.matchAll(/^\s*nameserver\s+(\S+)/gm)].map((m) => m[1]!);
    searches = [...host.matchAll(/^\s*(?:search|domain)\s+(.+)$/gm)].flatMap((m) => m[1]!.trim().split(/\s+/));
    for (const m of host.matchAll(/^\s*options\s+(.+)$/gm)) {
      for (const o of m[1]!.trim().split(/\s+/)) {
        const [k, v] = o.split(':');
        options.set(k!, v);
      }
    }
  }
  const cfg = pod.spec.dnsConfig;
  for (const n of cfg?.nameservers ?? []) if (!nameservers.includes(n)) nameservers.push(n);
  for (const d of cfg?.searches ?? []) if (!searches.includes(d)) searches.push(d);
  for (const o of cfg?.options ?? []) options.set(o.name, o.value);
  const lines = [
    ...nameservers.slice(0, 3).map((n) => `nameserver ${n}`),
    ...(searches.length ? [`search ${searches.slice(0, 32).join(' ')}`] : []),
    ...(options.size ? [`options ${[...options].map(([k, v]) => (v === undefined ? k : `${k}:${v}`)).join(' ')}`] : []),
  ];
  return lines.join('\n') + '\n';
}

/**
 * resolv.conf for pods from the host's: loopback nameservers (systemd-resolved's 127.0.0.53 and
 * the like) are unreachable from a pod's network namespace and are dropped, as the kubelet does.
 */
export function podResolvConf(hostText: string): string {
  const kept = hostText.split('\n').filter((l) => !/^\s*nameserver\s+(127\.|::1\b)/.test(l));
  return kept.join('\n').replace(/\n*$/, '\n');
}
