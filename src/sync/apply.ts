/**
 * Executes a Plan against the Store in one transaction: all of it lands or none.
 */
import type { Plan } from '../diff/types.js';
import type { Store, TxnOp, WriteOrigin } from '../store/types.js';
import { kindInfo } from '../model/kinds.js';
import { nowTimestamp } from '../store/common.js';
import { markedForDeletion } from '../store/finalizers.js';

/** What {@link applyPlan} did. */
export interface ApplyResult {
  /** Store revision after the transaction; unchanged when the plan was empty. */
  revision: number;
  created: number;
  updated: number;
  pruned: number;
}

/**
 * The transaction ops of a plan, in plan order (creates and updates, then prunes). An update
 * writes the plan's desired object as is: makePlan has already carried over what the server
 * owns on the live one (resourceVersion, status, assigned fields, controller annotations). A
 * prune of an object with finalizers marks it for deletion instead (see store/finalizers.ts).
 */
export function planOps(plan: Plan): TxnOp[] {
  const ops: TxnOp[] = [];
  // Creates and updates interleave in kind order so that a Namespace lands before what lives in
  // it; within a kind, plan order is kept (Array.prototype.sort is stable).
  const writes = [...plan.create, ...plan.update].sort((a, b) => kindOrder(a.kind) - kindOrder(b.kind));
  for (const e of writes) {
    if (!e.desired) throw new Error(`plan entry ${e.key} (${e.action}) has no desired object`);
    ops.push({ op: e.action === 'create' ? 'create' : 'update', object: e.desired });
  }
  const now = nowTimestamp();
  for (const e of plan.prune) {
    if (!e.live) throw new Error(`plan entry ${e.key} (${e.action}) has no live object`);
    if (e.live.metadata.finalizers?.length) {
      // As the API server deletes it: marked, and gone once whoever holds a finalizer lets go
      // (a claim a pod still uses waits for the pod).
      ops.push({ op: 'update', object: markedForDeletion(e.live, now) });
      continue;
    }
    ops.push({
      op: 'delete',
      ref: { kind: e.kind, namespace: e.namespace, name: e.name },
      resourceVersion: e.live.metadata.resourceVersion,
    });
  }
  return ops;
}

function kindOrder(kind: string): number {
  return kindInfo(kind)?.order ?? 100;
}

/**
 * Applies the plan in one store transaction, with `extraOps` (admission's own writes) after it.
 * A conflict (someone changed an object since the plan was made) fails the whole transaction;
 * the caller re-plans and tries again.
 */
export async function applyPlan(store: Store, plan: Plan, opts: { origin: WriteOrigin; extraOps?: readonly TxnOp[] }): Promise<ApplyResult> {
  // Admission's writes (quota usage the revision charges) ride in the same transaction, last.
  const ops = [...planOps(plan), ...(opts.extraOps ?? [])];
  if (ops.length === 0) {
    return { revision: await store.revision(), created: 0, updated: 0, pruned: 0 };
  }
  const res = await store.txn(ops, { origin: opts.origin });
  return { revision: res.revision, created: plan.create.length, updated: plan.update.length, pruned: plan.prune.length };
}
