/**
 * Sync requests across control-plane servers. Of several `gantry server` processes on one etcd
 * only the leader runs the sync loop, but a push webhook or `POST …/sync` may reach any of them
 * (a load balancer in front, or a webhook pointing at one address). A standby passes the request
 * on through the store: it writes a request annotation on the Sync object, the leader's
 * {@link serveSyncRequests} sees it in its watch, runs a pass and writes the outcome back in a
 * second annotation, which the standby waits for. The store is the one channel every server
 * already shares and trusts, so no server needs to know another's address.
 *
 * The Sync object is not recorded in the audit trail one change at a time, so these writes add no
 * commits.
 */
import { randomUUID } from 'node:crypto';
import { errorMessage, GantryError, isGantryError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/types.js';
import { newSyncObject, SYNC_NAME, type SyncObject } from '../sync/status.js';
import type { SyncOutcome } from '../sync/loop.js';
import type { PassRequest } from '../sync/gate.js';

/** Annotation a standby writes: `<id> <reason>`. */
export const SYNC_REQUEST = 'gantry.dev/sync-request';
/** Annotation a standby writes beside the request, holding its id, when the request is a forced manual sync. */
export const SYNC_REQUEST_FORCE = 'gantry.dev/sync-request-force';
/** Annotation the leader writes after the pass: JSON {@link HandledRequest}. */
export const SYNC_REQUEST_HANDLED = 'gantry.dev/sync-request-handled';

/** What a pass asked for from another server reports back. */
export interface HandledRequest {
  id: string;
  outcome: SyncOutcome['outcome'];
  revision?: string;
  error?: string;
  /** Why a held pass was held, and until when. */
  message?: string;
  until?: string;
  /** Who ran the pass. */
  by: string;
}

/** What can run a pass on demand: the leader's sync loop, or a standby passing requests on. */
export interface SyncTrigger {
  trigger(reason: string, request?: PassRequest): Promise<SyncOutcome>;
}

const SYNC_REF = { kind: 'Sync', name: SYNC_NAME } as const;

/** Options of {@link requestSync}. */
export interface RequestSyncOptions {
  reason: string;
  /** A manual sync (and forced past the windows that allow it). */
  request?: PassRequest;
  /** How long to wait for the leader's outcome; 0 returns once the request is written. Default 60 s. */
  waitMs?: number;
  signal?: AbortSignal;
}

/**
 * Asks the leader for a pass and (unless `waitMs` is 0) waits for its outcome. Throws
 * `ApiUnavailable` when no leader answers in time: no server leads, or the leader is cut off.
 */
export async function requestSync(store: Store, opts: RequestSyncOptions): Promise<HandledRequest | { id: string; outcome: 'requested' }> {
  const id = randomUUID();
  const from = await store.revision();
  const manual = opts.request?.manual ? 'manual ' : '';
  await annotateSync(store, { [SYNC_REQUEST]: `${id} ${manual}${opts.reason}`, [SYNC_REQUEST_FORCE]: opts.request?.force ? id : '' });
  const waitMs = opts.waitMs ?? 60_000;
  if (waitMs === 0) return { id, outcome: 'requested' };
  const done = new AbortController();
  const timer = setTimeout(() => done.abort(), waitMs);
  const stop = (): void => done.abort();
  opts.signal?.addEventListener('abort', stop, { once: true });
  try {
    for await (const ev of store.watch({ kinds: ['Sync'], fromRevision: from, signal: done.signal })) {
      const handled = parseHandled(ev.object.metadata.annotations?.[SYNC_REQUEST_HANDLED]);
      if (handled?.id === id) return handled;
    }
  } catch (err) {
    if (!done.signal.aborted) throw err;
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', stop);
  }
  opts.signal?.throwIfAborted();
  throw new GantryError('ApiUnavailable', `no control-plane leader ran the requested sync within ${Math.round(waitMs / 1000)} s: is a gantry server leading? (gantry status names the leader)`);
}

/** Options of {@link serveSyncRequests}. */
export interface ServeSyncRequestsOptions {
  store: Store;
  sync: SyncTrigger;
  /** This server, named in the outcome. */
  identity: string;
  logger: Logger;
  /** Ends with leadership. */
  signal: AbortSignal;
}

/**
 * The leader's side: runs a pass for every request written since it began leading (a request
 * written just before the takeover is served too: the watch starts at the Sync object's current
 * state), and writes each outcome back. Returns when the signal aborts.
 */
export async function serveSyncRequests(opts: ServeSyncRequestsOptions): Promise<void> {
  const { store, logger, signal } = opts;
  let from: number | undefined;
  const current = await store.get<SyncObject>(SYNC_REF).catch(() => undefined);
  if (current) await handle(current).catch(() => undefined);
  async function handle(obj: SyncObject): Promise<void> {
    const request = obj.metadata.annotations?.[SYNC_REQUEST];
    if (!request) return;
    const id = request.split(' ', 1)[0]!;
    if (parseHandled(obj.metadata.annotations?.[SYNC_REQUEST_HANDLED])?.id === id) return;
    const rest = request.slice(id.length + 1);
    const manual = rest.startsWith('manual ');
    const reason = (manual ? rest.slice('manual '.length) : rest) || 'request';
    const force = obj.metadata.annotations?.[SYNC_REQUEST_FORCE] === id;
    const outcome = await opts.sync.trigger(`${reason} via another server`, { manual, force });
    const handled: HandledRequest = {
      id,
      outcome: outcome.outcome,
      by: opts.identity,
      ...(outcome.revision ? { revision: outcome.revision.commit } : {}),
      ...(outcome.error ? { error: outcome.error } : {}),
      ...(outcome.message ? { message: outcome.message } : {}),
      ...(outcome.until ? { until: outcome.until } : {}),
    };
    await annotateSync(store, { [SYNC_REQUEST_HANDLED]: JSON.stringify(handled) });
  }
  while (!signal.aborted) {
    try {
      from ??= await store.revision();
      for await (const ev of store.watch({ kinds: ['Sync'], fromRevision: from, signal })) {
        from = ev.revision;
        if (ev.type !== 'DELETED') await handle(ev.object as SyncObject);
      }
    } catch (err) {
      if (signal.aborted) return;
      if (isGantryError(err, 'Conflict')) from = undefined;
      logger.warn({ err: errorMessage(err) }, 'serving sync requests failed; watching again');
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

/** A standby's stand-in for the sync loop: every trigger is passed to the leader. */
export class ForwardingSyncTrigger implements SyncTrigger {
  constructor(private readonly store: Store, private readonly waitMs = 60_000) {}

  async trigger(reason: string, request: PassRequest = {}): Promise<SyncOutcome> {
    try {
      const r = await requestSync(this.store, { reason, request, waitMs: this.waitMs });
      if (r.outcome === 'requested') return { outcome: 'unchanged' };
      return {
        outcome: r.outcome, ...(r.error ? { error: r.error } : {}), ...(r.revision ? { revision: { commit: r.revision, ref: r.revision } } : {}),
        ...(r.message ? { message: r.message } : {}), ...(r.until ? { until: r.until } : {}),
      };
    } catch (err) {
      return { outcome: 'failed', error: errorMessage(err) };
    }
  }
}

function parseHandled(value: string | undefined): HandledRequest | undefined {
  if (!value) return undefined;
  try {
    const v = JSON.parse(value) as HandledRequest;
    return typeof v.id === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Sets annotations on the Sync object (creating it when no pass ever ran), retrying conflicts. */
async function annotateSync(store: Store, annotations: Record<string, string>): Promise<void> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const current = await store.get<SyncObject>(SYNC_REF);
    const next: SyncObject = current ? structuredClone(current) : newSyncObject({ repo: '' });
    next.metadata.annotations = { ...next.metadata.annotations, ...annotations };
    try {
      if (current) await store.update(next, { origin: { actor: 'sync' } });
      else await store.create(next, { origin: { actor: 'sync' } });
      return;
    } catch (err) {
      if (isGantryError(err, 'Conflict') || isGantryError(err, 'AlreadyExists')) continue;
      throw err;
    }
  }
  throw new GantryError('Conflict', 'cannot write the sync request: the Sync object kept changing');
}
