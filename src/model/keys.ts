/**
 * Object keys: `Kind/namespace/name` for namespaced kinds, `Kind/name` for cluster-scoped ones.
 */
import { kindInfo } from './kinds.js';
import type { KubeObject } from './types.js';

/** The parts of a key. `namespace` is undefined for cluster-scoped kinds. */
export interface ObjectRef {
  kind: string;
  namespace?: string;
  name: string;
}

/** The key of a reference. */
export function refKey(ref: ObjectRef): string {
  return ref.namespace === undefined || ref.namespace === ''
    ? `${ref.kind}/${ref.name}`
    : `${ref.kind}/${ref.namespace}/${ref.name}`;
}

/** The reference of an object; namespaced kinds without a namespace get `default`. */
export function objectRef(obj: KubeObject): ObjectRef {
  const info = kindInfo(obj.kind);
  const namespaced = info ? info.namespaced : obj.metadata.namespace !== undefined;
  return {
    kind: obj.kind,
    namespace: namespaced ? obj.metadata.namespace || 'default' : undefined,
    name: obj.metadata.name,
  };
}

/** The key of an object, e.g. `Deployment/default/web`. */
export function objectKey(obj: KubeObject): string {
  return refKey(objectRef(obj));
}

/** Parses a key made by {@link refKey}. Throws on anything else. */
export function parseKey(key: string): ObjectRef {
  const parts = key.split('/');
  if (parts.length === 2 && parts[0] && parts[1]) return { kind: parts[0], name: parts[1] };
  if (parts.length === 3 && parts[0] && parts[1] && parts[2]) {
    return { kind: parts[0], namespace: parts[1], name: parts[2] };
  }
  throw new Error(`"${key}" is not an object key (Kind/namespace/name or Kind/name)`);
}
