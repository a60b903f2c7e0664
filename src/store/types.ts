/**
 * The Store: gantry's actual state. Backends: SQLite (embedded default) and etcd v3.
 *
 * The interface is shaped after etcd's model so that both backends fit it without leaking:
 * a single monotonically increasing store revision; every object's `metadata.resourceVersion`
 * is the revision of its last write (as a decimal string); watches resume from a revision.
 * The store knows no kind's semantics: it only keys, versions and orders objects.
 */
import type { KubeObject, LabelSelector } from '../model/types.js';
import type { ObjectRef } from '../model/keys.js';

/** Who made a write, carried to watchers (the audit recorder puts it in commit trailers). */
export interface WriteOrigin {
  /** `sync`, `controller/deployment`, `scheduler`, `node/<name>`, `cli`, … */
  actor: string;
  /** The desired-state Git revision that caused the write, when there is one. */
  desiredRevision?: string;
  /** The desired revision's author and committer, `Name <email>`, when the write comes from one. */
  desiredAuthor?: string;
  desiredCommitter?: string;
  /** A short human reason ("rollout of web to revision 3"). */
  reason?: string;
}

/** Options for a single write. */
export interface WriteOptions {
  origin?: WriteOrigin;
}

/** Options for {@link Store.list}. */
export interface ListOptions {
  namespace?: string;
  /** A selector object, or a string as kubectl takes it (`app=web,tier!=db`). */
  labelSelector?: LabelSelector | string;
}

/** The result of a list: items sorted by key, and the store revision they are consistent at. */
export interface ListResult<T extends KubeObject = KubeObject> {
  items: T[];
  revision: number;
}

/** One change, as a watch delivers it. */
export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  /** The object after the change (for DELETED: as it was when deleted). */
  object: KubeObject;
  /** The object before the change, for MODIFIED and DELETED. */
  prevObject?: KubeObject;
  /** The store revision of this change. */
  revision: number;
  origin?: WriteOrigin;
}

/** Options for {@link Store.watch}. */
export interface WatchOptions {
  /**
   * Deliver every change with revision > fromRevision, then live changes. Omit to start at the
   * current revision (only future changes). A revision older than the store keeps is an error
   * with code `Conflict` ("too old"), and the watcher must re-list.
   */
  fromRevision?: number;
  /** Only changes to these kinds. */
  kinds?: string[];
  signal?: AbortSignal;
}

/** One operation of a transaction. */
export type TxnOp =
  | { op: 'create'; object: KubeObject }
  /** `object.metadata.resourceVersion` must match the stored one. */
  | { op: 'update'; object: KubeObject }
  /** When `resourceVersion` is given it must match. */
  | { op: 'delete'; ref: ObjectRef; resourceVersion?: string };

/** The outcome of a committed transaction. */
export interface TxnResult {
  revision: number;
  /** Per op: the stored object after the op (for delete, as it was). */
  objects: KubeObject[];
}

/**
 * The Store. All methods are async so that a networked backend fits. Objects returned are
 * fresh copies the caller may keep, but treat them as read-only by convention.
 *
 * Errors: `NotFound`, `AlreadyExists`, `Conflict` (stale resourceVersion), `StoreUnavailable`.
 */
export interface Store {
  /** The object with this ref, or undefined. */
  get<T extends KubeObject = KubeObject>(ref: ObjectRef): Promise<T | undefined>;
  /** Objects of a kind, optionally in one namespace and matching a label selector. */
  list<T extends KubeObject = KubeObject>(kind: string, opts?: ListOptions): Promise<ListResult<T>>;
  /**
   * Creates an object. Sets uid, resourceVersion, generation 1 and creationTimestamp; the
   * namespace of a namespaced kind defaults to `default`. `AlreadyExists` if the key is taken.
   */
  create<T extends KubeObject>(obj: T, opts?: WriteOptions): Promise<T>;
  /**
   * Replaces an object whose `metadata.resourceVersion` matches the stored one (`Conflict`
   * otherwise, `NotFound` when absent). Server-owned metadata (uid, creationTimestamp) is kept
   * from the stored object; `generation` is incremented when anything outside `metadata` and
   * `status` changed.
   */
  update<T extends KubeObject>(obj: T, opts?: WriteOptions): Promise<T>;
  /** Deletes an object; returns it as it was, or undefined if it did not exist. */
  delete(ref: ObjectRef, opts?: WriteOptions & { resourceVersion?: string }): Promise<KubeObject | undefined>;
  /** Applies all ops atomically, in order, under one origin: all land or none. */
  txn(ops: TxnOp[], opts?: WriteOptions): Promise<TxnResult>;
  /** Changes in revision order; see {@link WatchOptions}. Ends when the signal aborts. */
  watch(opts?: WatchOptions): AsyncIterable<WatchEvent>;
  /** The current store revision. */
  revision(): Promise<number>;
  /** Releases resources; pending watches end. */
  close(): Promise<void>;
}

/** What read-only callers need of a store: a local SQLite store or a remote gantry's API. */
export type ReadStore = Pick<Store, 'get' | 'list' | 'watch' | 'revision' | 'close'>;
