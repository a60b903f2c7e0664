/**
 * The Sync object: gantry's record, in the store, of what the sync loop last did, read by
 * `gantry status` and the API. One per source, named `default` for the main one.
 */
import type { Condition, KubeObject } from '../model/types.js';
import type { ManifestIssue } from './types.js';

/** Reasons on the Sync object's Ready condition. */
export const SyncReasons = {
  Applied: 'Applied',
  ValidationFailed: 'ValidationFailed',
  /** The commit is unsigned, or not signed by a trusted key (`--verify-commits`). */
  VerificationFailed: 'VerificationFailed',
  SourceFailed: 'SourceFailed',
  ApplyFailed: 'ApplyFailed',
  Progressing: 'Progressing',
} as const;
/** One of {@link SyncReasons}. */
export type SyncReason = (typeof SyncReasons)[keyof typeof SyncReasons];

/** Status of the Sync object. */
export interface SyncStatus {
  /** Commit most recently applied (in force now). */
  lastAppliedRevision?: string;
  /** Commit most recently tried, applied or not. */
  lastAttemptedRevision?: string;
  lastAppliedTime?: string;
  lastAttemptTime?: string;
  conditions?: Condition[];
  /** Why the last attempted revision was rejected. */
  issues?: ManifestIssue[];
  /**
   * Keys of the objects the last pass meant to create, update or prune when it failed to apply
   * (at most 1000): they are out of sync until a pass succeeds.
   */
  outOfSync?: string[];
  /** Counts from the last applied revision. */
  summary?: { created: number; updated: number; pruned: number; unchanged: number; objects: number };
  /** Set while passes apply nothing: the sync is suspended, or a sync window holds it. */
  heldBack?: HeldBack;
}

/** Why the last pass applied nothing, since when, and (for a window) until when. */
export interface HeldBack {
  reason: 'Suspended' | 'SyncWindow';
  message: string;
  /** The revision waiting to be applied. */
  revision?: string;
  since: string;
  /** When automatic syncs may run again (a window's end). */
  until?: string;
}

/** The Sync object kind. */
export interface SyncObject extends KubeObject {
  kind: 'Sync';
  spec: {
    repo: string;
    ref?: string;
    path?: string;
    intervalSeconds?: number;
    /** The sync windows in force, as written (`deny 0 22 * * * 8h`). */
    syncWindows?: string[];
    /** Suspended (`gantry suspend`): passes apply nothing until `gantry resume`. */
    suspend?: boolean;
    /** Who suspended it (`api/<token>`), and when. */
    suspendedBy?: string;
    suspendedAt?: string;
  };
  status?: SyncStatus;
}

/** Name of the Sync object for the main source. */
export const SYNC_NAME = 'default';

/** A fresh Sync object for a source. */
export function newSyncObject(spec: SyncObject['spec']): SyncObject {
  return { apiVersion: 'gantry.dev/v1', kind: 'Sync', metadata: { name: SYNC_NAME }, spec, status: {} };
}

/**
 * Returns `conditions` with the condition of `type` set; lastTransitionTime changes only when
 * the status flips, as Kubernetes does.
 */
export function setCondition(conditions: Condition[] | undefined, next: Condition, now: string): Condition[] {
  const out = (conditions ?? []).filter((c) => c.type !== next.type);
  const prev = (conditions ?? []).find((c) => c.type === next.type);
  const lastTransitionTime = prev && prev.status === next.status ? prev.lastTransitionTime : now;
  out.push({ ...next, lastTransitionTime });
  return out.sort((a, b) => a.type.localeCompare(b.type));
}
