/**
 * Kustomize's built-in transformers that edit fields in place: namespace, name prefix and
 * suffix, labels, annotations, images and replicas, each as Kustomize applies it (which fields,
 * of which kinds, created when missing or not), recording renames for the name-reference step.
 */
import {
  COMMON_ANNOTATIONS, COMMON_LABELS, IMAGES, OBJECT_LABELS, REPLICAS, TEMPLATE_LABELS, specSelects, walkFieldSpec, type FieldSpec,
} from './fieldspecs.js';
import type { ImageEntry, Kustomization, LabelEntry } from './kustomization.js';
import {
  KustomizeError, allIds, curId, isClusterScoped, isRec, orgId, storePreviousId, type Rec, type Res,
} from './model.js';
import { refKey } from '../../model/keys.js';

/** Sets `namespace` on every namespaced object (and renames a v1 Namespace object to it), as Kustomize's namespace transformer. */
export function setNamespace(resources: Res[], k: Kustomization): void {
  const ns = k.namespace;
  if (!ns) return;
  for (const r of resources) {
    storePreviousId(r);
    const obj = r.obj as unknown as Rec;
    const meta = r.obj.metadata;
    if (r.obj.kind === 'Namespace' && r.obj.apiVersion === 'v1') meta.name = ns;
    if (!isClusterScoped(r.obj.kind)) meta.namespace = ns;
    if (r.obj.kind === 'RoleBinding' || r.obj.kind === 'ClusterRoleBinding') {
      // Subjects named `default` (the default ServiceAccount) follow the namespace.
      const subjects = obj.subjects;
      if (Array.isArray(subjects)) for (const s of subjects) if (isRec(s) && s.name === 'default') s.namespace = ns;
    }
  }
  const seen = new Map<string, Res>();
  for (const r of resources) {
    const id = curId(r);
    const key = `${id.apiVersion}/${id.kind}/${id.namespace}/${id.name}`;
    const other = seen.get(key);
    if (other) {
      throw new KustomizeError({ file: k.file, line: k.lineOf('namespace'), field: 'namespace', message: `namespace ${ns} makes two objects the same: ${refKey(id)} (from ${other.origin.file} and ${r.origin.file})` });
    }
    seen.set(key, r);
  }
}

/** Kinds whose names prefixes and suffixes leave alone. */
const NO_NAME_AFFIX = new Set(['CustomResourceDefinition', 'APIService', 'Namespace']);

/** Adds `namePrefix` and `nameSuffix` to every name, remembering the old names for references. */
export function setNameAffixes(resources: Res[], k: Kustomization): void {
  for (const r of resources) {
    if (NO_NAME_AFFIX.has(orgId(r).kind)) continue;
    if (k.namePrefix) {
      r.prefixes.push(k.namePrefix);
      storePreviousId(r);
      r.obj.metadata.name = k.namePrefix + r.obj.metadata.name;
    }
  }
  for (const r of resources) {
    if (NO_NAME_AFFIX.has(orgId(r).kind)) continue;
    if (k.nameSuffix) {
      r.suffixes.push(k.nameSuffix);
      storePreviousId(r);
      r.obj.metadata.name = r.obj.metadata.name + k.nameSuffix;
    }
  }
}

function setMapEntries(resources: Res[], specs: FieldSpec[], pairs: Record<string, string>): void {
  const keys = Object.keys(pairs).sort();
  if (keys.length === 0) return;
  for (const r of resources) {
    for (const spec of specs) {
      walkFieldSpec(r.obj as unknown as Rec, spec, 'map', (holder, key) => {
        const map = holder[key];
        if (!isRec(map)) return;
        for (const k of keys) map[k] = pairs[k];
      });
    }
  }
}

/** `labels` entries, then `commonLabels` (labels, templates and selectors). */
export function setLabels(resources: Res[], k: Kustomization): void {
  for (const l of k.labels) setMapEntries(resources, labelSpecs(l), l.pairs);
  if (k.commonLabels) setMapEntries(resources, COMMON_LABELS, k.commonLabels);
}

function labelSpecs(l: LabelEntry): FieldSpec[] {
  if (l.includeSelectors) return COMMON_LABELS;
  return l.includeTemplates ? [...TEMPLATE_LABELS, ...OBJECT_LABELS] : OBJECT_LABELS;
}

/** `commonAnnotations`: objects and pod templates. */
export function setAnnotations(resources: Res[], k: Kustomization): void {
  if (k.commonAnnotations) setMapEntries(resources, COMMON_ANNOTATIONS, k.commonAnnotations);
}

/** `images`: every container image that names an entry's image gets its new name, tag or digest. */
export function setImages(resources: Res[], k: Kustomization): void {
  for (const image of k.images) {
    let pattern: RegExp;
    try {
      // Kustomize reads the name as a regular expression, followed by an optional tag and digest.
      pattern = new RegExp(`^${image.name}(:[a-zA-Z0-9_.{}-]*)?(@[a-zA-Z0-9]+([.+_-][a-zA-Z0-9]+)*:[a-zA-Z0-9_.{}-]*)?$`);
    } catch {
      throw new KustomizeError({ file: k.file, line: k.lineOf(`${image.field}.name`), field: `${image.field}.name`, message: `${image.field}.name: ${JSON.stringify(image.name)} is not a valid image name pattern` });
    }
    const update = (holder: Rec, key: string): void => {
      const value = holder[key];
      if (typeof value !== 'string' || !pattern.test(value)) return;
      holder[key] = newImage(value, image);
    };
    for (const r of resources) {
      if (r.obj.kind === 'CustomResourceDefinition') continue;
      // Every `containers` and `initContainers` list anywhere in the object, as Kustomize's legacy image filter.
      walkContainerLists(r.obj as unknown as Rec, (c) => update(c, 'image'));
      for (const spec of IMAGES) walkFieldSpec(r.obj as unknown as Rec, spec, undefined, update);
    }
  }
}

function walkContainerLists(node: unknown, visit: (container: Rec) => void): void {
  if (Array.isArray(node)) {
    for (const x of node) walkContainerLists(x, visit);
    return;
  }
  if (!isRec(node)) return;
  for (const [key, value] of Object.entries(node)) {
    walkContainerLists(value, visit);
    if ((key === 'containers' || key === 'initContainers') && Array.isArray(value)) {
      for (const c of value) if (isRec(c)) visit(c);
    }
  }
}

/** Splits `name[:tag][@digest]` as Kustomize does (a registry port's colon is part of the name). */
export function splitImage(image: string): { name: string; tag: string; digest: string } {
  const slash = image.indexOf('/');
  const from = slash > 0 ? slash : 0;
  const search = image.slice(from);
  const at = search.indexOf('@');
  const colon = search.indexOf(':');
  if (colon < 0 && at < 0) return { name: image, tag: '', digest: '' };
  if (at >= 0 && (at < colon || colon < 0)) return { name: image.slice(0, from + at), tag: '', digest: image.slice(from + at + 1) };
  if (at >= 0 && colon >= 0) return { name: image.slice(0, from + colon), tag: image.slice(from + colon + 1, from + at), digest: image.slice(from + at + 1) };
  return { name: image.slice(0, from + colon), tag: image.slice(from + colon + 1), digest: '' };
}

function newImage(value: string, entry: ImageEntry): string {
  let { name, tag, digest } = splitImage(value);
  if (entry.newName) name = entry.newName;
  if (entry.newTag && entry.digest) {
    tag = entry.newTag;
    digest = entry.digest;
  } else if (entry.newTag) {
    tag = entry.newTag;
    digest = '';
  } else if (entry.digest) {
    tag = '';
    digest = entry.digest;
  }
  return `${name}${tag ? `:${tag}` : ''}${digest ? `@${digest}` : ''}`;
}

/** `replicas`: sets the count of the named workloads; an entry that names none is an error. */
export function setReplicas(resources: Res[], k: Kustomization): void {
  for (const entry of k.replicas) {
    let found = false;
    for (const spec of REPLICAS) {
      for (const r of resources) {
        if (!allIds(r).some((id) => id.name === entry.name && specSelects(spec, id.apiVersion, id.kind))) continue;
        found = true;
        walkFieldSpec(r.obj as unknown as Rec, spec, 'scalar', (holder, key) => {
          holder[key] = entry.count;
        });
      }
    }
    if (!found) {
      throw new KustomizeError({
        file: k.file, line: k.lineOf(`${entry.field}.name`), field: `${entry.field}.name`,
        message: `${entry.field}: no Deployment, ReplicaSet, ReplicationController or StatefulSet named ${entry.name}`,
      });
    }
  }
}
