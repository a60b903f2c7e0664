/**
 * Carrying out a preemption against the store, as kube-scheduler does: each victim gets condition
 * DisruptionTarget (reason PreemptionByScheduler), is deleted with its own grace period, and gets
 * an event Preempted naming the preemptor's uid and the node.
 */
import { deletePod } from '../controllers/pods.js';
import { errorMessage, isGantryError } from '../errors.js';
import type { EventSink } from '../events/recorder.js';
import type { Logger } from '../log.js';
import type { Condition, Pod } from '../model/types.js';
import type { Store, WriteOrigin } from '../store/types.js';
import { podKey } from './podinfo.js';
import type { PreemptionCandidate } from './preemption.js';

/** What {@link evictVictims} needs. */
export interface EvictOptions {
  store: Store;
  events: EventSink;
  log: Logger;
  origin: WriteOrigin;
  /** The scheduler's name, in the DisruptionTarget message. */
  schedulerName: string;
}

/** Deletes the candidate's victims for `preemptor`. Never throws: the next attempt finds what is left. */
export async function evictVictims(preemptor: Pod, candidate: PreemptionCandidate, opts: EvictOptions): Promise<void> {
  const { store, origin } = opts;
  const now = new Date().toISOString();
  const target: Condition = {
    type: 'DisruptionTarget',
    status: 'True',
    reason: 'PreemptionByScheduler',
    message: `${opts.schedulerName}: preempting to accommodate a higher priority pod`,
    lastTransitionTime: now,
  };
  await Promise.all(candidate.victims.map(async (victim) => {
    try {
      if (!victim.metadata.deletionTimestamp) {
        const conditions = [...(victim.status?.conditions ?? []).filter((c) => c.type !== target.type), target];
        const marked: Pod = { ...victim, status: { ...victim.status, conditions } };
        // A victim that changed meanwhile is deleted without the condition rather than not at all.
        const written = await store.update(marked, { origin }).catch((err: unknown) => {
          if (isGantryError(err, 'Conflict')) return victim;
          throw err;
        });
        await deletePod(store, written, { origin });
      }
      opts.events.emit(victim, 'Normal', 'Preempted', `Preempted by pod ${preemptor.metadata.uid ?? podKey(preemptor)} on node ${candidate.node}`);
    } catch (err) {
      if (!isGantryError(err, 'NotFound')) opts.log.warn({ pod: podKey(victim), err: errorMessage(err) }, 'could not preempt pod');
    }
  }));
}
