/**
 * Kustomize's built-in field specs — which fields of which kinds each transformer touches — and
 * the walk that finds those fields in an object. The tables follow Kustomize's defaults
 * (api/internal/konfig/builtinpluginconsts), restricted to Kubernetes' own kinds.
 */
import { groupVersion, isRec, type Rec } from './model.js';

/** One field spec: a `/`-separated path (a list is entered wherever one is met), and the kinds it applies to. */
export interface FieldSpec {
  path: string;
  kind?: string;
  group?: string;
  version?: string;
  /** Create the field (and the maps leading to it) when it is missing. */
  create?: boolean;
}

const WORKLOADS_WITH_TEMPLATES: Array<{ kind: string; group?: string; version?: string }> = [
  { kind: 'ReplicationController', version: 'v1' },
  { kind: 'Deployment' },
  { kind: 'ReplicaSet' },
  { kind: 'DaemonSet' },
  { kind: 'StatefulSet', group: 'apps' },
  { kind: 'Job', group: 'batch' },
];

/** Labels of objects and of the pod templates in them. */
const METADATA_LABELS: FieldSpec[] = [
  { path: 'metadata/labels', create: true },
  ...WORKLOADS_WITH_TEMPLATES.map((w) => ({ ...w, path: 'spec/template/metadata/labels', create: true })),
  { path: 'spec/jobTemplate/metadata/labels', create: true, group: 'batch', kind: 'CronJob' },
  { path: 'spec/jobTemplate/spec/template/metadata/labels', create: true, group: 'batch', kind: 'CronJob' },
];

const AFFINITY_SELECTORS = [
  'spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels',
  'spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels',
  'spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels',
  'spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels',
  'spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels',
];

/** `commonLabels` (and `labels` with includeSelectors): labels, templates and selectors. */
export const COMMON_LABELS: FieldSpec[] = [
  { path: 'spec/selector', create: true, version: 'v1', kind: 'Service' },
  { path: 'spec/selector', create: true, version: 'v1', kind: 'ReplicationController' },
  { path: 'spec/selector/matchLabels', create: true, kind: 'Deployment' },
  ...AFFINITY_SELECTORS.map((path) => ({ path, group: 'apps', kind: 'Deployment' })),
  { path: 'spec/selector/matchLabels', create: true, kind: 'ReplicaSet' },
  { path: 'spec/selector/matchLabels', create: true, kind: 'DaemonSet' },
  { path: 'spec/selector/matchLabels', create: true, group: 'apps', kind: 'StatefulSet' },
  ...AFFINITY_SELECTORS.map((path) => ({ path, group: 'apps', kind: 'StatefulSet' })),
  { path: 'spec/selector/matchLabels', group: 'batch', kind: 'Job' },
  { path: 'spec/jobTemplate/spec/selector/matchLabels', group: 'batch', kind: 'CronJob' },
  { path: 'spec/selector/matchLabels', group: 'policy', kind: 'PodDisruptionBudget' },
  { path: 'spec/podSelector/matchLabels', group: 'networking.k8s.io', kind: 'NetworkPolicy' },
  { path: 'spec/ingress/from/podSelector/matchLabels', group: 'networking.k8s.io', kind: 'NetworkPolicy' },
  { path: 'spec/egress/to/podSelector/matchLabels', group: 'networking.k8s.io', kind: 'NetworkPolicy' },
  ...METADATA_LABELS,
  { path: 'spec/volumeClaimTemplates[]/metadata/labels', create: true, group: 'apps', kind: 'StatefulSet' },
];

/** `labels` with includeTemplates: labels of objects and of their pod templates. */
export const TEMPLATE_LABELS: FieldSpec[] = METADATA_LABELS;

/** `labels` without selectors or templates. */
export const OBJECT_LABELS: FieldSpec[] = [{ path: 'metadata/labels', create: true }];

/** `commonAnnotations`: objects and their pod templates. */
export const COMMON_ANNOTATIONS: FieldSpec[] = [
  { path: 'metadata/annotations', create: true },
  ...WORKLOADS_WITH_TEMPLATES.map((w) => ({ ...w, group: w.kind === 'StatefulSet' ? undefined : w.group, path: 'spec/template/metadata/annotations', create: true })),
  { path: 'spec/jobTemplate/metadata/annotations', create: true, group: 'batch', kind: 'CronJob' },
  { path: 'spec/jobTemplate/spec/template/metadata/annotations', create: true, group: 'batch', kind: 'CronJob' },
];

/** `images`: where container images are, besides every `containers`/`initContainers` list. */
export const IMAGES: FieldSpec[] = [
  { path: 'spec/containers[]/image' },
  { path: 'spec/initContainers[]/image' },
  { path: 'spec/volumes[]/image/reference' },
  { path: 'spec/template/spec/containers[]/image' },
  { path: 'spec/template/spec/initContainers[]/image' },
  { path: 'spec/template/spec/volumes[]/image/reference' },
];

/** `replicas`: the kinds it scales. */
export const REPLICAS: FieldSpec[] = [
  { path: 'spec/replicas', create: true, kind: 'Deployment' },
  { path: 'spec/replicas', create: true, kind: 'ReplicationController' },
  { path: 'spec/replicas', create: true, kind: 'ReplicaSet' },
  { path: 'spec/replicas', create: true, kind: 'StatefulSet' },
];

/** Whether a field spec applies to an object of this apiVersion and kind. */
export function specSelects(spec: { kind?: string; group?: string; version?: string }, apiVersion: string, kind: string): boolean {
  if (spec.kind && spec.kind !== kind) return false;
  const [group, version] = groupVersion(apiVersion);
  if (spec.group && spec.group !== group) return false;
  if (spec.version && spec.version !== version) return false;
  return true;
}

/** Splits a field-spec path at `/`, keeping `\/` (an escaped slash in an annotation key) inside a segment. */
export function splitPath(p: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '\\' && p[i + 1] === '/') {
      cur += '/';
      i++;
    } else if (p[i] === '/') {
      out.push(cur);
      cur = '';
    } else cur += p[i];
  }
  out.push(cur);
  return out;
}

/**
 * Calls `visit(holder, key)` for every field the spec's path reaches in `obj`: lists met on the
 * way are entered element by element; with `create`, missing maps on the way and the field
 * itself (as `createAs`: an empty map or an empty string) are made first.
 */
export function walkFieldSpec(
  obj: Rec,
  spec: FieldSpec,
  createAs: 'map' | 'scalar' | undefined,
  visit: (holder: Rec, key: string) => void,
): void {
  if (!specSelects(spec, String(obj.apiVersion ?? ''), String(obj.kind ?? ''))) return;
  const segments = splitPath(spec.path);
  const walk = (node: unknown, i: number): void => {
    if (Array.isArray(node)) {
      for (const item of node) walk(item, i);
      return;
    }
    if (!isRec(node)) return;
    const raw = segments[i]!;
    const seq = raw.endsWith('[]');
    const key = seq ? raw.slice(0, -2) : raw;
    const last = i === segments.length - 1;
    const create = spec.create === true && createAs !== undefined && !seq;
    if (node[key] === undefined || node[key] === null) {
      if (!create) return;
      node[key] = last ? (createAs === 'map' ? {} : '') : {};
    }
    if (last) visit(node, key);
    else walk(node[key], i + 1);
  };
  walk(obj, 0);
}
