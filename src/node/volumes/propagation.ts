/**
 * The host side of `mountPropagation`, checked as containerd's CRI checks it: a HostToContainer
 * mount receives what is mounted later on the host only when its source lies on a shared (or
 * slave) mount, a Bidirectional one sends mounts back only from a shared one. On a private
 * source the propagation could not happen, so the container is refused, naming the mount,
 * instead of starting without it.
 */
import { readFile, realpath } from 'node:fs/promises';
import { GantryError } from '../../errors.js';
import type { SpecMount } from '../containerd/spec.js';
import { parseMountinfo, type MountPoint } from './mount.js';

/** The mount point holding `file`: the last mounted of those with the longest matching path. */
export function mountOf(points: readonly MountPoint[], file: string): MountPoint | undefined {
  let best: MountPoint | undefined;
  for (const p of points) {
    const inside = p.path === '/' || file === p.path || file.startsWith(`${p.path}/`);
    if (inside && (!best || p.path.length >= best.path.length)) best = p;
  }
  return best;
}

/**
 * Checks that every propagating mount of a container can propagate.
 * @throws GantryError InvalidArgument (stalled) naming the mount and what to change on the host.
 */
export async function checkPropagation(container: string, mounts: readonly SpecMount[], mountinfo = '/proc/self/mountinfo'): Promise<void> {
  const wanted = mounts.filter((m) => m.options?.includes('rslave') || m.options?.includes('rshared'));
  if (wanted.length === 0) return;
  const points = parseMountinfo(await readFile(mountinfo, 'utf8'));
  for (const m of wanted) {
    const shared = m.options!.includes('rshared');
    const source = await realpath(m.source).catch(() => m.source);
    const at = mountOf(points, source);
    if (!at || at.shared || (!shared && at.slave)) continue;
    const mode = shared ? 'Bidirectional' : 'HostToContainer';
    throw new GantryError(
      'InvalidArgument',
      `container ${container}: the volume mounted at ${m.destination} asks for mountPropagation ${mode}, but its host path ${source} is on ${at.path}, a private mount where nothing propagates; make it shared on the node (mount --make-rshared ${at.path})`,
      { disposition: 'stalled' },
    );
  }
}
