/**
 * The OCI runtime spec of one container instance, from the pod, the container, its image, the
 * ConfigMaps, Secrets and Services the env draws on, and the node: argv and env, user and
 * groups, mounts (volumes, the pod's hosts and resolv.conf), namespaces (hostPID, hostIPC,
 * hostNetwork), capabilities, no_new_privs, seccomp, privilege, read-only root, limits, the
 * pod's sysctls and the mounts' propagation.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { capabilitiesOfMask } from '../../model/capabilities.js';
import { sysctlMap } from '../../model/sysctls.js';
import type { Pod } from '../../model/types.js';
import { hostDevices } from '../containerd/devices.js';
import { defaultSeccompProfile, loadLocalhostProfile, type SeccompFilter } from '../containerd/seccomp.js';
import { buildSpec, cgroupsPathFor, DEFAULT_CAPABILITIES, type SpecMount } from '../containerd/spec.js';
import type { LocalImage } from '../images/image-store.js';
import type { PodReferences } from '../types.js';
import { rootfsPropagation } from '../volumes/mounts.js';
import { checkPropagation } from '../volumes/propagation.js';
import { containerArgs, containerResources, containerSecurity, containerUser, podHostname } from './container-config.js';
import { podDir, type ContainerTarget, type PodSyncerOptions } from './context.js';
import { mergeEnv, resolvePodEnv } from './env.js';

/** What a container instance is created with. */
export interface BuiltContainer {
  /** The OCI runtime spec. */
  spec: Record<string, unknown>;
  /** Its process (exec probes and hooks run as it). */
  process: Record<string, unknown>;
  /** `NAME=value` env, image's and pod's merged. */
  env: string[];
}

let agentCaps: string[] | undefined;

/**
 * The capabilities this agent's process may hand on (its bounding set): a privileged container
 * gets them all, as containerd gives it every capability it holds itself.
 */
export function agentCapabilities(): string[] {
  if (!agentCaps) {
    try {
      const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
      agentCaps = m ? capabilitiesOfMask(m[1]!) : [...DEFAULT_CAPABILITIES];
    } catch {
      agentCaps = [...DEFAULT_CAPABILITIES];
    }
  }
  return agentCaps;
}

/** The node's directory of Localhost seccomp profiles (`<node data dir>/seccomp`, as the kubelet's `<root-dir>/seccomp`). */
export function seccompDir(o: Pick<PodSyncerOptions, 'dataDir'>): string {
  return path.join(o.dataDir, 'seccomp');
}

/**
 * The spec of a container instance.
 * @throws GantryError for a configuration the container cannot start with (a missing env
 *   reference, a seccomp profile that cannot be read, a root user with runAsNonRoot, a
 *   propagating mount of a private host path).
 */
export async function buildContainerSpec(o: PodSyncerOptions, t: ContainerTarget, opts: { image: LocalImage; refs: PodReferences }): Promise<BuiltContainer> {
  const { pod, rt, spec } = t;
  const { image, refs } = opts;
  const vars = resolvePodEnv(pod, spec, { refs, podIP: rt.podIP, hostIP: o.hostIP(), nodeName: o.api.nodeName, nodeAllocatable: o.nodeAllocatable(), services: o.services?.() });
  const env = mergeEnv(image.config.Env, vars);
  const args = containerArgs(spec, image.config, vars);
  const user = containerUser(pod, spec, image.config);
  const security = containerSecurity(pod, spec, agentCapabilities());
  let seccomp: SeccompFilter | undefined;
  if (security.seccomp.type === 'RuntimeDefault') seccomp = defaultSeccompProfile(security.capabilities);
  else if (security.seccomp.type === 'Localhost') seccomp = await loadLocalhostProfile(seccompDir(o), security.seccomp.file, security.capabilities);
  const mounts = podMounts(o, pod, rt.uid, rt.mounts?.get(spec.name) ?? []);
  const propagation = rootfsPropagation(mounts);
  if (propagation) await checkPropagation(spec.name, mounts);
  const sysctls = sysctlMap(pod.spec.securityContext?.sysctls);
  const ociSpec = buildSpec({
    args,
    env,
    cwd: spec.workingDir || image.config.WorkingDir || '/',
    user,
    hostname: podHostname(pod),
    netnsPath: rt.netnsPath || undefined,
    hostNetwork: !!pod.spec.hostNetwork,
    hostPID: !!pod.spec.hostPID,
    hostIPC: !!pod.spec.hostIPC,
    mounts,
    resources: containerResources(spec),
    cgroupsPath: cgroupsPathFor(rt.uid, spec.name),
    readonlyRootfs: security.readonlyRootfs,
    capabilities: security.capabilities,
    noNewPrivileges: security.noNewPrivileges,
    privileged: security.privileged,
    ...(security.privileged ? { devices: hostDevices() } : {}),
    ...(seccomp ? { seccomp } : {}),
    ...(sysctls ? { sysctls } : {}),
    ...(propagation ? { rootfsPropagation: propagation } : {}),
    annotations: { 'io.kubernetes.pod.name': rt.name, 'io.kubernetes.pod.namespace': rt.namespace, 'io.kubernetes.pod.uid': rt.uid, 'io.kubernetes.container.name': spec.name },
  });
  return { spec: ociSpec, process: ociSpec.process as Record<string, unknown>, env };
}

/** The container's volume mounts, and the pod's hosts and resolv.conf unless a volume covers them. */
function podMounts(o: PodSyncerOptions, pod: Pod, uid: string, volumeMounts: SpecMount[]): SpecMount[] {
  const mounts: SpecMount[] = [...volumeMounts];
  if (pod.spec.hostNetwork) return mounts;
  const dir = podDir(o, uid);
  const taken = new Set(mounts.map((m) => m.destination));
  if (!taken.has('/etc/hosts')) mounts.push({ destination: '/etc/hosts', type: 'bind', source: path.join(dir, 'hosts'), options: ['rbind', 'rprivate', 'rw'] });
  if (!taken.has('/etc/resolv.conf')) mounts.push({ destination: '/etc/resolv.conf', type: 'bind', source: path.join(dir, 'resolv.conf'), options: ['rbind', 'rprivate', 'rw'] });
  return mounts;
}
