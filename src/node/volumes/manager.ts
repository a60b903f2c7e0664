/**
 * Pod volumes on the node's disk.
 *
 * Layout under the node data dir:
 * - `pods/<uid>/volumes/empty-dir/<name>` — emptyDir (0777). `medium: Memory` mounts a tmpfs on
 *   the host at that directory (size = `sizeLimit` when given, else the kernel's default of half
 *   the RAM), so every container of the pod shares it, as in Kubernetes;
 * - `pods/<uid>/volumes/configmap/<name>`, `…/secret/<name>`, `…/downward-api/<name>`,
 *   `…/projected/<name>` — files written atomically (see atomic-writer.ts), refreshed in place
 *   when {@link HostVolumeManager.prepare} runs again (after a ConfigMap or Secret changed, the
 *   pod's labels or annotations did, or a projected service-account token is due for renewal);
 * hostPath volumes are bound from the host path itself after the `type` checks, and so are
 * persistentVolumeClaim volumes: the directory of the claim's bound PersistentVolume (hostPath
 * or local; a local-path volume's `<data-dir>/storage/<pv-name>`), never removed by
 * {@link HostVolumeManager.cleanup} — the volume outlives its pods. A claim that is missing,
 * being deleted or not bound yet is a `VolumeSetupFailed` error with disposition waiting. A claim
 * whose only access mode is ReadOnlyMany is mounted read-only; capacity is not enforced.
 *
 * With a pod `fsGroup`, every volume but hostPath is given to that group (ownership.ts), as the
 * kubelet does; `fsGroupChangePolicy: OnRootMismatch` skips volumes whose root already matches.
 *
 * Not supported: SELinux relabelling, quota on disk emptyDirs.
 */
import { chmod, mkdir, readdir, realpath, rm, rmdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { GantryError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { silentLogger } from '../../log.js';
import { bytes } from '../../model/quantity.js';
import type { Pod, Volume } from '../../model/types.js';
import type { SpecMount } from '../containerd/spec.js';
import type { PodReferences, VolumeContext, VolumeManager } from '../types.js';
import { writeAtomic } from './atomic-writer.js';
import { checkHostPath } from './hostpath.js';
import { isMountPoint, mountPointsUnder, mountTmpfs, unmount } from './mount.js';
import { containerMounts, type VolumeSource } from './mounts.js';
import { groupMask, setVolumeOwnership } from './ownership.js';
import { configMapPayload, downwardPayload, projectedPayload, secretPayload, type Payload } from './payload.js';
import { ensureLocalPathDirectory, localPathDirectory } from './local-path.js';
import { isLocalPathVolume, isReadOnlyClaim } from '../../model/storage.js';

async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/** Options for {@link HostVolumeManager}. */
export interface HostVolumeManagerOptions {
  /** Node data directory (see the module comment for the layout). */
  dataDir: string;
  /** Where this node keeps local-path volumes (`<data-dir>/storage`). */
  storageDir?: string;
  logger?: Logger;
}

/** A volume's kind, as the directory under `pods/<uid>/volumes/` names it. */
type VolumeKind = 'empty-dir' | 'host-path' | 'configmap' | 'secret' | 'downward-api' | 'projected' | 'claim';

/** Kinds whose files gantry writes from API objects (read-only in containers). */
const PROJECTED_KINDS: ReadonlySet<VolumeKind> = new Set(['configmap', 'secret', 'downward-api', 'projected']);

/** Without a node context (tests, a bare manager), unset limits read as nothing. */
const NO_NODE: VolumeContext = { node: { cpuMillis: 0, memoryBytes: 0 } };


/** Checks a name used as one path element (namespace, claim name, volume name, pod uid). */
function safeSegment(value: string, what: string): string {
  if (!value || value.includes('/') || value.startsWith('.') || value.includes('\0')) {
    throw new GantryError('InvalidArgument', `${what} "${value}" cannot be used as a directory name`);
  }
  return value;
}

/** {@link VolumeManager} keeping volumes in directories of the node data dir. */
export class HostVolumeManager implements VolumeManager {
  readonly dataDir: string;
  private readonly storageDir?: string;
  private readonly log: Logger;

  constructor(opts: HostVolumeManagerOptions) {
    this.dataDir = opts.dataDir;
    this.storageDir = opts.storageDir;
    this.log = opts.logger ?? silentLogger();
  }

  /** `<dataDir>/pods/<uid>/volumes`. */
  podVolumesDir(podUid: string): string {
    return path.join(this.dataDir, 'pods', safeSegment(podUid, 'pod uid'), 'volumes');
  }

  /**
   * Creates or refreshes every volume of the pod and returns, per container name (init and app
   * containers), its bind mounts. Safe to call again at any time: emptyDirs and claims keep their
   * data, configMap/secret files are swapped atomically when their content changed.
   */
  async prepare(pod: Pod, refs: PodReferences, ctx: VolumeContext = NO_NODE): Promise<Map<string, SpecMount[]>> {
    const uid = pod.metadata.uid;
    if (!uid) throw new GantryError('InvalidArgument', `pod ${pod.metadata.namespace ?? 'default'}/${pod.metadata.name} has no uid`);
    const sources = new Map<string, VolumeSource & { kind: VolumeKind }>();
    const fsGroup = pod.spec.securityContext?.fsGroup;
    for (const vol of pod.spec.volumes ?? []) {
      const src = await this.prepareVolume(pod, vol, refs, ctx);
      if (fsGroup !== undefined && src.kind !== 'host-path') {
        await setVolumeOwnership(src.hostPath, fsGroup, { readOnly: PROJECTED_KINDS.has(src.kind), policy: pod.spec.securityContext?.fsGroupChangePolicy });
      }
      sources.set(vol.name, src);
    }
    const out = new Map<string, SpecMount[]>();
    for (const c of [...(pod.spec.initContainers ?? []), ...pod.spec.containers]) {
      const { mounts, subPaths } = containerMounts(pod, c, sources);
      for (const sp of subPaths) {
        const src = sources.get(sp.volume)!;
        const resolved = await this.resolveSubPath(sp.hostPath, src, sp.volume);
        for (const m of mounts) if (m.source === sp.hostPath) m.source = resolved;
      }
      out.set(c.name, mounts);
    }
    return out;
  }

  /** Unmounts memory emptyDirs and removes `pods/<uid>/volumes`; persistent volumes' directories stay. */
  async cleanup(podUid: string): Promise<void> {
    const root = this.podVolumesDir(podUid);
    for (const mp of await mountPointsUnder(root)) await unmount(mp);
    await rm(root, { recursive: true, force: true });
    await rmdir(path.dirname(root)).catch(() => undefined);
  }

  /** Pod uids that have a volumes directory. */
  async list(): Promise<string[]> {
    const podsDir = path.join(this.dataDir, 'pods');
    let entries: string[];
    try {
      entries = await readdir(podsDir);
    } catch {
      return [];
    }
    const out: string[] = [];
    for (const e of entries) {
      try {
        if ((await stat(path.join(podsDir, e, 'volumes'))).isDirectory()) out.push(e);
      } catch {
        // no volumes for this pod
      }
    }
    return out.sort();
  }

  private async prepareVolume(pod: Pod, vol: Volume, refs: PodReferences, ctx: VolumeContext): Promise<VolumeSource & { kind: VolumeKind }> {
    const uid = pod.metadata.uid!;
    const namespace = pod.metadata.namespace ?? 'default';
    const name = safeSegment(vol.name, 'volume name');
    const dirOf = (kind: string) => path.join(this.podVolumesDir(uid), kind, name);
    const fsGroup = pod.spec.securityContext?.fsGroup;
    // Files get the group's read bit before they are written, so an unchanged payload compares equal.
    const written = async (kind: VolumeKind, payload: Payload): Promise<VolumeSource & { kind: VolumeKind }> => {
      const dir = dirOf(kind);
      if (fsGroup !== undefined) for (const f of payload.values()) f.mode |= groupMask(true);
      await writeAtomic(dir, payload);
      return { kind, hostPath: dir, forceReadOnly: true };
    };
    if (vol.emptyDir) {
      const dir = dirOf('empty-dir');
      await mkdir(dir, { recursive: true });
      if (vol.emptyDir.medium === 'Memory') {
        if (!(await isMountPoint(dir))) {
          const size = vol.emptyDir.sizeLimit !== undefined ? bytes(vol.emptyDir.sizeLimit) : undefined;
          await mountTmpfs(dir, size);
          this.log.debug({ uid, volume: name, size }, 'tmpfs emptyDir mounted');
        }
      } else {
        // Any container user may write, as in Kubernetes (mkdir's mode is cut by the umask).
        await chmod(dir, 0o777);
      }
      return { kind: 'empty-dir', hostPath: dir, forceReadOnly: false };
    }
    if (vol.hostPath) {
      await checkHostPath(vol.hostPath.path, vol.hostPath.type, name);
      return { kind: 'host-path', hostPath: vol.hostPath.path, forceReadOnly: false };
    }
    if (vol.configMap) return written('configmap', configMapPayload(vol.configMap, refs.configMaps.get(vol.configMap.name), name));
    if (vol.secret) {
      const src = vol.secret;
      return written('secret', secretPayload({ ...src, name: src.secretName }, refs.secrets.get(src.secretName), name));
    }
    if (vol.downwardAPI) return written('downward-api', downwardPayload(vol.downwardAPI.items, vol.downwardAPI.defaultMode, pod, ctx, name));
    if (vol.projected) return written('projected', projectedPayload(vol.projected, pod, refs, ctx, name));
    if (vol.persistentVolumeClaim) {
      const src = vol.persistentVolumeClaim;
      const dir = await this.claimDirectory(namespace, src.claimName, refs, name);
      const readOnly = Boolean(src.readOnly) || isReadOnlyClaim(refs.claims.get(src.claimName)?.claim.spec.accessModes);
      return { kind: 'claim', hostPath: dir, forceReadOnly: readOnly };
    }
    throw new GantryError('InvalidArgument', `volume "${vol.name}" has no supported source (emptyDir, hostPath, configMap, secret, projected, persistentVolumeClaim)`);
  }

  /** The directory of the volume bound to a claim, checked and (for DirectoryOrCreate) created. */
  private async claimDirectory(namespace: string, claimName: string, refs: PodReferences, volume: string): Promise<string> {
    const waiting = (why: string) => new GantryError('VolumeSetupFailed', `volume "${volume}": ${why}`, { disposition: 'waiting', retryAfterMs: 2000, object: `PersistentVolumeClaim/${namespace}/${claimName}` });
    const found = refs.claims.get(claimName);
    if (!found) throw waiting(`persistentvolumeclaim "${claimName}" not found`);
    const { claim, volume: pv } = found;
    if (claim.metadata.deletionTimestamp) throw waiting(`persistentvolumeclaim "${claimName}" is being deleted`);
    if (!claim.spec.volumeName || claim.status?.phase !== 'Bound' || !pv) throw waiting(`persistentvolumeclaim "${claimName}" is not bound`);
    if (pv.spec.hostPath) {
      const dir = pv.spec.hostPath.path;
      const local = isLocalPathVolume(pv) && this.storageDir ? localPathDirectory(pv, this.storageDir) : undefined;
      // The agent makes a local-path volume's directory when the volume appears; should the pod
      // get here first, it is made the same way (an earlier gantry's claim directory moved in).
      if (local) await ensureLocalPathDirectory(pv, local, { storageDir: this.storageDir!, legacyDir: this.dataDir, logger: this.log });
      await checkHostPath(dir, pv.spec.hostPath.type, volume);
      return dir;
    }
    if (pv.spec.local) {
      const dir = pv.spec.local.path;
      if (!(await isDirectory(dir))) throw waiting(`local volume ${pv.metadata.name}: ${dir} is not a directory on this node`);
      return dir;
    }
    throw new GantryError('VolumeSetupFailed', `volume "${volume}": PersistentVolume ${pv.metadata.name} has no volume source gantry can mount (hostPath or local)`, { disposition: 'stalled' });
  }

  /**
   * The real host path of a subPath, which must stay inside its volume (a symlink a container
   * wrote into an emptyDir must not let a later mount reach the host's files). Directory volumes
   * get a missing subPath created as a directory, as the kubelet does; configMap/secret subPaths
   * must name a projected file.
   */
  private async resolveSubPath(hostPath: string, src: VolumeSource & { kind: VolumeKind }, volume: string): Promise<string> {
    const projected = PROJECTED_KINDS.has(src.kind);
    let real: string;
    try {
      real = await realpath(hostPath);
    } catch (err) {
      if (projected || (err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new GantryError('VolumeSetupFailed', `subPath ${path.relative(src.hostPath, hostPath)} of volume "${volume}" does not exist`, { disposition: 'waiting', retryAfterMs: 2000 });
      }
      await mkdir(hostPath, { recursive: true, mode: 0o755 });
      real = await realpath(hostPath);
    }
    const base = await realpath(src.hostPath);
    if (real !== base && !real.startsWith(base + path.sep)) {
      throw new GantryError('VolumeSetupFailed', `subPath ${path.relative(src.hostPath, hostPath)} of volume "${volume}" resolves outside the volume (${real})`, {
        disposition: 'stalled',
      });
    }
    return real;
  }
}
