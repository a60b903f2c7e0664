/**
 * A pod's metadata fields as the downward API exposes them (env `fieldRef`, downwardAPI files):
 * name, namespace, uid, one label or annotation (`metadata.labels['app']`), or all of them as
 * sorted `key="value"` lines.
 */
import type { Pod } from './types.js';

/** The value of a `metadata.*` field path, or undefined when `fieldPath` is not one. */
export function podMetadataField(pod: Pod, fieldPath: string): string | undefined {
  const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
  if (m) return (m[1] === 'labels' ? pod.metadata.labels : pod.metadata.annotations)?.[m[2]!] ?? '';
  switch (fieldPath) {
    case 'metadata.name':
      return pod.metadata.name;
    case 'metadata.namespace':
      return pod.metadata.namespace ?? 'default';
    case 'metadata.uid':
      return pod.metadata.uid ?? '';
    case 'metadata.labels':
      return Object.entries(pod.metadata.labels ?? {}).map(([k, v]) => `${k}="${v}"`).sort().join('\n');
    case 'metadata.annotations':
      return Object.entries(pod.metadata.annotations ?? {}).map(([k, v]) => `${k}="${v}"`).sort().join('\n');
    default:
      return undefined;
  }
}
