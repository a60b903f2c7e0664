/**
 * Executes a Plan against the Store in one transaction: all of it lands or none.
 */
import type { Plan, PlanEntry } from '../diff/types.js';
import type { KubeObject } from '../model/types.js';
import type { Store, TxnOp, WriteOrigin } from '../store/types.js';
import { kindInfo } from '../model/kinds.js';

/**
 * Annotation prefixes that controllers write onto objects a repo declares (a Deployment's
 * revision, for one). Sync keeps them across updates, because the repo never sets them and
 * dropping them would make the controllers redo work.
 */
const SERVER_OWNED_ANNOTATION_PREFIXES = ['deployment.kubernetes.io/'];

/** What {@link applyPlan} did. */
export interface ApplyResult {
  /** Store revision after the transaction; unchanged when the plan was empty. */
  revision: number;
  created: number;
  updated: number;
  pruned: number;
}

/**
 * The object to write for an update: the desired object, carrying over what the server owns on
 * the live one (status, server-assigned Service IPs, controller annotations). The store keeps
 * uid and creationTimestamp itself.
 */
export function mergeForUpdate(desired: KubeObject, live: KubeObject): KubeObject {
  const merged = structuredClone(desired) as KubeObject;
  merged.metadata.resourceVersion = live.metadata.resourceVersion;
  if (live.status !== undefined) merged.status = structuredClone(live.status);
  const kept: Record<string, string> = {};
  for (const [k, v] of Object.entries(live.metadata.annotations ?? {})) {
    if (SERVER_OWNED_ANNOTATION_PREFIXES.some((p) => k.startsWith(p))) kept[k] = v;
  }
  if (Object.keys(kept).length > 0) {
    merged.metadata.annotations = { ...kept, ...(merged.metadata.annotations ?? {}) };
  }
  if (merged.kind === 'Service') {
    const spec = merged.spec as Record<string, unknown>;
    const liveSpec = (live.spec ?? {}) as Record<string, unknown>;
    for (const field of ['clusterIP', 'clusterIPs'] as const) {
      if (spec[field] === undefined && liveSpec[field] !== undefined) spec[field] = liveSpec[field];
    }
  }
  return merged;
}

/** The transaction ops of a plan, in plan order (creates and updates, then prunes). */
export function planOps(plan: Plan): TxnOp[] {
  const ops: TxnOp[] = [];
  const liveOf = (e: PlanEntry): KubeObject => {
    if (!e.live) throw new Error(`plan entry ${e.key} (${e.action}) has no live object`);
    return e.live;
  };
  // Creates and updates interleave in kind order so that a Namespace lands before what lives in
  // it; within a kind, plan order is kept (Array.prototype.sort is stable).
  const writes = [...plan.create, ...plan.update].sort((a, b) => kindOrder(a.kind) - kindOrder(b.kind));
  for (const e of writes) {
    if (!e.desired) throw new Error(`plan entry ${e.key} (${e.action}) has no desired object`);
    if (e.action === 'create') ops.push({ op: 'create', object: e.desired });
    else ops.push({ op: 'update', object: mergeForUpdate(e.desired, liveOf(e)) });
  }
  for (const e of plan.prune) {
    const live = liveOf(e);
    ops.push({
      op: 'delete',
      ref: { kind: e.kind, namespace: e.namespace, name: e.name },
      resourceVersion: live.metadata.resourceVersion,
    });
  }
  return ops;
}

function kindOrder(kind: string): number {
  return kindInfo(kind)?.order ?? 100;
}

/**
 * Applies the plan in one store transaction. A conflict (someone changed an object since the
 * plan was made) fails the whole transaction; the caller re-plans and tries again.
 */
export async function applyPlan(store: Store, plan: Plan, opts: { origin: WriteOrigin }): Promise<ApplyResult> {
  const ops = planOps(plan);
  if (ops.length === 0) {
    return { revision: await store.revision(), created: 0, updated: 0, pruned: 0 };
  }
  const res = await store.txn(ops, { origin: opts.origin });
  return { revision: res.revision, created: plan.create.length, updated: plan.update.length, pruned: plan.prune.length };
}
