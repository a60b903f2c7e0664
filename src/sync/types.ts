/**
 * Types at the boundary of src/sync: the Source (where desired state comes from). The validated
 * desired state it yields is typed in src/model/desired.ts (re-exported here), where the stages
 * after sync import it from.
 */
import type { Revision } from '../model/desired.js';

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

export type { DesiredObject, DesiredSet, ManifestIssue, ObjectSource, Revision } from '../model/desired.js';
