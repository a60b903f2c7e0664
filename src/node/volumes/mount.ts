/**
 * Host mounts the volume manager makes itself: tmpfs for `emptyDir.medium: Memory`, so that all
 * containers of the pod share one memory-backed directory.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { GantryError } from '../../errors.js';
import { execTool } from '../network/exec.js';

/** One line of /proc/self/mountinfo: where it is mounted, and its propagation tags. */
export interface MountPoint {
  path: string;
  shared: boolean;
  slave: boolean;
}

/** The host's mount points (octal escapes in paths decoded). */
export function parseMountinfo(text: string): MountPoint[] {
  const out: MountPoint[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    const sep = fields.indexOf('-');
    if (fields.length < 7 || sep < 6) continue;
    const optional = fields.slice(6, sep);
    out.push({
      path: fields[4]!.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))),
      shared: optional.some((f) => f.startsWith('shared:')),
      slave: optional.some((f) => f.startsWith('master:')),
    });
  }
  return out;
}

/** Mount points under `prefix` (inclusive), deepest first. */
export async function mountPointsUnder(prefix: string): Promise<string[]> {
  const root = path.resolve(prefix);
  const out = parseMountinfo(await readFile('/proc/self/mountinfo', 'utf8')).map((m) => m.path).filter((p) => p === root || p.startsWith(root + '/'));
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
