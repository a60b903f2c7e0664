/**
 * Volume ownership for a pod's `fsGroup`, as the kubelet's SetVolumeOwnership does it: every file
 * and directory of the volume gets the group, group read (and write, unless the volume is
 * read-only), directories group search and the setgid bit, so that what the containers create
 * later inherits the group. With `fsGroupChangePolicy: OnRootMismatch` the walk is skipped when
 * the volume's root already has the group and those bits (a large volume is not walked at every
 * start). Symlinks get the group but keep their mode.
 */
import { chmod, lchown, lstat, readdir } from 'node:fs/promises';
import path from 'node:path';

const RW_MASK = 0o660;
const RO_MASK = 0o440;
const EXEC_MASK = 0o110;
const SETGID = 0o2000;

/** What {@link setVolumeOwnership} is told about the volume. */
export interface OwnershipOptions {
  /** Read-only volumes (configMap, secret, downwardAPI, projected) get group read only. */
  readOnly: boolean;
  /** Kubernetes' `fsGroupChangePolicy`; absent means Always. */
  policy?: 'OnRootMismatch' | 'Always';
}

/** The permission bits a volume's files must carry for the group. */
export function groupMask(readOnly: boolean): number {
  return readOnly ? RO_MASK : RW_MASK;
}

/** True when the root of `dir` already shows `fsGroup` ownership (what OnRootMismatch checks). */
async function rootMatches(dir: string, fsGroup: number, readOnly: boolean): Promise<boolean> {
  const st = await lstat(dir);
  if (!st.isDirectory() || st.gid !== fsGroup) return false;
  const want = groupMask(readOnly) | EXEC_MASK;
  return (st.mode & want) === want && (st.mode & SETGID) !== 0;
}

/**
 * Gives `dir` and everything under it to group `fsGroup` (see the module comment).
 * @returns whether the walk ran (false: skipped by OnRootMismatch).
 */
export async function setVolumeOwnership(dir: string, fsGroup: number, opts: OwnershipOptions): Promise<boolean> {
  if (opts.policy === 'OnRootMismatch' && (await rootMatches(dir, fsGroup, opts.readOnly))) return false;
  const mask = groupMask(opts.readOnly);
  const visit = async (p: string): Promise<void> => {
    const st = await lstat(p);
    await lchown(p, st.uid, fsGroup);
    if (st.isSymbolicLink()) return;
    if (st.isDirectory()) {
      await chmod(p, (st.mode & 0o7777) | mask | EXEC_MASK | SETGID);
      for (const name of await readdir(p)) await visit(path.join(p, name));
      return;
    }
    await chmod(p, (st.mode & 0o7777) | mask);
  };
  // The root last: an interrupted walk leaves it unmarked, so OnRootMismatch walks again.
  for (const name of await readdir(dir)) await visit(path.join(dir, name));
  const root = await lstat(dir);
  await lchown(dir, root.uid, fsGroup);
  await chmod(dir, (root.mode & 0o7777) | mask | EXEC_MASK | SETGID);
  return true;
}
