/**
 * Seccomp filters for containers, in the OCI runtime spec's `linux.seccomp` form that runc loads.
 *
 * RuntimeDefault is gantry's own profile, written from the documented behaviour of the default
 * profile Docker and containerd apply (Docker's "Seccomp security profiles" page lists what it
 * blocks and why): the syscalls that reach across the container's namespaces or into the kernel
 * (mounts, modules, kexec, reboot, clocks, keyrings, namespace creation, …) fail with EPERM unless
 * the container holds the capability that would make them legitimate, as containerd's profile
 * does by adding them back for that capability. Unlike containerd's profile, which allows a long
 * list of syscalls and refuses the rest, this one refuses a list and allows the rest: for every
 * syscall the documentation names the outcome is the same, and a list of a few dozen entries can
 * be read and checked by a person.
 *
 * Localhost profiles are files under the node's seccomp directory, in the OCI form or Docker's
 * (`archMap`, `name`, and `includes`/`excludes` by capability and architecture are understood).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { GantryError } from '../../errors.js';

/** An OCI seccomp filter. */
export type SeccompFilter = Record<string, unknown>;

const EPERM = 1;
const ENOSYS = 38;

/**
 * Syscalls the default profile refuses, each with the capabilities that give them back (any one
 * suffices; none: refused for every container).
 */
const DENIED: ReadonlyArray<[syscalls: string[], allowedWith: string[]]> = [
  [['acct'], ['CAP_SYS_PACCT']],
  [['add_key', 'keyctl', 'request_key'], []],
  [['bpf'], ['CAP_SYS_ADMIN', 'CAP_BPF']],
  [['clock_adjtime', 'clock_adjtime64', 'clock_settime', 'clock_settime64', 'settimeofday', 'stime'], ['CAP_SYS_TIME']],
  [['create_module', 'delete_module', 'finit_module', 'get_kernel_syms', 'init_module', 'query_module'], ['CAP_SYS_MODULE']],
  [['get_mempolicy', 'mbind', 'set_mempolicy', 'move_pages'], ['CAP_SYS_NICE']],
  [['ioperm', 'iopl'], ['CAP_SYS_RAWIO']],
  [['kcmp', 'pidfd_getfd', 'process_madvise', 'process_vm_readv', 'process_vm_writev'], ['CAP_SYS_PTRACE']],
  [['kexec_file_load', 'kexec_load', 'reboot'], ['CAP_SYS_BOOT']],
  [['lookup_dcookie', 'mount', 'mount_setattr', 'umount', 'umount2', 'pivot_root', 'setns', 'unshare', 'swapon', 'swapoff',
    'quotactl', 'quotactl_fd', 'fanotify_init', 'fsconfig', 'fsmount', 'fsopen', 'fspick', 'move_mount', 'open_tree'], ['CAP_SYS_ADMIN']],
  [['open_by_handle_at', 'name_to_handle_at'], ['CAP_DAC_READ_SEARCH']],
  [['perf_event_open'], ['CAP_PERFMON', 'CAP_SYS_ADMIN']],
  [['syslog'], ['CAP_SYSLOG']],
  [['vhangup'], ['CAP_SYS_TTY_CONFIG']],
  [['nfsservctl', 'sysfs', '_sysctl', 'uselib', 'ustat', 'vm86', 'vm86old'], []],
  [['userfaultfd'], ['CAP_SYS_PTRACE']],
];

/** clone(2) flags that create namespaces: refused without CAP_SYS_ADMIN (NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET). */
const NAMESPACE_FLAGS = [0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000];

/** The seccomp architectures of this machine's processes (the native one and its compat modes). */
function architectures(arch: string = process.arch): string[] {
  if (arch === 'x64') return ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'];
  if (arch === 'arm64') return ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'];
  if (arch === 'arm') return ['SCMP_ARCH_ARM'];
  if (arch === 'ia32') return ['SCMP_ARCH_X86'];
  return [];
}

/** gantry's RuntimeDefault filter for a container holding `capabilities` (see the module comment). */
export function defaultSeccompProfile(capabilities: readonly string[]): SeccompFilter {
  const caps = new Set(capabilities);
  const syscalls: Record<string, unknown>[] = [];
  for (const [names, allowedWith] of DENIED) {
    if (allowedWith.some((c) => caps.has(c))) continue;
    syscalls.push({ names, action: 'SCMP_ACT_ERRNO', errnoRet: EPERM });
  }
  if (!caps.has('CAP_SYS_ADMIN')) {
    // One rule per flag: a filter rule ANDs its conditions, and any one flag must be refused.
    for (const flag of NAMESPACE_FLAGS) {
      syscalls.push({ names: ['clone'], action: 'SCMP_ACT_ERRNO', errnoRet: EPERM, args: [{ index: 0, value: flag, valueTwo: flag, op: 'SCMP_CMP_MASKED_EQ' }] });
    }
    // clone3 passes its flags in memory a filter cannot read: ENOSYS makes libc fall back to clone.
    syscalls.push({ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS });
  }
  return { defaultAction: 'SCMP_ACT_ALLOW', architectures: architectures(), syscalls };
}

/** Docker's names of this machine's architecture, for `includes.arches`. */
function dockerArch(arch: string = process.arch): string {
  return arch === 'x64' ? 'amd64' : arch === 'ia32' ? '386' : arch;
}

interface ProfileCondition {
  caps?: string[];
  arches?: string[];
  minKernel?: string;
}

interface ProfileSyscall {
  names?: string[];
  name?: string;
  action?: string;
  errnoRet?: number;
  args?: unknown[];
  includes?: ProfileCondition;
  excludes?: ProfileCondition;
}

interface ProfileFile {
  defaultAction?: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  archMap?: { architecture: string; subArchitectures?: string[] }[];
  flags?: string[];
  syscalls?: ProfileSyscall[];
}

/**
 * The filter of a Localhost profile: `<seccompDir>/<relative>`, in the OCI or Docker form.
 * @throws GantryError InvalidArgument naming the file when it is missing or is no profile.
 */
export async function loadLocalhostProfile(seccompDir: string, relative: string, capabilities: readonly string[]): Promise<SeccompFilter> {
  const file = path.join(seccompDir, relative);
  if (path.relative(seccompDir, file).startsWith('..')) {
    throw new GantryError('InvalidArgument', `seccomp profile ${relative} lies outside the node's seccomp directory ${seccompDir}`, { disposition: 'stalled' });
  }
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new GantryError('InvalidArgument', `seccomp profile ${file} cannot be read: ${(err as Error).message}`, { disposition: 'waiting', retryAfterMs: 10_000 });
  }
  let raw: ProfileFile;
  try {
    raw = JSON.parse(text) as ProfileFile;
  } catch (err) {
    throw new GantryError('InvalidArgument', `seccomp profile ${file} is not JSON: ${(err as Error).message}`, { disposition: 'stalled' });
  }
  return profileFilter(raw, file, capabilities);
}

/** An OCI filter from a profile file's content (see {@link loadLocalhostProfile}). Exported for tests. */
export function profileFilter(raw: ProfileFile, file: string, capabilities: readonly string[]): SeccompFilter {
  if (typeof raw !== 'object' || raw === null || typeof raw.defaultAction !== 'string') {
    throw new GantryError('InvalidArgument', `seccomp profile ${file} has no defaultAction`, { disposition: 'stalled' });
  }
  const caps = new Set(capabilities);
  const arch = dockerArch();
  const holds = (cond: ProfileCondition | undefined, all: boolean): boolean => {
    if (!cond) return all;
    const capsOk = (cond.caps ?? []).length === 0 ? all : all ? cond.caps!.every((c) => caps.has(c)) : cond.caps!.some((c) => caps.has(c));
    const archOk = (cond.arches ?? []).length === 0 ? all : cond.arches!.includes(arch);
    return all ? capsOk && archOk : capsOk || archOk;
  };
  const syscalls: Record<string, unknown>[] = [];
  for (const [i, s] of (raw.syscalls ?? []).entries()) {
    const names = s.names ?? (s.name ? [s.name] : []);
    if (names.length === 0 || typeof s.action !== 'string') {
      throw new GantryError('InvalidArgument', `seccomp profile ${file}: syscalls[${i}] needs names and an action`, { disposition: 'stalled' });
    }
    // includes: every condition must hold; excludes: the rule is dropped when any holds.
    if (!holds(s.includes, true) || (s.excludes && holds(s.excludes, false))) continue;
    syscalls.push({ names, action: s.action, ...(s.errnoRet !== undefined ? { errnoRet: s.errnoRet } : {}), ...(s.args?.length ? { args: s.args } : {}) });
  }
  const arches = raw.architectures ?? (raw.archMap ?? []).flatMap((a) => [a.architecture, ...(a.subArchitectures ?? [])]);
  return {
    defaultAction: raw.defaultAction,
    ...(raw.defaultErrnoRet !== undefined ? { defaultErrnoRet: raw.defaultErrnoRet } : {}),
    ...(arches.length ? { architectures: arches } : {}),
    ...(raw.flags?.length ? { flags: raw.flags } : {}),
    syscalls,
  };
}
