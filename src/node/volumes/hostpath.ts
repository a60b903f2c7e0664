/**
 * hostPath `type` checks, as the kubelet performs them before mounting.
 */
import { mkdir, open, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { GantryError } from '../../errors.js';

/** The hostPath types Kubernetes defines ('' = no check). */
export const HOST_PATH_TYPES = ['', 'DirectoryOrCreate', 'Directory', 'FileOrCreate', 'File', 'Socket', 'CharDevice', 'BlockDevice'] as const;

/** One of {@link HOST_PATH_TYPES}. */
export type HostPathType = (typeof HOST_PATH_TYPES)[number];

async function statOrUndefined(p: string): Promise<Stats | undefined> {
  try {
    return await stat(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function fail(volume: string, message: string): GantryError {
  return new GantryError('VolumeSetupFailed', `hostPath volume "${volume}": ${message}`, { disposition: 'waiting', retryAfterMs: 5000 });
}

/**
 * Checks (and for the `…OrCreate` types creates: a directory 0755 with parents, an empty file
 * 0644 in an existing directory) the host path of a hostPath volume. Failures are
 * `VolumeSetupFailed` errors with disposition waiting: the path may appear later.
 */
export async function checkHostPath(hostPath: string, type: string | undefined, volume: string): Promise<void> {
  const t = (type ?? '') as HostPathType;
  if (!HOST_PATH_TYPES.includes(t)) {
    throw new GantryError('InvalidArgument', `hostPath volume "${volume}": unknown type "${type}" (one of ${HOST_PATH_TYPES.filter(Boolean).join(', ')})`);
  }
  if (!hostPath.startsWith('/')) throw new GantryError('InvalidArgument', `hostPath volume "${volume}": path "${hostPath}" is not absolute`);
  if (t === '') return;
  let st = await statOrUndefined(hostPath);
  if (!st && t === 'DirectoryOrCreate') {
    await mkdir(hostPath, { recursive: true, mode: 0o755 });
    st = await stat(hostPath);
  }
  if (!st && t === 'FileOrCreate') {
    try {
      await (await open(hostPath, 'a', 0o644)).close();
    } catch (err) {
      throw fail(volume, `cannot create file ${hostPath}: ${(err as Error).message}`);
    }
    st = await stat(hostPath);
  }
  if (!st) throw fail(volume, `${hostPath} does not exist (type ${t})`);
  const ok: Record<Exclude<HostPathType, ''>, [boolean, string]> = {
    DirectoryOrCreate: [st.isDirectory(), 'a directory'],
    Directory: [st.isDirectory(), 'a directory'],
    FileOrCreate: [st.isFile(), 'a file'],
    File: [st.isFile(), 'a file'],
    Socket: [st.isSocket(), 'a socket'],
    CharDevice: [st.isCharacterDevice(), 'a character device'],
    BlockDevice: [st.isBlockDevice(), 'a block device'],
  };
  const [good, what] = ok[t];
  if (!good) throw fail(volume, `${hostPath} is not ${what} (type ${t})`);
}
