/**
 * Planning a revision against the live state: what `gantry plan REF --live` prints and what the
 * API's plan route (`GET /apis/gantry.dev/v1/plan?ref=REF`, the dashboard's plan page) answers,
 * from the same code: load and validate the revision, pair it with the live objects
 * (src/diff), note the workloads a ConfigMap or Secret change rolls, run the admission the sync
 * runs before it applies (a revision it would refuse, over a quota or naming a ServiceAccount
 * that does not exist, is shown as invalid, with the same problems), and check that the pods it
 * adds fit on the nodes (src/scheduler).
 */
import type { FastifyPluginAsync } from 'fastify';
import { makePlan } from '../diff/plan.js';
import { planEntryViews, planSummary, renderPlan } from '../diff/render.js';
import { annotateRolls } from '../diff/rolls.js';
import { planIsEmpty, type Plan } from '../diff/types.js';
import { isGantryError } from '../errors.js';
import { DECLARABLE_KINDS } from '../model/kinds.js';
import type { KubeObject, Node, Pod } from '../model/types.js';
import { planCapacity, renderCapacity, type PlanCapacity } from '../scheduler/plan-capacity.js';
import type { PlannedRevision, PlanResponse } from './plan-types.js';
import type { ReadStore } from '../store/types.js';
import { resolveAndLoad } from '../sync/load-revision.js';
import type { Decryption } from '../sync/sops/decryptor.js';

export type { PlannedRevision, PlanResponse } from './plan-types.js';
import type { DesiredSet, ManifestIssue, Source } from '../sync/types.js';
import { admitPlan } from '../sync/admission.js';

/** What a plan against the live state compares with. */
export interface LiveState {
  /** Every object of a declarable kind (pods included). */
  objects: KubeObject[];
  nodes: Node[];
  pods: Pod[];
}

/** Reads the live state a plan compares with. */
export async function readLiveState(store: Pick<ReadStore, 'list'>): Promise<LiveState> {
  const [nodes, ...lists] = await Promise.all([store.list<Node>('Node'), ...DECLARABLE_KINDS.map((k) => store.list(k))]);
  const objects = lists.flatMap((l) => l.items);
  return { objects, nodes: nodes.items, pods: objects.filter((o): o is Pod => o.kind === 'Pod') };
}

/**
 * The plan of `desired` against `live`, with the workloads each config change rolls, and the
 * capacity check when there are nodes to place pods on.
 */
export function planAgainstLive(desired: DesiredSet, live: LiveState): { plan: Plan; capacity?: PlanCapacity; refused: ManifestIssue[] } {
  const plan = makePlan(desired, live.objects, { revision: desired.revision?.commit });
  annotateRolls(plan);
  return { plan, refused: admissionRefusals(plan, live.objects), ...(live.nodes.length > 0 ? { capacity: planCapacity(plan, live.nodes, live.pods) } : {}) };
}

/**
 * What the sync's admission would refuse in `plan` against `live` (any one problem rejects the
 * whole revision there), without changing the plan: a create is shown as written, not with what
 * admission adds to a Pod.
 */
export function admissionRefusals(plan: Plan, live: readonly KubeObject[]): ManifestIssue[] {
  // Admission replaces a new Pod's `desired` with the admitted copy: it gets entries of its own.
  return admitPlan({ ...plan, create: plan.create.map((e) => ({ ...e })) }, live).issues;
}

/** Options of {@link planApi}. */
export interface PlanApiOptions {
  store: ReadStore;
  /** The source the sync loop follows; without it the route answers 404. */
  source?: Source;
  /** Decrypts SOPS-encrypted Secrets as the sync loop does (their values stay hidden). */
  decryptor?: Decryption;
}

/**
 * `GET /apis/gantry.dev/v1/plan?ref=REF`: what REF (a branch, tag, commit id or `main~1`; default
 * the followed ref) would change against the live state. It writes nothing. Secret values are
 * never in the answer (the renderings redact them).
 */
export function planApi(opts: PlanApiOptions): FastifyPluginAsync {
  return async (app) => {
    app.get<{ Querystring: { ref?: string } }>('/apis/gantry.dev/v1/plan', async (req, reply) => {
      if (!opts.source) {
        reply.code(404);
        return { code: 'NotFound', message: 'this server follows no repository, so it has nothing to plan' };
      }
      const ac = new AbortController();
      req.raw.on('close', () => ac.abort());
      const ref = req.query.ref === undefined || req.query.ref.trim() === '' ? undefined : req.query.ref.trim();
      let loaded;
      try {
        loaded = await resolveAndLoad(opts.source, ref, { signal: ac.signal, decryptor: opts.decryptor });
      } catch (err) {
        if (isGantryError(err, 'RefNotFound')) {
          reply.code(404);
          return { code: err.code, message: err.message };
        }
        if (isGantryError(err, 'SourceUnavailable') || isGantryError(err, 'AuthFailed')) {
          reply.code(502);
          return { code: err.code, message: err.message };
        }
        throw err;
      }
      const desired: PlannedRevision = {
        ref: loaded.revision.ref,
        commit: loaded.revision.commit,
        ...(loaded.revision.message !== undefined ? { message: loaded.revision.message } : {}),
        ...(loaded.revision.author ? { author: loaded.revision.author } : {}),
      };
      if (!loaded.ok) return { valid: false, desired, issues: loaded.issues } satisfies PlanResponse;
      const { plan, capacity, refused } = planAgainstLive(loaded.set, await readLiveState(opts.store));
      if (refused.length > 0) return { valid: false, desired, issues: refused } satisfies PlanResponse;
      let text = renderPlan(plan, { format: 'text' });
      const capacityText = capacity ? renderCapacity(capacity, 'text') : undefined;
      if (capacityText) text = `${text.trimEnd()}\n\n${capacityText}\n`;
      return {
        valid: true,
        desired,
        against: 'live',
        summary: planSummary(plan),
        changes: !planIsEmpty(plan),
        entries: planEntryViews(plan),
        ...(capacity && capacityText ? { capacity: { ...capacity, text: capacityText } } : {}),
        text,
      } satisfies PlanResponse;
    });
  };
}
