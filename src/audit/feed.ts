/**
 * Feeds store changes to the recorder: a watch from the last revision the recorder committed,
 * so that a restart neither misses nor repeats a change.
 */
import type { Logger } from 'pino';
import { errorMessage, isGantryError } from '../errors.js';
import type { KubeObject } from '../model/types.js';
import type { Store, WatchEvent } from '../store/types.js';
import type { Recorder } from './types.js';
import { DIGEST_KEY_KIND } from './digest-key.js';
import { abortableSleep } from '../model/time.js';

/**
 * Kinds whose changes are not recorded one by one: the Sync object has its own sync records, and
 * Events are the cluster's own short-lived account (kept an hour) of what the history already says;
 * the digest key must never reach the history it protects.
 */
const NOT_RECORDED = new Set(['Sync', 'Event', DIGEST_KEY_KIND]);

/**
 * True for a Node update that only moves heartbeat times: recording those would add a commit
 * per node every 10 s and bury the changes that matter.
 */
export function isHeartbeatOnly(ev: WatchEvent): boolean {
  if (ev.type !== 'MODIFIED' || ev.object.kind !== 'Node' || !ev.prevObject) return false;
  const strip = (o: KubeObject): string => JSON.stringify(o, (k, v: unknown) =>
    k === 'lastHeartbeatTime' || k === 'resourceVersion' ? undefined : v);
  return strip(ev.object) === strip(ev.prevObject);
}

/**
 * True for an autoscaler's status update that only moves its measured metrics: the controller
 * writes the pods' current usage every sync period (15 s), and a commit for each would bury its
 * scaling — which changes the target, desiredReplicas, lastScaleTime or the conditions, and is
 * recorded.
 */
export function isMetricsOnly(ev: WatchEvent): boolean {
  if (ev.type !== 'MODIFIED' || ev.object.kind !== 'HorizontalPodAutoscaler' || !ev.prevObject) return false;
  const strip = (o: KubeObject): string => JSON.stringify(o, (k, v: unknown) => (k === 'currentMetrics' || k === 'resourceVersion' ? undefined : v));
  return strip(ev.object) === strip(ev.prevObject);
}

/** Whether the audit trail records this change (see NOT_RECORDED, {@link isHeartbeatOnly} and {@link isMetricsOnly}). */
export function isRecorded(ev: WatchEvent): boolean {
  return !NOT_RECORDED.has(ev.object.kind) && !isHeartbeatOnly(ev) && !isMetricsOnly(ev);
}

/** Options for {@link startAuditFeed}. */
export interface AuditFeedOptions {
  store: Store;
  recorder: Recorder;
  logger: Logger;
  /** Store revision already recorded (from the recorder's last commit); watch after it. */
  fromRevision?: number;
  signal: AbortSignal;
  /** Wait before watching again after a failure (default 1000 ms). */
  retryDelayMs?: number;
}

/**
 * Runs until the signal aborts. If the store has compacted past `fromRevision` (the recorder was
 * off for long), it notes the gap in the log and continues from the current revision.
 */
export async function startAuditFeed(opts: AuditFeedOptions): Promise<void> {
  const { store, recorder, logger, signal } = opts;
  let from = opts.fromRevision;
  while (!signal.aborted) {
    try {
      for await (const ev of store.watch({ fromRevision: from, signal })) {
        from = ev.revision;
        if (isRecorded(ev)) recorder.recordChange(ev);
      }
      return;
    } catch (err) {
      if (signal.aborted) return;
      // Everything that can fail stays inside this loop: the caller holds this promise without
      // awaiting it until shutdown, so a rejection would be unhandled and end the process.
      try {
        if (isGantryError(err, 'Conflict')) {
          const now = await store.revision();
          logger.warn({ from, now }, 'audit history has a gap: the store compacted changes the recorder never saw');
          from = now;
          continue;
        }
        logger.error({ err: errorMessage(err) }, 'audit feed failed; retrying');
      } catch (revErr) {
        logger.error({ err: errorMessage(revErr) }, 'audit feed cannot read the store revision; retrying');
      }
      await abortableSleep(opts.retryDelayMs ?? 1000, signal);
    }
  }
}
