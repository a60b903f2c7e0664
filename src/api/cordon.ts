/**
 * Cordon and uncordon through the Kubernetes API: `PATCH /api/v1/nodes/NAME` whose only change
 * is `spec.unschedulable`, what `kubectl cordon` / `uncordon` / `drain` send (a strategic merge
 * patch `{"spec":{"unschedulable":true}}`, and `null` to uncordon); merge and JSON patches that
 * do the same are accepted too. Nodes are written by their agents, so any other change is
 * refused with 422 naming the field; a cordon is the one thing an operator sets on a Node.
 *
 * The patch is applied to the Node as stored and written with its resourceVersion; an agent's
 * heartbeat landing in between is a Conflict, and the patch is applied again to the new Node
 * (unless the patch itself named a resourceVersion: then the client sees the 409).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isGantryError } from '../errors.js';
import { deepEqual } from '../model/json.js';
import type { Node } from '../model/types.js';
import type { Store } from '../store/types.js';
import { isDryRun } from './dryrun.js';
import { sendStatus } from './kube.js';
import { patchMetaFor } from './openapi.js';
import { PATCH_TYPES, PatchError, jsonPatch, mergePatch, strategicMergePatch } from '../model/patch.js';

/** How often a cordon is re-applied to a Node that changed under it. */
const ATTEMPTS = 5;

type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Applies a patch of `contentType` to a node; a PatchError when malformed. */
function applyPatch(node: Node, contentType: string, patch: unknown): unknown {
  if (contentType === PATCH_TYPES.strategic) return strategicMergePatch(node, patch, patchMetaFor('Node'));
  if (contentType === PATCH_TYPES.merge) return mergePatch(node, patch);
  if (contentType === PATCH_TYPES.json) return jsonPatch(node, patch);
  throw new PatchError(`a Node is patched with ${PATCH_TYPES.strategic}, ${PATCH_TYPES.merge} or ${PATCH_TYPES.json}, not ${contentType || 'no content type'}`);
}

/**
 * The node `patched` says, if it differs from `node` in spec.unschedulable alone; else the
 * first field it changes beside it. `false` is stored as absent, as Kubernetes omits it.
 */
export function cordonChange(node: Node, patched: unknown): { node: Node } | { field: string } {
  if (!isRec(patched)) return { field: '(root)' };
  const next = structuredClone(patched) as unknown as Node;
  const spec = isRec(next.spec) ? next.spec : {};
  const wanted = spec.unschedulable === true;
  const a: Rec = { ...(patched as Rec), metadata: { ...(isRec(patched.metadata) ? patched.metadata : {}) }, spec: { ...spec } };
  const b: Rec = { ...(node as unknown as Rec), metadata: { ...node.metadata }, spec: { ...(node.spec ?? {}) } };
  for (const o of [a, b]) {
    delete (o.spec as Rec).unschedulable;
    // A resourceVersion in the patch is a precondition, checked by the store, not a change.
    delete (o.metadata as Rec).resourceVersion;
  }
  for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (key === 'spec' || key === 'metadata') {
      const x = a[key] as Rec;
      const y = b[key] as Rec;
      for (const k of new Set([...Object.keys(x), ...Object.keys(y)])) if (!deepEqual(x[k], y[k])) return { field: `${key}.${k}` };
    } else if (!deepEqual(a[key], b[key])) return { field: key };
  }
  const out = structuredClone(node);
  out.spec = { ...(node.spec ?? {}) };
  if (wanted) out.spec.unschedulable = true;
  else delete out.spec.unschedulable;
  const rv = isRec(patched.metadata) ? patched.metadata.resourceVersion : undefined;
  if (typeof rv === 'string' && rv) out.metadata.resourceVersion = rv;
  return { node: out };
}

/** Adds `PATCH /api/v1/nodes/:name` to `app` (inside the Kubernetes routes' scope). */
export function registerCordonRoute(app: FastifyInstance, opts: { store: Store }): void {
  const { store } = opts;
  app.patch<{ Params: { name: string } }>('/api/v1/nodes/:name', async (req: FastifyRequest<{ Params: { name: string } }>, reply: FastifyReply) => {
    const { name } = req.params;
    const contentType = String(req.headers['content-type'] ?? '').split(';')[0]!.trim();
    let patch: unknown;
    try {
      patch = typeof req.body === 'string' ? JSON.parse(req.body) : req.body;
    } catch (err) {
      return sendStatus(reply, 400, 'BadRequest', `the patch is not JSON: ${(err as Error).message}`);
    }
    const actor = `api/${req.identity?.name ?? 'anonymous'}`;
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const node = await store.get<Node>({ kind: 'Node', name });
      if (!node) return sendStatus(reply, 404, 'NotFound', `nodes "${name}" not found`, { name, kind: 'nodes' });
      let patched: unknown;
      try {
        patched = applyPatch(node, contentType, patch);
      } catch (err) {
        if (err instanceof PatchError) return sendStatus(reply, 400, 'BadRequest', err.message);
        throw err;
      }
      const change = cordonChange(node, patched);
      if ('field' in change) {
        return sendStatus(reply, 422, 'Invalid', `Node "${name}" is invalid: ${change.field}: Forbidden: gantry's node agents write their Nodes; through the API only spec.unschedulable (cordon, uncordon) may change`, {
          name, kind: 'nodes', causes: [{ reason: 'FieldValueForbidden', message: 'only spec.unschedulable may change', field: change.field }],
        });
      }
      const pinned = change.node.metadata.resourceVersion !== node.metadata.resourceVersion;
      if (isDryRun(req.query, undefined) || deepEqual(change.node, node)) return change.node;
      try {
        const cordoned = change.node.spec.unschedulable === true;
        return await store.update(change.node, { origin: { actor, reason: cordoned ? `node ${name} cordoned` : `node ${name} uncordoned` } });
      } catch (err) {
        if (!isGantryError(err, 'Conflict')) throw err;
        if (pinned) return sendStatus(reply, 409, 'Conflict', `Operation cannot be fulfilled on nodes "${name}": the object has been modified; please apply your changes to the latest version and try again`, { name, kind: 'nodes' });
      }
    }
    return sendStatus(reply, 409, 'Conflict', `Operation cannot be fulfilled on nodes "${name}": it kept changing under ${ATTEMPTS} attempts; try again`, { name, kind: 'nodes' });
  });
}
