/**
 * Whether a sync pass may apply now: not while the sync is suspended (`gantry suspend`, stored in
 * the Sync object so every server and every restart sees it), nor while a sync window holds it
 * (windows.ts; a forced manual sync passes where the window allows manual syncs, as Argo CD's
 * `manualSync`). A held pass applies nothing and says why.
 */
import type { HeldBack, SyncObject } from './status.js';
import { checkSyncWindows, type SyncWindow } from './windows.js';
import { k8sTime } from '../model/time.js';

/** What asked for the pass. */
export interface PassRequest {
  /** `gantry sync --now --force`: a manual sync past the windows that allow manual syncs. */
  force?: boolean;
  /** A manual request (`gantry sync --now`, `POST …/sync`): its message says whether --force would pass. */
  manual?: boolean;
}

/** The hold on a pass for `revision`, or undefined when it may apply. */
export function holdFor(sync: SyncObject | undefined, windows: readonly SyncWindow[], revision: string, req: PassRequest, now = new Date()): HeldBack | undefined {
  const since = k8sTime(now.getTime());
  const short = revision.slice(0, 7);
  if (sync?.spec.suspend) {
    const who = [sync.spec.suspendedBy && `by ${sync.spec.suspendedBy}`, sync.spec.suspendedAt && `at ${sync.spec.suspendedAt}`].filter(Boolean).join(' ');
    return { reason: 'Suspended', message: `sync suspended${who ? ` ${who}` : ''}: revision ${short} not applied; gantry resume applies it`, revision, since };
  }
  const verdict = checkSyncWindows(windows, now, { manual: req.force === true });
  if (verdict.allowed) return undefined;
  const hint = req.manual && !req.force
    ? (verdict.manualAllowed ? '; --force syncs anyway (the window allows manual syncs)' : '; this window allows no manual sync')
    : req.force && !verdict.manualAllowed ? '; --force cannot pass it: the window allows no manual sync' : '';
  return {
    reason: 'SyncWindow', message: `revision ${short} not applied: ${verdict.message}${hint}`, revision, since,
    ...(verdict.until ? { until: k8sTime(verdict.until.getTime()) } : {}),
  };
}
