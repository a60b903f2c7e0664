/**
 * What a revision of the repo declares, as every stage after loading sees it: the revision, the
 * desired objects with where each was declared, and the problems found. Loaded and validated by
 * src/sync; planned by src/diff; recorded by src/audit.
 */
import type { KubeObject } from './types.js';

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
