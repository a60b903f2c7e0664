/**
 * The directory of a local-path PersistentVolume on its node: `<storage dir>/<pv-name>`, made
 * 0777 (as Rancher's local-path-provisioner makes it, so containers running as any user may
 * write). Made by whichever comes first, the agent's volume reconciler or a pod mounting the
 * volume; both go through {@link ensureLocalPathDirectory}, so a claim directory an earlier
 * gantry kept (`<node dir>/volumes/<namespace>/<claim>`, before claims were objects) is always
 * moved into the volume, never shadowed by a fresh empty one.
 */
import { chmod, mkdir, rename, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../../log.js';
import { volumePath } from '../../model/storage.js';
import type { PersistentVolume } from '../../model/types.js';

const NAME_RE = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** Where this node keeps local-path volumes, and where an earlier gantry kept claim directories. */
export interface LocalPathDirs {
  /** `<data-dir>/storage`. */
  storageDir: string;
  /** The node dir (`<data-dir>/node`), holding an earlier gantry's `volumes/<ns>/<claim>`. */
  legacyDir?: string;
}

/**
 * The directory of a volume of this node, or undefined when the volume's path is not the one
 * gantry gives it (`<storage dir>/<pv-name>`): nothing else is ever made or removed.
 */
export function localPathDirectory(pv: PersistentVolume, storageDir: string): string | undefined {
  if (!NAME_RE.test(pv.metadata.name)) return undefined;
  const dir = path.join(storageDir, pv.metadata.name);
  return volumePath(pv) === dir ? dir : undefined;
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * Makes the volume's directory unless it exists: the earlier gantry's directory of its claim
 * moved there, else a new one. Safe to run twice at once.
 */
export async function ensureLocalPathDirectory(pv: PersistentVolume, dir: string, dirs: LocalPathDirs & { logger?: Logger }): Promise<void> {
  if (await exists(dir)) return;
  await mkdir(dirs.storageDir, { recursive: true });
  const legacy = legacyClaimDir(pv, dirs.legacyDir);
  if (legacy && (await exists(legacy))) {
    try {
      await rename(legacy, dir);
      dirs.logger?.info({ volume: pv.metadata.name, from: legacy, dir }, 'claim directory of an earlier gantry moved into its volume');
      return;
    } catch (err) {
      // Moved by the other caller a moment ago.
      if (!(await exists(dir))) throw err;
      return;
    }
  }
  await mkdir(dir, { recursive: true });
  // mkdir's mode is cut by the umask.
  await chmod(dir, 0o777);
  dirs.logger?.info({ volume: pv.metadata.name, dir }, 'local-path volume directory created');
}

function legacyClaimDir(pv: PersistentVolume, legacyDir: string | undefined): string | undefined {
  const ref = pv.spec.claimRef;
  if (!legacyDir || !ref?.name || !ref.namespace || !NAME_RE.test(ref.namespace) || !NAME_RE.test(ref.name)) return undefined;
  return path.join(legacyDir, 'volumes', ref.namespace, ref.name);
}
