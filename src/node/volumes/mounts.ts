/**
 * OCI mounts for a container's volumeMounts (pure): each mount binds the volume's host
 * directory (or a subPath inside it) at `mountPath`.
 */
import { GantryError } from '../../errors.js';
import type { Container, Pod } from '../../model/types.js';
import type { SpecMount } from '../containerd/spec.js';
import { validateRelativePath } from './payload.js';
import path from 'node:path';

/** Where a volume lives on the host and how it may be mounted. */
export interface VolumeSource {
  /** Host path bound into containers. */
  hostPath: string;
  /** configMap, secret and read-only claims are always mounted read-only (as Kubernetes does). */
  forceReadOnly: boolean;
}

/** A `subPath` that must exist (configMap/secret keys) or may be created (directories). */
export interface SubPathNeed {
  /** Host path of the subPath. */
  hostPath: string;
  volume: string;
}

/** The mounts of one container, and the subPath host paths they rely on. */
export interface ContainerMounts {
  mounts: SpecMount[];
  subPaths: SubPathNeed[];
}

/**
 * Each `mountPropagation` as the bind mount's propagation, as containerd's CRI sets it: None is
 * private (mounts made later on either side stay there), HostToContainer a slave (the host's
 * reach the container), Bidirectional shared (the container's reach the host too).
 */
const PROPAGATION = { None: 'rprivate', HostToContainer: 'rslave', Bidirectional: 'rshared' } as const;

/** How the container's root mount must propagate for its mounts' propagation to hold (see spec.ts). */
export function rootfsPropagation(mounts: readonly SpecMount[]): 'rslave' | 'rshared' | undefined {
  if (mounts.some((m) => m.options?.includes('rshared'))) return 'rshared';
  if (mounts.some((m) => m.options?.includes('rslave'))) return 'rslave';
  return undefined;
}

/** The mounts for `container`'s volumeMounts, given each pod volume's host source. */
export function containerMounts(pod: Pod, container: Container, sources: Map<string, VolumeSource>): ContainerMounts {
  const mounts: SpecMount[] = [];
  const subPaths: SubPathNeed[] = [];
  for (const [i, vm] of (container.volumeMounts ?? []).entries()) {
    const src = sources.get(vm.name);
    const field = `spec.containers[name=${container.name}].volumeMounts[${i}]`;
    if (!src) {
      throw new GantryError('InvalidArgument', `container "${container.name}" mounts volume "${vm.name}", which the pod does not define`, {
        object: `Pod/${pod.metadata.namespace ?? 'default'}/${pod.metadata.name}`,
        field,
      });
    }
    if (!vm.mountPath.startsWith('/')) {
      throw new GantryError('InvalidArgument', `container "${container.name}" mountPath "${vm.mountPath}" is not absolute`, { field });
    }
    let source = src.hostPath;
    if (vm.subPath) {
      validateRelativePath(vm.subPath, `volumeMount "${vm.name}" subPath`);
      source = path.join(src.hostPath, vm.subPath);
      subPaths.push({ hostPath: source, volume: vm.name });
    }
    const ro = Boolean(vm.readOnly) || src.forceReadOnly;
    mounts.push({ destination: vm.mountPath, type: 'bind', source, options: ['rbind', PROPAGATION[vm.mountPropagation ?? 'None'], ro ? 'ro' : 'rw'] });
  }
  return { mounts, subPaths };
}
