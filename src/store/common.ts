/**
 * Backend-independent store logic: key normalization, server-owned metadata on create and
 * update (uid, creationTimestamp, generation), the no-op rule, and the error messages every
 * backend uses so that SQLite and etcd fail the same way.
 */
import { randomUUID } from 'node:crypto';
import { GantryError } from '../errors.js';
import { kindInfo } from '../model/kinds.js';
import { refKey, type ObjectRef } from '../model/keys.js';
import { deepEqual } from '../model/json.js';
import type { KubeObject } from '../model/types.js';
import { randomSuffix } from '../model/generate-name.js';
import { k8sTime } from '../model/time.js';

/**
 * A reference with its namespace settled: namespaced kinds without one get `default`,
 * cluster-scoped kinds lose it. Unknown kinds are namespaced iff a namespace is given.
 */
export function normalizeRef(ref: ObjectRef): ObjectRef {
  const info = kindInfo(ref.kind);
  const namespaced = info ? info.namespaced : ref.namespace !== undefined && ref.namespace !== '';
  return namespaced
    ? { kind: ref.kind, namespace: ref.namespace || 'default', name: ref.name }
    : { kind: ref.kind, name: ref.name };
}

/** "Deployment default/web" or "Namespace prod", as messages name an object. */
export function describeRef(ref: ObjectRef): string {
  return ref.namespace ? `${ref.kind} ${ref.namespace}/${ref.name}` : `${ref.kind} ${ref.name}`;
}

/** The current time as Kubernetes writes timestamps: ISO 8601, UTC, whole seconds. */
export function nowTimestamp(now: Date = new Date()): string {
  return k8sTime(now.getTime());
}

/** A name for `generateName`: the prefix plus five random characters, as Kubernetes does. */
export function generatedName(prefix: string): string {
  return prefix + randomSuffix();
}


/**
 * True when anything outside `metadata` and `status` differs: the change that bumps
 * `metadata.generation` (spec, data, and any other top-level field).
 */
export function specChanged(a: KubeObject, b: KubeObject): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) {
    if (k === 'metadata' || k === 'status') continue;
    if (!deepEqual(a[k], b[k])) return true;
  }
  return false;
}

/** Validates what a write needs before it can be keyed; throws `InvalidArgument`. */
function checkKeyable(obj: KubeObject, verb: string): void {
  if (!obj || typeof obj !== 'object' || typeof obj.kind !== 'string' || obj.kind === '') {
    throw new GantryError('InvalidArgument', `cannot ${verb} object: kind is missing`);
  }
  if (!obj.metadata || typeof obj.metadata !== 'object') {
    throw new GantryError('InvalidArgument', `cannot ${verb} ${obj.kind}: metadata is missing`, { field: 'metadata' });
  }
  const name = obj.metadata.name;
  if (typeof name !== 'string' || name === '') {
    throw new GantryError('InvalidArgument', `cannot ${verb} ${obj.kind}: metadata.name is empty`, { field: 'metadata.name' });
  }
  if (name.includes('/') || (obj.metadata.namespace ?? '').includes('/')) {
    throw new GantryError('InvalidArgument', `cannot ${verb} ${obj.kind} ${name}: names and namespaces must not contain "/"`, {
      field: 'metadata.name',
    });
  }
}

/** An object about to be stored, with its settled reference and key. */
export interface PreparedWrite {
  ref: ObjectRef;
  key: string;
  /** The object as it will be stored (a new top level and metadata; nested values shared with the input). */
  object: KubeObject;
}

/**
 * The object a create stores at `revision`: a name from `generateName` if needed, the namespace
 * settled, and uid, creationTimestamp, generation 1 and resourceVersion set by the server
 * (whatever the caller put there is replaced). `timestamp` lets a batch share one clock reading.
 */
export function prepareCreate(obj: KubeObject, revision: number, timestamp: string = nowTimestamp()): PreparedWrite {
  let input = obj;
  if (input?.metadata && !input.metadata.name && input.metadata.generateName) {
    input = { ...input, metadata: { ...input.metadata, name: generatedName(input.metadata.generateName) } };
  }
  checkKeyable(input, 'create');
  const ref = normalizeRef({ kind: input.kind, namespace: input.metadata.namespace, name: input.metadata.name });
  const metadata = { ...input.metadata };
  if (ref.namespace === undefined) delete metadata.namespace;
  else metadata.namespace = ref.namespace;
  metadata.uid = randomUUID();
  metadata.creationTimestamp = timestamp;
  metadata.generation = 1;
  metadata.resourceVersion = String(revision);
  return { ref, key: refKey(ref), object: { ...input, metadata } };
}

/** The settled reference and key of an object a caller wants to update or delete. */
export function refOf(obj: KubeObject, verb: string): { ref: ObjectRef; key: string } {
  checkKeyable(obj, verb);
  const ref = normalizeRef({ kind: obj.kind, namespace: obj.metadata.namespace, name: obj.metadata.name });
  return { ref, key: refKey(ref) };
}

/**
 * Checks an update's precondition against the stored object: `resourceVersion` is required
 * and must equal the stored one.
 */
export function checkUpdatePrecondition(ref: ObjectRef, obj: KubeObject, stored: KubeObject): void {
  const rv = obj.metadata.resourceVersion;
  if (rv === undefined || rv === '') {
    throw new GantryError(
      'InvalidArgument',
      `cannot update ${describeRef(ref)}: metadata.resourceVersion is required (read the object first)`,
      { object: refKey(ref), field: 'metadata.resourceVersion' },
    );
  }
  if (rv !== stored.metadata.resourceVersion) throw staleError('update', ref, rv, stored.metadata.resourceVersion);
}

/** The `Conflict` for a write whose resourceVersion precondition failed. */
export function staleError(verb: string, ref: ObjectRef, given: string, stored: string | undefined): GantryError {
  return new GantryError(
    'Conflict',
    `cannot ${verb} ${describeRef(ref)}: the object has been modified (resourceVersion ${given}, stored ${stored}); re-read and try again`,
    { object: refKey(ref), disposition: 'transient' },
  );
}

/** The `NotFound` for a write to an absent object. */
export function notFoundError(verb: string, ref: ObjectRef): GantryError {
  return new GantryError('NotFound', `cannot ${verb} ${describeRef(ref)}: it does not exist`, { object: refKey(ref) });
}

/** The `AlreadyExists` for a create whose key is taken. */
export function alreadyExistsError(ref: ObjectRef): GantryError {
  return new GantryError('AlreadyExists', `cannot create ${describeRef(ref)}: it already exists`, {
    object: refKey(ref),
    disposition: 'stalled',
  });
}

/** The result of {@link prepareUpdate}. */
export interface PreparedUpdate extends PreparedWrite {
  /** False when the update changes nothing: no write, no revision, no event. */
  changed: boolean;
}

/**
 * The object an update stores at `revision`, given the stored one: uid and creationTimestamp
 * kept, generation bumped when anything outside metadata and status changed. When nothing at
 * all changed, `changed` is false and `object` is the stored object.
 */
export function prepareUpdate(
  ref: ObjectRef,
  obj: KubeObject,
  stored: KubeObject,
  revision: number,
): PreparedUpdate {
  const key = refKey(ref);
  const metadata = { ...obj.metadata };
  if (ref.namespace === undefined) delete metadata.namespace;
  else metadata.namespace = ref.namespace;
  metadata.uid = stored.metadata.uid;
  metadata.creationTimestamp = stored.metadata.creationTimestamp;
  const gen = stored.metadata.generation ?? 1;
  metadata.generation = specChanged(obj, stored) ? gen + 1 : gen;
  metadata.resourceVersion = stored.metadata.resourceVersion;
  const candidate: KubeObject = { ...obj, metadata };
  if (deepEqual(candidate, stored)) return { ref, key, object: stored, changed: false };
  metadata.resourceVersion = String(revision);
  return { ref, key, object: candidate, changed: true };
}
