/**
 * The host's device nodes, as a privileged container gets them (containerd's CRI gives a
 * privileged container every device of the host in its /dev, and allows them all in its device
 * cgroup).
 */
import { lstatSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { LinuxDevice } from './spec.js';

/** /dev entries a container has of its own (its own pts, shm, mqueue) or must never get. */
const SKIPPED = new Set(['/dev/pts', '/dev/shm', '/dev/mqueue', '/dev/console', '/dev/ptmx', '/dev/.lxc', '/dev/.udev']);

/** Linux's encoding of a device number (see `major(3)`). */
function majorMinor(rdev: bigint): { major: number; minor: number } {
  const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
  const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
  return { major, minor };
}

/** Every character and block device under `root` (default `/dev`), recursively; symlinks are not followed. */
export function hostDevices(root = '/dev'): LinuxDevice[] {
  const out: LinuxDevice[] = [];
  const walk = (dir: string): void => {
    let entries: string[];
    try {
      entries = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of entries) {
      const full = path.join(dir, name);
      if (SKIPPED.has(full)) continue;
      let st;
      try {
        st = lstatSync(full, { bigint: true, throwIfNoEntry: false });
      } catch {
        continue;
      }
      if (!st) continue;
      if (st.isDirectory()) {
        walk(full);
        continue;
      }
      const type = st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : undefined;
      if (!type) continue;
      out.push({ path: full, type, ...majorMinor(st.rdev), fileMode: Number(st.mode & 0o777n), uid: Number(st.uid), gid: Number(st.gid) });
    }
  };
  walk(root);
  return out;
}
