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

/**
 * The files a render may read, by path relative to the repository root: the synced directory's
 * and those its kustomizations reference from outside it. Kustomize paths are resolved against
 * a kustomization's directory; a path that leaves the repository is refused.
 *
 * A tree can note every answer it gives (see {@link FileTree.withReadLog}): a render is a pure
 * function of those answers, so when another revision's tree gives the same ones (same blob
 * ids, same absent files), the earlier render stands.
 */
export class FileTree {
  private byPath = new Map<string, SourceFile>();
  private dirs = new Set<string>(['']);
  private reads?: Map<string, string>;

  /** `directories`: directories known to exist though no file of them is listed. */
  constructor(files: readonly SourceFile[], directories: Iterable<string> = []) {
    const addDir = (p: string): void => {
      for (let d = p; d !== '.' && d !== '' && !this.dirs.has(d); d = path.posix.dirname(d)) this.dirs.add(d);
    };
    for (const f of files) {
      this.byPath.set(f.path, f);
      addDir(path.posix.dirname(f.path));
    }
    for (const d of directories) addDir(d);
  }

  /** This tree, noting in `reads` each answer it gives from now on. */
  withReadLog(reads: Map<string, string>): FileTree {
    const view = Object.create(FileTree.prototype) as FileTree;
    view.byPath = this.byPath;
    view.dirs = this.dirs;
    view.reads = reads;
    return view;
  }

  /** True when this tree gives every answer noted in `reads` (by another tree) the same way. */
  answersAsIn(reads: ReadonlyMap<string, string>): boolean {
    for (const [q, a] of reads) {
      const p = q.slice(2);
      if ((q.startsWith('f:') ? fileAnswer(this.byPath.get(p)) : this.dirs.has(p) ? 'dir' : '-') !== a) return false;
    }
    return true;
  }

  /** The file at `p`, if any. */
  file(p: string): SourceFile | undefined {
    const f = this.byPath.get(p);
    this.reads?.set(`f:${p}`, fileAnswer(f));
    return f;
  }

  /** True when `p` is a directory holding files. */
  isDir(p: string): boolean {
    const is = this.dirs.has(p);
    this.reads?.set(`d:${p}`, is ? 'dir' : '-');
    return is;
  }

  /** The kustomization file of directory `dir`, if it has one. */
  kustomizationIn(dir: string): SourceFile | undefined {
    for (const name of KUSTOMIZATION_FILE_NAMES) {
      const f = this.file(dir ? `${dir}/${name}` : name);
      if (f) return f;
    }
    return undefined;
  }

  /** The symlink at `p` or at a directory on the way to it, if any. */
  symlinkOn(p: string): SourceFile | undefined {
    const parts = p.split('/');
    for (let i = 1; i <= parts.length; i++) {
      const f = this.file(parts.slice(0, i).join('/'));
      if (f?.symlinkTarget !== undefined) return f;
      if (f) return undefined;
    }
    return undefined;
  }
}

let unkeyed = 0;
/** How a read of a file is remembered: its blob id, its link target, or absent. Content without an id can never be matched again. */
function fileAnswer(f: SourceFile | undefined): string {
  if (!f) return '-';
  if (f.symlinkTarget !== undefined) return `l:${f.symlinkTarget}`;
  return f.oid !== undefined ? `o:${f.oid}` : `?${++unkeyed}`;
}

/** Where a symlink points, relative to the repository root; undefined when it leads out of it. */
export function symlinkDestination(file: string, target: string): string | undefined {
  if (target.startsWith('/') || /^[A-Za-z]:[\\/]/.test(target)) return undefined;
  const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(file), target.replace(/\\/g, '/')));
  if (resolved === '..' || resolved.startsWith('../')) return undefined;
  return resolved;
}

/** Why a path reached through the symlink `link` is refused, for a message. */
export function symlinkProblem(p: string, link: SourceFile): string {
  const via = link.path === p ? '' : ` (through ${link.path})`;
  return symlinkDestination(link.path, link.symlinkTarget ?? '') === undefined
    ? `${p}${via} is a symlink leading out of the repository (to ${link.symlinkTarget}); refused`
    : `${p}${via} is a symlink (to ${link.symlinkTarget}); name its target instead`;
}

/** `rel` resolved against `dir`; undefined when it leads out of the repository root or is absolute. */
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
