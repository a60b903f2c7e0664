/**
 * Host mounts the volume manager makes itself: tmpfs for `emptyDir.medium: Memory`, so that all
 * containers of the pod share one memory-backed directory.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { GantryError } from '../../errors.js';
import { execTool } from '../network/exec.js';

/** Decodes the octal escapes (`\040` for space) of /proc/self/mountinfo paths. */
function unescapeMountPath(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Mount points under `prefix` (inclusive), deepest first. */
export async function mountPointsUnder(prefix: string): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  const root = path.resolve(prefix);
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const mp = line.split(' ')[4];
    if (!mp) continue;
    const p = unescapeMountPath(mp);
    if (p === root || p.startsWith(root + '/')) out.push(p);
  }
  return [...new Set(out)].sort((a, b) => b.length - a.length);
}

/** True when `dir` is a mount point. */
export async function isMountPoint(dir: string): Promise<boolean> {
  return (await mountPointsUnder(dir)).includes(path.resolve(dir));
}

/** Mounts a tmpfs on `dir` (mode 0777 as an emptyDir), limited to `sizeBytes` when given. */
export async function mountTmpfs(dir: string, sizeBytes?: number): Promise<void> {
  const opts = ['nosuid', 'nodev', 'mode=0777', ...(sizeBytes ? [`size=${sizeBytes}`] : [])].join(',');
  const r = await execTool('mount', ['-t', 'tmpfs', '-o', opts, 'tmpfs', dir], { errorCode: 'VolumeSetupFailed' });
  if (r.code !== 0) throw new GantryError('VolumeSetupFailed', `cannot mount tmpfs on ${dir}: ${r.stderr.trim()}`);
}

/** Unmounts `dir`. */
export async function unmount(dir: string): Promise<void> {
  const r = await execTool('umount', [dir], { errorCode: 'VolumeSetupFailed' });
  if (r.code !== 0) throw new GantryError('VolumeSetupFailed', `cannot unmount ${dir}: ${r.stderr.trim()}`);
}
