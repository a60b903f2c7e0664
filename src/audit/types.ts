/**
 * The Recorder: turns store changes and sync attempts into commits on the status branch.
 */
import type { WatchEvent } from '../store/types.js';
import type { ManifestIssue, Revision } from '../model/desired.js';
import type { KubeObject } from '../model/types.js';
import type { BlameLine } from './blame.js';

/** One sync attempt, applied or rejected. */
export interface SyncRecord {
  revision: Revision;
  outcome: 'applied' | 'rejected' | 'failed';
  /** Counts of what was applied, for `applied`. */
  summary?: { created: number; updated: number; pruned: number; unchanged: number };
  /** Why a revision was rejected (validation) or failed (store error). */
  issues?: ManifestIssue[];
  error?: string;
  at: string;
}

/** One entry of `gantry history`. */
export interface HistoryEntry {
  commit: string;
  /** ISO timestamp. */
  at: string;
  actor: string;
  desiredRevision?: string;
  /** Author of the desired revision (`Name <email>`): who pushed the change that caused this. */
  desiredAuthor?: string;
  /** Committer of the desired revision (`Name <email>`), when recorded. */
  desiredCommitter?: string;
  /** Key of the object changed, when the entry is about one object. */
  object?: string;
  /** The commit message's first line, in words. */
  summary: string;
  /** The rest of the message. */
  body?: string;
}

/** One object's recorded file on either side of a change. */
export interface ObjectChange {
  before?: string;
  after?: string;
}

/** Records what happened to the cluster as commits. Must never block the control loop. */
export interface Recorder {
  /** Queues a store change; returns at once. */
  recordChange(event: WatchEvent): void;
  /** Queues a sync attempt; returns at once. */
  recordSync(record: SyncRecord): void;
  /** Resolves when everything queued so far is committed. */
  flush(): Promise<void>;
  /** Newest first; optionally only entries about one object, since a time. */
  history(opts?: { object?: string; since?: Date; limit?: number }): Promise<HistoryEntry[]>;
  /** Who set each field of an object (key `Kind/namespace/name`), from its recorded versions; see blame.ts. */
  blame(key: string, opts?: { live?: KubeObject }): Promise<BlameLine[]>;
  /**
   * The changed object's recorded file (YAML, Secret values as digests) after the change an entry
   * records and before it (at the commit's parent): `after` is absent for a deletion, `before`
   * for a creation, both for entries about no object.
   */
  objectChange(entry: Pick<HistoryEntry, 'commit' | 'object'>): Promise<ObjectChange>;
  /** {@link Recorder.objectChange} of each entry, in order (one read of the trail for them all). */
  objectChanges(entries: readonly Pick<HistoryEntry, 'commit' | 'object'>[]): Promise<ObjectChange[]>;
  /**
   * The store revision to resume watching after (`watch({ fromRevision })`), so that a restart
   * neither misses nor repeats a change; 0 when nothing was recorded yet.
   */
  lastStoreRevision(): Promise<number>;
  close(): Promise<void>;
}
