/**
 * The renderer's working set: resources with the history Kustomize keeps for them (earlier
 * names, prefixes and suffixes, whether a content hash is owed), the files of the source, and
 * the one error type every step throws.
 */
import path from 'node:path';
import type { KubeObject } from '../../model/types.js';
import type { ManifestIssue, SourceFile } from '../types.js';

/** A JSON object. */
export type Rec = Record<string, unknown>;

/** True for a JSON object (not null, not a list). */
export function isRec(v: unknown): v is Rec {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The names Kustomize recognises for a kustomization file, in the order it tries them. */
export const KUSTOMIZATION_FILE_NAMES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'] as const;

/** True when a file's base name makes it a kustomization file. */
export function isKustomizationFile(name: string): boolean {
  return (KUSTOMIZATION_FILE_NAMES as readonly string[]).includes(name);
}

/** A problem in a kustomization, with where it is; thrown by every step, caught at the boundary. */
export class KustomizeError extends Error {
  constructor(readonly issue: ManifestIssue) {
    super(issue.message);
    this.name = 'KustomizeError';
  }
}

/** Where a rendered object came from: its file, line and document, and the kustomization that read it. */
export interface Origin {
  file: string;
  line: number;
  document: number;
}

/** An object's identity as Kustomize compares it (group and version come from apiVersion). */
export interface ResId {
  apiVersion: string;
  kind: string;
  name: string;
  namespace: string;
}

/** One resource being rendered. */
export interface Res {
  obj: KubeObject;
  origin: Origin;
  /** Identities the resource had before renames and namespace changes, oldest first. */
  prev: ResId[];
  /** Name prefixes and suffixes applied, innermost kustomization first. */
  prefixes: string[];
  suffixes: string[];
  /** A generated ConfigMap or Secret that gets a content-hash suffix at the end of the build. */
  hash: boolean;
  /** How a generated object combines with one of the same identity from a base. */
  behavior: 'create' | 'merge' | 'replace';
}

/** Kinds that live outside namespaces (Kubernetes' built-in cluster-scoped kinds). */
const CLUSTER_SCOPED = new Set([
  'Namespace', 'Node', 'PersistentVolume', 'StorageClass', 'ClusterRole', 'ClusterRoleBinding',
  'CustomResourceDefinition', 'PriorityClass', 'IngressClass', 'APIService', 'RuntimeClass',
  'MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration', 'ValidatingAdmissionPolicy',
  'ValidatingAdmissionPolicyBinding', 'CSIDriver', 'CSINode', 'VolumeAttachment', 'PodSecurityPolicy',
  'CertificateSigningRequest', 'FlowSchema', 'PriorityLevelConfiguration', 'ComponentStatus',
  'ClusterTrustBundle', 'IPAddress', 'ServiceCIDR', 'DeviceClass', 'StorageVersion',
]);

/** True for a cluster-scoped kind. */
export function isClusterScoped(kind: string): boolean {
  return CLUSTER_SCOPED.has(kind);
}

/** `[group, version]` of an apiVersion (`v1` is the core group). */
export function groupVersion(apiVersion: string): [string, string] {
  const i = apiVersion.indexOf('/');
  return i < 0 ? ['', apiVersion] : [apiVersion.slice(0, i), apiVersion.slice(i + 1)];
}

/** The current identity of a resource. */
export function curId(r: Res): ResId {
  return { apiVersion: r.obj.apiVersion, kind: r.obj.kind, name: r.obj.metadata.name, namespace: r.obj.metadata.namespace ?? '' };
}

/** The namespace an identity stands for: `default` for none, a marker for cluster-scoped kinds. */
export function effectiveNamespace(id: { kind: string; namespace: string }): string {
  if (isClusterScoped(id.kind)) return '~cluster';
  return id.namespace === '' || id.namespace === 'default' ? 'default' : id.namespace;
}

/** Whether two identities name the same object (same group, version, kind, name and effective namespace). */
export function sameId(a: ResId, b: ResId): boolean {
  return a.apiVersion === b.apiVersion && a.kind === b.kind && a.name === b.name && effectiveNamespace(a) === effectiveNamespace(b);
}

/** Every identity a resource has had, the current one last. */
export function allIds(r: Res): ResId[] {
  return [...r.prev, curId(r)];
}

/** The identity a resource was declared with. */
export function orgId(r: Res): ResId {
  return r.prev[0] ?? curId(r);
}

/** Remembers the current identity before a rename or a namespace change. */
export function storePreviousId(r: Res): void {
  const id = curId(r);
  r.prev.push({ ...id, namespace: effectiveNamespace(id) === '~cluster' ? '' : effectiveNamespace(id) });
}

/** `Kind/namespace/name` for messages. */
export function describeId(id: ResId): string {
  return id.namespace ? `${id.kind}/${id.namespace}/${id.name}` : `${id.kind}/${id.name}`;
}

/**
 * The files of the source, by path relative to its root. Kustomize paths are resolved against
 * a kustomization's directory; a path that leaves the source is refused.
 */
export class FileTree {
  private readonly byPath = new Map<string, SourceFile>();
  private readonly dirs = new Set<string>(['']);

  constructor(files: readonly SourceFile[]) {
    for (const f of files) {
      this.byPath.set(f.path, f);
      for (let d = path.posix.dirname(f.path); d !== '.' && !this.dirs.has(d); d = path.posix.dirname(d)) this.dirs.add(d);
    }
  }

  /** The file at `p`, if any. */
  file(p: string): SourceFile | undefined {
    return this.byPath.get(p);
  }

  /** True when `p` is a directory holding files. */
  isDir(p: string): boolean {
    return this.dirs.has(p);
  }

  /** The kustomization file of directory `dir`, if it has one. */
  kustomizationIn(dir: string): SourceFile | undefined {
    for (const name of KUSTOMIZATION_FILE_NAMES) {
      const f = this.byPath.get(dir ? `${dir}/${name}` : name);
      if (f) return f;
    }
    return undefined;
  }
}

/** `rel` resolved against `dir`; undefined when it leads out of the source root or is absolute. */
export function resolveIn(dir: string, rel: string): string | undefined {
  if (rel.startsWith('/') || /^[A-Za-z]:[\\/]/.test(rel)) return undefined;
  const joined = path.posix.normalize(path.posix.join(dir || '.', rel));
  if (joined === '..' || joined.startsWith('../')) return undefined;
  return joined === '.' ? '' : joined.replace(/\/$/, '');
}

/** Text of a file (UTF-8, a leading byte-order mark dropped). */
export function fileText(f: SourceFile): string {
  const text = new TextDecoder('utf-8').decode(f.content ?? new Uint8Array());
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}
