/**
 * The dashboard's addresses (hash routes) of objects and namespaces.
 */
import type { KubeObject } from '../../src/model/types.js';

/** The object page of `obj` (optionally one of its tabs). */
export function objectHref(obj: Pick<KubeObject, 'kind' | 'metadata'>, tab?: string): string {
  return refHref(obj.kind, obj.metadata.namespace, obj.metadata.name, tab);
}

/** The object page of a kind, namespace (none for cluster-scoped kinds) and name. */
export function refHref(kind: string, namespace: string | undefined, name: string, tab?: string): string {
  return `/o/${kind}/${namespace ? encodeURIComponent(namespace) : '_'}/${encodeURIComponent(name)}${tab ? `/${tab}` : ''}`;
}

/** A namespace's page. */
export function namespaceHref(namespace: string): string {
  return `/ns/${encodeURIComponent(namespace)}`;
}
