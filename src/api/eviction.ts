/**
 * The Eviction API: `POST /api/v1/namespaces/NS/pods/NAME/eviction` with a policy/v1 Eviction,
 * what `kubectl drain` and `gantry drain` send. The pod is deleted gracefully (as a delete
 * would: its node stops it within its grace period, or the Eviction's
 * `deleteOptions.gracePeriodSeconds`) when the PodDisruptionBudget that selects it allows a
 * disruption (src/model/disruption.ts {@link evictionVerdict}); otherwise the answer is
 * `429 TooManyRequests` with Kubernetes' message and a `DisruptionBudget` cause naming the budget.
 *
 * An allowed eviction takes its disruption before the pod is deleted: the budget's
 * disruptionsAllowed is decremented and the pod recorded in `status.disruptedPods`, written with
 * the resourceVersion just read. Two evictions racing for the last disruption cannot both
 * pass: the second write conflicts, re-reads the budget, finds none left and is refused.
 *
 * Answers as the API server does: `201` with a Success Status, 404 for a pod that is not there,
 * 400 for a body that is not an Eviction of this pod. `?dryRun=All` (or `deleteOptions.dryRun`)
 * decides without writing.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isGantryError } from '../errors.js';
import { deletePod } from '../controllers/pods.js';
import { budgetSelects, evictionVerdict, takeDisruption } from '../model/disruption.js';
import type { Pod, PodDisruptionBudget } from '../model/types.js';
import type { Store, WriteOrigin } from '../store/types.js';
import { isDryRun } from './dryrun.js';
import { sendStatus } from './kube.js';

/** The Eviction path, under `/api/v1`. */
export const EVICTION_PATH = '/api/v1/namespaces/:namespace/pods/:name/eviction';

/** How often an eviction re-reads a budget that changed under it before giving up. */
const ATTEMPTS = 5;

type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The parts of an Eviction body gantry reads. */
interface EvictionRequest {
  gracePeriodSeconds?: number;
  dryRun: boolean;
}

/** Reads the body: an Eviction (kind and apiVersion optional) naming this pod, if it names one. */
function parseEviction(body: unknown, name: string, namespace: string, query: unknown): EvictionRequest | string {
  if (body !== undefined && body !== null && !isRec(body)) return 'the body must be a policy/v1 Eviction object';
  const b = isRec(body) ? body : {};
  if (b.kind !== undefined && b.kind !== 'Eviction') return `kind: must be Eviction, not ${JSON.stringify(b.kind)}`;
  const meta = isRec(b.metadata) ? b.metadata : {};
  if (meta.name !== undefined && meta.name !== name) return `metadata.name: "${String(meta.name)}" does not match the pod "${name}" in the path`;
  if (meta.namespace !== undefined && meta.namespace !== '' && meta.namespace !== namespace) return `metadata.namespace: "${String(meta.namespace)}" does not match the namespace "${namespace}" in the path`;
  const opts = isRec(b.deleteOptions) ? b.deleteOptions : {};
  const grace = opts.gracePeriodSeconds;
  if (grace !== undefined && grace !== null && (typeof grace !== 'number' || !Number.isInteger(grace) || grace < 0)) {
    return `deleteOptions.gracePeriodSeconds: ${JSON.stringify(grace)} is not a non-negative integer`;
  }
  return { ...(typeof grace === 'number' ? { gracePeriodSeconds: grace } : {}), dryRun: isDryRun(query, opts) };
}

/** Options of {@link registerEvictionRoute}. */
export interface EvictionOptions {
  store: Store;
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number;
}

/** Adds the Eviction route to `app` (inside the Kubernetes routes' scope). */
export function registerEvictionRoute(app: FastifyInstance, opts: EvictionOptions): void {
  const { store } = opts;
  const now = opts.now ?? Date.now;
  app.post<{ Params: { namespace: string; name: string } }>(EVICTION_PATH, async (req: FastifyRequest<{ Params: { namespace: string; name: string } }>, reply: FastifyReply) => {
    const { namespace, name } = req.params;
    const parsed = parseEviction(req.body, name, namespace, req.query);
    if (typeof parsed === 'string') return sendStatus(reply, 400, 'BadRequest', `Eviction of pod ${namespace}/${name}: ${parsed}`);
    const origin: WriteOrigin = { actor: `api/${req.identity?.name ?? 'anonymous'}`, reason: `eviction of pod ${namespace}/${name}` };
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const pod = await store.get<Pod>({ kind: 'Pod', namespace, name });
      if (!pod) return sendStatus(reply, 404, 'NotFound', `pods "${name}" not found`, { name, kind: 'pods' });
      const budgets = (await store.list<PodDisruptionBudget>('PodDisruptionBudget', { namespace })).items.filter((b) => budgetSelects(b, pod));
      const verdict = evictionVerdict(pod, budgets);
      if (!verdict.allowed) {
        const details = { name, kind: 'pods', ...(verdict.cause ? { causes: [{ reason: 'DisruptionBudget', message: verdict.cause }] } : {}) };
        req.log.info({ pod: `${namespace}/${name}`, reason: verdict.cause ?? verdict.message }, 'eviction refused');
        return sendStatus(reply, verdict.code, verdict.reason, verdict.message, details);
      }
      if (parsed.dryRun) return success(reply);
      if (verdict.decrement) {
        try {
          await store.update(takeDisruption(verdict.decrement, { podName: name, now: now() }), { origin: { ...origin, reason: `eviction of pod ${namespace}/${name} takes a disruption of ${verdict.decrement.metadata.name}` } });
        } catch (err) {
          // The budget changed since it was read (another eviction, the controller): decide again.
          if (isGantryError(err, 'Conflict') || isGantryError(err, 'NotFound')) continue;
          throw err;
        }
      }
      const outcome = await deletePod(store, pod, { origin, now, ...(parsed.gracePeriodSeconds !== undefined ? { gracePeriodSeconds: parsed.gracePeriodSeconds } : {}) });
      if (outcome === 'gone') return sendStatus(reply, 404, 'NotFound', `pods "${name}" not found`, { name, kind: 'pods' });
      req.log.info({ pod: `${namespace}/${name}`, why: verdict.why }, 'pod evicted');
      return success(reply);
    }
    return sendStatus(reply, 429, 'TooManyRequests', `Cannot evict pod ${namespace}/${name}: its disruption budget kept changing under ${ATTEMPTS} attempts; try again`);
  });
}

/** The API server's answer to an eviction that went ahead. */
function success(reply: FastifyReply): FastifyReply {
  return reply.code(201).type('application/json').send({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 });
}
