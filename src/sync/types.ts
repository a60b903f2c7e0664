/**
 * Types at the boundary of src/sync: the Source (where desired state comes from) and the
 * validated desired state it yields.
 */
import type { KubeObject } from '../model/types.js';

/** A file of a revision, as read from Git or a directory. */
export interface SourceFile {
  /**
   * Path relative to the repository root (not to the configured subdirectory), with `/`
   * separators: the same file has the same path whichever `--path` is synced.
   */
  path: string;
  /** File content; undefined for symlinks. */
  content?: Uint8Array;
  /** For symlinks: the link target as stored. */
  symlinkTarget?: string;
  /**
   * Content id (the Git blob id when read from Git). Equal ids mean equal content, so the
   * loader may reuse what it parsed and validated before.
   */
  oid?: string;
}

/**
 * What a path of a revision is: a file (or a symlink: `file.symlinkTarget` set), a directory, or
 * nothing. `through` is set when a directory on the way is a symlink: `file` is then that
 * symlink, not the path asked for.
 */
export type SourcePathEntry =
  | { kind: 'file'; file: SourceFile; through?: boolean }
  | { kind: 'directory' }
  | { kind: 'missing' };

/** Files outside the synced directory that its kustomizations read (bases, their patches and generator sources). */
export interface ReferencedFiles {
  files: SourceFile[];
  /** Directories that exist, for a clear error when one has no kustomization file. */
  directories: string[];
}

/** A resolved revision. */
export interface Revision {
  /** Full commit id. */
  commit: string;
  /** The ref that was resolved (branch, tag or commit). */
  ref: string;
  /** Commit metadata, for the audit trail and `gantry status`. */
  author?: { name: string; email: string; timestamp: number };
  /** Who made the commit (differs from the author after a rebase, a cherry-pick or a web merge). */
  committer?: { name: string; email: string; timestamp: number };
  message?: string;
}

/**
 * Where desired state comes from. The Git implementation (isomorphic-git) fetches from a local
 * path or http(s) URL; `gantry validate` reads a directory.
 */
export interface Source {
  /** Fetches (when remote) and resolves a ref (branch, tag or commit id) to a commit. */
  resolve(ref?: string, opts?: { signal?: AbortSignal }): Promise<Revision>;
  /** The manifest candidate files of a commit under the configured subdirectory. */
  files(commit: string, opts?: { signal?: AbortSignal }): Promise<SourceFile[]>;
  /**
   * Looks up paths of the same commit anywhere in the repository (relative to its root; `files()`
   * is limited to the configured subdirectory): what a kustomization there reads from outside it,
   * such as `resources: [../../base]`. Symlinks are reported, never followed.
   */
  readPaths(commit: string, paths: readonly string[], opts?: { signal?: AbortSignal }): Promise<Map<string, SourcePathEntry>>;
  /**
   * Calls `onChange` soon after the source's refs move, until `signal` aborts, for sources that
   * can tell (a local repository). Resolves false when it cannot: the caller keeps polling.
   */
  watch?(onChange: () => void, signal: AbortSignal): Promise<boolean>;
  /**
   * The raw commit object (headers and message, without the `commit <size>` prefix), for
   * signature verification. Sources without commits (a directory) leave it out.
   */
  commitObject?(commit: string): Promise<Uint8Array>;
}

/** Where an object was declared. */
export interface ObjectSource {
  file: string;
  /** 1-based line where the object's document starts. */
  line: number;
  /** 0-based index of the document in its file. */
  document: number;
  /**
   * The kustomization file that rendered the object, when it is not `file` itself (`file` is
   * then the manifest it came from, e.g. a base's; a generated object's `file` is its kustomization).
   */
  kustomization?: string;
}

/** One validated desired object with its origin. */
export interface DesiredObject {
  object: KubeObject;
  source: ObjectSource;
}

/** The validated desired state of one revision. */
export interface DesiredSet {
  revision?: Revision;
  objects: DesiredObject[];
}

/** One problem found while loading or validating. */
export interface ManifestIssue {
  file: string;
  line?: number;
  /** Key of the object, when known. */
  object?: string;
  /** Dotted field path, when the problem is a field. */
  field?: string;
  /** The kustomization that read `file`, when the problem shows through one. */
  kustomization?: string;
  message: string;
}
