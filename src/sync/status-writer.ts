/**
 * Writes what a sync pass did to the Sync object (see status.ts), only when something a reader
 * would see changed. The spec keeps what others wrote there (suspension, by `gantry suspend`)
 * beside what the loop describes (source, interval, sync windows).
 */
import { isGantryError } from '../errors.js';
import type { Store } from '../store/types.js';
import { newSyncObject, setCondition, SYNC_NAME, type HeldBack, type SyncObject, type SyncReason, type SyncStatus } from './status.js';
import type { ManifestIssue, Revision } from './types.js';
import { k8sTime } from '../model/time.js';

/** What a pass reports on the Sync object. */
export type StatusUpdate =
  | {
      revision?: Revision;
      applied?: boolean;
      reason: SyncReason;
      message: string;
      ready: boolean;
      issues?: ManifestIssue[];
      /** Keys of declared objects the pass could not write (health reports them OutOfSync). */
      outOfSync?: string[];
      summary?: SyncStatus['summary'];
    }
  /** A pass that applied nothing because the sync is suspended or a window holds it. */
  | { held: HeldBack };

/** The loop's own part of the spec: what it follows and how. */
export type DescribedSpec = Omit<SyncObject['spec'], 'suspend' | 'suspendedBy' | 'suspendedAt'>;

/** Writes the status; throws on store errors other than conflicts (retried up to 3 times). */
export async function writeSyncStatus(store: Store, described: DescribedSpec, s: StatusUpdate): Promise<void> {
  const now = k8sTime(Date.now());
  for (let attempt = 0; attempt < 3; attempt++) {
    const current = await store.get<SyncObject>({ kind: 'Sync', name: SYNC_NAME });
    const prev: SyncStatus = current?.status ?? {};
    const spec: SyncObject['spec'] = {
      ...described,
      ...(current?.spec.suspend ? { suspend: true, suspendedBy: current.spec.suspendedBy, suspendedAt: current.spec.suspendedAt } : {}),
    };
    const next = 'held' in s ? heldStatus(prev, s.held) : passStatus(prev, s, now);
    const origin = { actor: 'sync', desiredRevision: 'held' in s ? s.held.revision : s.revision?.commit };
    if (current && visibleStatus(prev) === visibleStatus(next) && JSON.stringify(dropUndefined(current.spec)) === JSON.stringify(dropUndefined(spec))) return;
    const obj: SyncObject = current ? { ...structuredClone(current), spec: dropUndefined(spec), status: dropUndefined(next) } : { ...newSyncObject(dropUndefined(spec)), status: dropUndefined(next) };
    try {
      if (current) await store.update(obj, { origin });
      else await store.create(obj, { origin });
      return;
    } catch (err) {
      if (isGantryError(err, 'Conflict') || isGantryError(err, 'AlreadyExists')) continue;
      throw err;
    }
  }
}

/** The status after a held pass: all else as it was; `since` kept while the same revision waits for the same reason. */
function heldStatus(prev: SyncStatus, held: HeldBack): SyncStatus {
  const same = prev.heldBack && prev.heldBack.reason === held.reason && prev.heldBack.revision === held.revision;
  return { ...prev, heldBack: { ...held, since: same ? prev.heldBack!.since : held.since } };
}

function passStatus(prev: SyncStatus, s: Exclude<StatusUpdate, { held: HeldBack }>, now: string): SyncStatus {
  const appliedNew = s.applied && s.revision &&
    (prev.lastAppliedRevision !== s.revision.commit || (s.summary && s.summary.created + s.summary.updated + s.summary.pruned > 0));
  return {
    lastAppliedRevision: s.applied ? s.revision?.commit : prev.lastAppliedRevision,
    lastAttemptedRevision: s.revision?.commit ?? prev.lastAttemptedRevision,
    lastAppliedTime: appliedNew ? now : prev.lastAppliedTime,
    lastAttemptTime: now,
    conditions: setCondition(prev.conditions, {
      type: 'Ready', status: s.ready ? 'True' : 'False', reason: s.reason, message: s.message,
    }, now),
    issues: s.issues && s.issues.length > 0 ? s.issues : undefined,
    outOfSync: s.outOfSync && s.outOfSync.length > 0 ? s.outOfSync : undefined,
    // The counts describe the last pass that changed something, not every no-op pass.
    summary: appliedNew ? s.summary : prev.summary,
    // A pass ran: nothing is held back any more.
    heldBack: undefined,
  };
}

/** A status as a reader compares it: timestamps aside. */
function visibleStatus(st: SyncStatus): string {
  return JSON.stringify(dropUndefined({
    ...st,
    lastAppliedTime: undefined,
    lastAttemptTime: undefined,
    conditions: st.conditions?.map((c) => ({ ...c, lastTransitionTime: undefined })),
  }));
}

function dropUndefined<T extends object>(o: T): T {
  return JSON.parse(JSON.stringify(o)) as T;
}
