/**
 * The built-in PriorityClasses every Kubernetes cluster has, `system-cluster-critical` and
 * `system-node-critical` (src/model/priority.ts): made when missing, so `kubectl get
 * priorityclasses` lists them and pods may name them. A repo may declare them too (with their
 * values); then the repo's object stands.
 */
import { isGantryError } from '../errors.js';
import { objectKey, parseKey } from '../model/keys.js';
import { BUILTIN_PRIORITY_CLASSES } from '../model/priority.js';
import type { PriorityClass } from '../model/types.js';
import { copy } from './objects.js';
import type { Controller, ReconcileContext, Watch } from './runtime.js';

const builtin = new Map<string, PriorityClass>(BUILTIN_PRIORITY_CLASSES.map((c) => [objectKey(c), c]));

/** Keeps the built-in PriorityClasses. */
export class PriorityClassBootstrapController implements Controller {
  readonly name = 'priorityclass-bootstrap';
  readonly kinds = [] as const;
  readonly watches: readonly Watch[] = [{ kind: 'PriorityClass', keys: (ev) => (ev.type === 'DELETED' && builtin.has(objectKey(ev.object)) ? [objectKey(ev.object)] : []) }];

  initialKeys(): Iterable<string> {
    return builtin.keys();
  }

  resyncKeys(): Iterable<string> {
    return builtin.keys();
  }

  async reconcile(key: string, ctx: ReconcileContext): Promise<void> {
    const want = builtin.get(key);
    if (!want || ctx.cache.get(parseKey(key))) return;
    try {
      await ctx.store.create(copy(want), { origin: { ...ctx.origin, reason: `built-in PriorityClass ${want.metadata.name}` } });
    } catch (err) {
      if (!isGantryError(err, 'AlreadyExists')) throw err;
    }
  }
}
