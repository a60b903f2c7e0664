/**
 * The downward API: which pod fields and container resources a pod may read about itself, and
 * their values, as Kubernetes defines them for `env[].valueFrom` and for `downwardAPI` volumes
 * (and projections). Pure; the node agent supplies what only it knows (pod IP, node, allocatable).
 */
import { cpuMillis, parseQuantity } from './quantity.js';
import type { Container, Pod, ResourceFieldSelector } from './types.js';

/** Where a field reference is used: env vars accept more fields than volume files. */
export type DownwardUse = 'env' | 'volume';

/** Pod fields an env var may name (besides `metadata.labels['k']`, `metadata.annotations['k']`). */
export const ENV_FIELD_PATHS = [
  'metadata.name',
  'metadata.namespace',
  'metadata.uid',
  'spec.nodeName',
  'spec.serviceAccountName',
  'status.hostIP',
  'status.hostIPs',
  'status.podIP',
  'status.podIPs',
] as const;

/** Pod fields a volume file may name (besides the subscripted label and annotation forms). */
export const VOLUME_FIELD_PATHS = ['metadata.name', 'metadata.namespace', 'metadata.uid', 'metadata.labels', 'metadata.annotations'] as const;

/** Container resources a `resourceFieldRef` may name. */
export const RESOURCE_FIELDS = [
  'limits.cpu',
  'limits.memory',
  'limits.ephemeral-storage',
  'requests.cpu',
  'requests.memory',
  'requests.ephemeral-storage',
] as const;

/** Divisors Kubernetes allows per resource kind. */
const CPU_DIVISORS = new Set(['1m', '1']);
const BYTE_DIVISORS = new Set(['1', '1k', '1M', '1G', '1T', '1P', '1E', '1Ki', '1Mi', '1Gi', '1Ti', '1Pi', '1Ei']);

const SUBSCRIPT = /^metadata\.(labels|annotations)\['(.*)'\]$/;

/** `metadata.labels['app']` → `{ map: 'labels', key: 'app' }`; undefined for other paths. */
export function subscriptedField(fieldPath: string): { map: 'labels' | 'annotations'; key: string } | undefined {
  const m = SUBSCRIPT.exec(fieldPath);
  return m ? { map: m[1] as 'labels' | 'annotations', key: m[2]! } : undefined;
}

/**
 * Why `fieldPath` cannot be used there, or undefined when it can. The subscripted forms need a
 * key: their key's own syntax is checked by the caller (a label key).
 */
export function unsupportedFieldPath(fieldPath: string, use: DownwardUse): string | undefined {
  if (subscriptedField(fieldPath)) return undefined;
  const allowed: readonly string[] = use === 'env' ? ENV_FIELD_PATHS : VOLUME_FIELD_PATHS;
  if (allowed.includes(fieldPath)) return undefined;
  const all = [...allowed, "metadata.labels['<KEY>']", "metadata.annotations['<KEY>']"];
  return `supported values: ${all.map((p) => JSON.stringify(p)).join(', ')}`;
}

/** Why `divisor` does not suit `resource`, or undefined. */
export function unsupportedDivisor(resource: string, divisor: string | number): string | undefined {
  const text = String(divisor);
  if (resource.endsWith('.cpu')) return CPU_DIVISORS.has(text) ? undefined : 'only divisor\'s values 1m and 1 are supported with the cpu resource';
  const what = resource.split('.')[1];
  return BYTE_DIVISORS.has(text) ? undefined : `only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are supported with the ${what} resource`;
}

/** What only the node knows about a pod, for the fields that name it. */
export interface PodFieldContext {
  podIP?: string;
  hostIP?: string;
  nodeName: string;
}

/** A label or annotation map as a downward API file shows it: sorted `key="value"` lines. */
export function formatMap(m: Record<string, string> | undefined): string {
  return Object.keys(m ?? {})
    .sort()
    .map((k) => `${k}=${JSON.stringify(m![k])}`)
    .join('\n');
}

/**
 * The value of a pod field. @throws Error for a path that is no downward API field (validation
 * keeps those out of a repo; the caller reports it as a container config error).
 */
export function podFieldValue(pod: Pod, fieldPath: string, ctx: PodFieldContext): string {
  const sub = subscriptedField(fieldPath);
  if (sub) return (sub.map === 'labels' ? pod.metadata.labels : pod.metadata.annotations)?.[sub.key] ?? '';
  switch (fieldPath) {
    case 'metadata.name':
      return pod.metadata.name;
    case 'metadata.namespace':
      return pod.metadata.namespace ?? 'default';
    case 'metadata.uid':
      return pod.metadata.uid ?? '';
    case 'metadata.labels':
      return formatMap(pod.metadata.labels);
    case 'metadata.annotations':
      return formatMap(pod.metadata.annotations);
    case 'spec.nodeName':
      return pod.spec.nodeName ?? ctx.nodeName;
    case 'spec.serviceAccountName':
      return pod.spec.serviceAccountName ?? 'default';
    case 'status.podIP':
    case 'status.podIPs':
      return ctx.podIP ?? '';
    case 'status.hostIP':
    case 'status.hostIPs':
      return ctx.hostIP ?? '';
    default:
      throw new Error(`fieldRef ${fieldPath} is not a downward API field`);
  }
}

/** The node's allocatable resources: what an unset limit reads as. */
export interface NodeAllocatable {
  cpuMillis: number;
  memoryBytes: number;
  /** Bytes of the node's disk; 0 when unknown. */
  ephemeralBytes?: number;
}

/**
 * The value of a `resourceFieldRef` for `self` (or the container it names), as the kubelet gives
 * it: the quantity divided by `divisor` (default 1) and rounded up; an unset limit is the node's
 * allocatable, an unset request 0.
 * @throws Error for a container the pod does not have or a resource that is no downward API one.
 */
export function resourceFieldValue(pod: Pod, self: Container | undefined, ref: ResourceFieldSelector, node: NodeAllocatable): string {
  const target = ref.containerName ? [...pod.spec.containers, ...(pod.spec.initContainers ?? [])].find((c) => c.name === ref.containerName) : self;
  if (!target) throw new Error(`resourceFieldRef names container ${ref.containerName ?? '(none)'}, which the pod does not have`);
  if (!(RESOURCE_FIELDS as readonly string[]).includes(ref.resource)) throw new Error(`resourceFieldRef resource ${ref.resource} is not supported`);
  const [section, res] = ref.resource.split('.') as ['limits' | 'requests', string];
  const raw = target.resources?.[section]?.[res];
  if (res === 'cpu') {
    const millis = raw !== undefined ? cpuMillis(raw) : section === 'limits' ? node.cpuMillis : 0;
    const div = ref.divisor !== undefined ? cpuMillis(ref.divisor) : 1000;
    return String(Math.ceil(millis / Math.max(1, div)));
  }
  const unset = section === 'limits' ? (res === 'memory' ? node.memoryBytes : (node.ephemeralBytes ?? 0)) : 0;
  const value = raw !== undefined ? (parseQuantity(raw) ?? 0) : unset;
  const div = ref.divisor !== undefined ? (parseQuantity(ref.divisor) ?? 1) : 1;
  return String(Math.ceil(value / Math.max(1e-9, div)));
}
