/**
 * Sync and health of the app — everything gantry applies from the followed repo path — per
 * object, per namespace and as a whole, from the live objects and the Sync object. Pure.
 *
 * Sync per object: gantry applies a revision whole or not at all, so after an applied pass every
 * declared object is Synced to the revision in force. An object is Rejected when the last
 * attempted revision was refused with a problem in its manifest, OutOfSync when the last pass
 * could not write it (the Sync status lists what that pass meant to change), and the whole app
 * is Rejected / OutOfSync / Unknown (source unreadable, nothing applied yet) accordingly.
 */
import { isManaged } from '../model/annotations.js';
import { objectKey, objectRef, parseKey } from '../model/keys.js';
import type { KubeObject } from '../model/types.js';
import { SyncReasons, type SyncObject } from '../sync/status.js';
import { objectHealth, relatedFrom } from './kinds.js';
import { isWorse, type AppHealth, type GroupHealth, type Health, type HealthStatus, type ObjectHealth, type Sync } from './types.js';

/** What {@link assessApp} reads. */
export interface AppInput {
  /** The Sync object (undefined before the first pass). */
  sync?: SyncObject;
  /** Live objects: the declared ones and what controllers made of them (ReplicaSets, Pods, Jobs). */
  objects: readonly KubeObject[];
}

/** The app's sync state, from the Sync object. */
export function appSync(sync: SyncObject | undefined): Sync {
  const st = sync?.status;
  const ready = st?.conditions?.find((c) => c.type === 'Ready');
  const revision = st?.lastAppliedRevision;
  const base = revision ? { revision } : {};
  if (!st || !ready) return { status: 'Unknown', reason: 'NeverSynced', message: 'no sync has run yet' };
  switch (ready.reason) {
    case SyncReasons.Applied:
      return { status: 'Synced', reason: 'Applied', message: `revision ${revision?.slice(0, 7)} in force`, ...base };
    case SyncReasons.ValidationFailed:
    case SyncReasons.VerificationFailed:
      return { status: 'Rejected', reason: ready.reason, message: ready.message ?? 'the last revision was rejected', ...base };
    case SyncReasons.ApplyFailed:
      return { status: 'OutOfSync', reason: ready.reason, message: ready.message ?? 'the last revision could not be applied', ...base };
    case SyncReasons.SourceFailed:
      return { status: 'Unknown', reason: ready.reason, message: ready.message ?? 'the source cannot be read', ...base };
    default:
      return { status: ready.status === 'True' ? 'Synced' : 'OutOfSync', reason: ready.reason, message: ready.message, ...base };
  }
}

/** Sync, health and counts of the app, of each namespace, and of each declared object. */
export function assessApp(input: AppInput): AppHealth {
  const sync = appSync(input.sync);
  const st = input.sync?.status;
  const rejected = new Map<string, string>();
  if (sync.status === 'Rejected') {
    for (const i of st?.issues ?? []) if (i.object) rejected.set(i.object, i.message);
  }
  const pending = new Set(sync.status === 'OutOfSync' ? st?.outOfSync ?? [] : []);
  const related = relatedFrom(input.objects);
  const objects: ObjectHealth[] = [];
  const live = new Set<string>();
  for (const obj of input.objects) {
    if (!isManaged(obj.metadata)) continue;
    const key = objectKey(obj);
    live.add(key);
    const health = objectHealth(obj, related);
    objects.push(entry(obj, key, objectSync(key, sync, rejected, pending), health));
  }
  // Declared, meant to be written by the last pass, and not there: Missing.
  for (const key of pending) {
    if (live.has(key)) continue;
    const ref = parseKey(key);
    objects.push({
      kind: ref.kind, ...(ref.namespace ? { namespace: ref.namespace } : {}), name: ref.name, key,
      sync: { status: 'OutOfSync', reason: 'NotApplied', message: 'declared in Git, not in the cluster' },
      health: { status: 'Missing', reason: 'NotApplied', message: `${ref.kind} ${ref.namespace ? `${ref.namespace}/` : ''}${ref.name} is declared but does not exist` },
    });
  }
  for (const [key, message] of rejected) {
    if (live.has(key) || pending.has(key)) continue;
    const ref = safeParse(key);
    if (!ref) continue;
    objects.push({
      kind: ref.kind, ...(ref.namespace ? { namespace: ref.namespace } : {}), name: ref.name, key,
      sync: { status: 'Rejected', reason: 'ValidationFailed', message },
      health: { status: 'Missing', reason: 'NotApplied', message: 'its manifest was rejected; it was never applied' },
    });
  }
  objects.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));

  const byNamespace = new Map<string, ObjectHealth[]>();
  for (const o of objects) {
    const ns = o.namespace ?? '';
    const list = byNamespace.get(ns);
    if (list) list.push(o);
    else byNamespace.set(ns, [o]);
  }
  const namespaces: Record<string, GroupHealth> = {};
  for (const [ns, list] of [...byNamespace].sort(([a], [b]) => a.localeCompare(b))) {
    if (ns === '') continue;
    namespaces[ns] = group(list, groupSync(sync, list));
  }
  return { ...group(objects, sync), namespaces, objects };
}

function safeParse(key: string): ReturnType<typeof parseKey> | undefined {
  try {
    return parseKey(key);
  } catch {
    return undefined;
  }
}

function objectSync(key: string, app: Sync, rejected: Map<string, string>, pending: Set<string>): Sync {
  const rev = app.revision ? { revision: app.revision } : {};
  const why = rejected.get(key);
  if (why !== undefined) return { status: 'Rejected', reason: 'ValidationFailed', message: why, ...rev };
  if (pending.has(key)) return { status: 'OutOfSync', reason: 'ApplyFailed', message: app.message, ...rev };
  if (app.status === 'Unknown' && app.reason === 'NeverSynced') return { status: 'Unknown', ...rev };
  return { status: 'Synced', ...rev };
}

/** A namespace's sync: its objects' worst, the app's when they are all synced but the app is not. */
function groupSync(app: Sync, list: readonly ObjectHealth[]): Sync {
  const worst = list.find((o) => o.sync.status === 'Rejected') ?? list.find((o) => o.sync.status === 'OutOfSync');
  return worst ? { ...worst.sync } : { status: list.some((o) => o.sync.status === 'Unknown') ? 'Unknown' : 'Synced', ...(app.revision ? { revision: app.revision } : {}) };
}

function group(objects: readonly ObjectHealth[], sync: Sync): GroupHealth {
  const counts: Partial<Record<HealthStatus, number>> = {};
  let worst: ObjectHealth | undefined;
  for (const o of objects) {
    const status = o.health?.status ?? 'Healthy';
    counts[status] = (counts[status] ?? 0) + 1;
    if (o.health && o.health.status !== 'Healthy' && (!worst || isWorse(o.health.status, worst.health!.status))) worst = o;
  }
  const health: Health = worst
    ? { status: worst.health!.status, ...(worst.health!.reason ? { reason: worst.health!.reason } : {}), message: `${describeKey(worst)}: ${worst.health!.message ?? worst.health!.status}` }
    : { status: 'Healthy' };
  return { sync, health, counts };
}

/** `Deployment default/web`. */
export function describeKey(o: { kind: string; namespace?: string; name: string }): string {
  return `${o.kind} ${o.namespace ? `${o.namespace}/` : ''}${o.name}`;
}

function entry(obj: KubeObject, key: string, sync: Sync, health: Health | undefined): ObjectHealth {
  const ref = objectRef(obj);
  return { kind: ref.kind, ...(ref.namespace ? { namespace: ref.namespace } : {}), name: ref.name, key, sync, ...(health ? { health } : {}) };
}
