/**
 * gantry's HTTP API (fastify): read and watch objects, sync status and history, the push
 * webhook, health and metrics, and the Kubernetes read API kubectl uses (./kube.ts).
 *
 * fastify was chosen over node:http for its routing, schema-free JSON handling and hooks, and
 * over express for its speed and first-class TypeScript types.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Recorder } from '../audit/types.js';
import { DIGEST_KEY_KIND } from '../audit/digest-key.js';
import { errorMessage, GantryError, isGantryError } from '../errors.js';
import { resolveKind } from '../model/kinds.js';
import { parseKey } from '../model/keys.js';
import type { PodPorts } from '../node/portforward.js';
import type { PodStreams } from '../node/streams.js';
import type { Store } from '../store/types.js';
import type { SyncTrigger } from '../cluster/sync-requests.js';
import { setSuspended } from '../sync/suspend.js';
import { parsePushEvent, verifyWebhook } from '../sync/webhook.js';
import { installGuard, type TokenFile } from './auth/index.js';
import { redactObject, isSecretKind } from '../diff/redact.js';
import type { Source } from '../sync/types.js';
import type { Decryption } from '../sync/sops/decryptor.js';
import { dashboardApi } from './dashboard.js';
import { RbacCache } from './auth/rbac-cache.js';
import type { ServiceAccountTokens } from './auth/sa-tokens.js';
import { accessReviewApi, REVIEW_GROUPS } from './access-review.js';
import { tokenRequestApi } from './token-request.js';
import { kubeApi } from './kube.js';
import { planApi } from './plan.js';
import { nodeAgentApi } from './node-agent.js';
import { portForwardApi } from './portforward.js';
import { podStreamsApi } from './streams.js';
import { KubeletProxy } from './kubelet/relay.js';
import type { KubeletPki } from './kubelet/pki.js';
import type { Node } from '../model/types.js';
import { Metrics } from '../metrics/index.js';
import { DebugRequestLog } from './request-log.js';
import { installRequestMetrics } from './request-metrics.js';
import { METRICS_GROUP_VERSION, resourceMetricsApi } from './resource-metrics.js';
import type { ResourceMetricsReader, UsageSink } from '../model/metrics.js';
import { readAppHealth, readAppState } from '../health/read.js';

/** Options for {@link createApiServer}. */
export interface ApiServerOptions {
  store: Store;
  logger: Logger;
  /** Runs a pass on demand: the sync loop, or on a standby server a stand-in that asks the leader. */
  sync?: SyncTrigger;
  /** The audit trail; a function when it comes and goes (a server keeps it only while it leads). */
  recorder?: Recorder | (() => Recorder | undefined);
  /** Who leads the control plane, for the status route (servers on etcd). */
  controlPlane?: () => Promise<ControlPlaneStatus>;
  /** Shared secret for push webhooks; without it the webhook refuses every request. */
  webhookSecret?: string;
  /** The branch the sync loop follows; pushes to other branches are acknowledged and ignored. */
  branch?: string;
  metrics?: Metrics;
  /** The repo gantry follows, as shown to users (named when a Kubernetes write is refused). */
  repo?: string;
  /**
   * Bearer tokens every route but `/healthz` and the webhook requires. `gantry up` always
   * passes them; a server built without them (unit tests) serves anyone.
   */
  tokens?: TokenFile;
  /** Serve HTTPS with this serving certificate and key (PEM). */
  tls?: { cert: string; key: string };
  /** The local node's pod streams, for `kubectl logs` and `kubectl exec` of its pods. */
  streams?: PodStreams;
  /** The local node's pod ports, for `kubectl port-forward` to its pods. */
  portForward?: PodPorts;
  /**
   * The kubelet PKI: with it the server signs its agents' serving certificates and relays logs,
   * exec and port-forward of pods on other nodes to their agents. Without it (and without the
   * local node's streams and ports) those answer 503.
   */
  kubelet?: KubeletPki;
  /** The source the sync loop follows, for the plan route; without it that answers 404. */
  source?: Source;
  /** Decrypts SOPS-encrypted Secrets for the plan route, as the sync loop does. */
  decryptor?: Decryption;
  /** The web dashboard's built files; without them `/dashboard/` answers 503 saying how to build it. */
  dashboardDir?: string;
  /**
   * Service-account tokens: with them (and `tokens`) the API accepts pods' tokens and authorizes
   * them by RBAC, issues tokens (TokenRequest, and for remote agents' pods) and publishes its key.
   */
  serviceAccounts?: ServiceAccountTokens;
  /**
   * The control plane's memory of resource usage: the agents' reports go there, and the
   * metrics.k8s.io API (`kubectl top`) serves it. Without it neither is served.
   */
  usage?: UsageSink & ResourceMetricsReader;
}

/** The control plane as one server sees it. */
export interface ControlPlaneStatus {
  /** This server. */
  identity: string;
  /** Whether this server leads (runs sync, controllers, scheduler, audit). */
  leading: boolean;
  /** The leader's identity, as etcd sees it (absent while no server leads). */
  leader?: string;
}

/** Where gantry's own routes live: a group of its own, out of Kubernetes' path space. */
export const GANTRY_API = '/apis/gantry.dev/v1';
/** The push webhook's path. */
export const WEBHOOK_PATH = `${GANTRY_API}/webhook`;

/** Builds the server; the caller listens. */
export function createApiServer(opts: ApiServerOptions) {
  const { store, logger } = opts;
  const metrics = opts.metrics ?? new Metrics();
  // Watches and followed logs stay open until the client goes: on close, end them rather than wait.
  // Per-request lines at debug (./request-log.ts): the request metrics count every request.
  const base = { loggerInstance: logger.child({ component: 'api' }), logController: new DebugRequestLog(), bodyLimit: 5 * 2 ** 20, forceCloseConnections: true };
  // One type for both: fastify's https overload only differs in the raw server it hands out.
  const app = (opts.tls ? Fastify({ ...base, https: { cert: opts.tls.cert, key: opts.tls.key } }) : Fastify(base)) as unknown as FastifyInstance;
  installRequestMetrics(app, metrics.api);
  // RBAC objects in memory for the authorizer, listed before the server takes requests.
  const rbac = opts.serviceAccounts ? new RbacCache(store, { log: logger.child({ component: 'rbac' }) }) : undefined;
  if (rbac) {
    const stopRbac = new AbortController();
    app.addHook('onReady', async () => rbac.start(stopRbac.signal));
    app.addHook('onClose', async () => stopRbac.abort());
  }
  if (opts.tokens) installGuard(app, opts.tokens, rbac && opts.serviceAccounts ? { serviceAccounts: { tokens: opts.serviceAccounts, rbac } } : {});

  app.setErrorHandler((err, _req, reply) => {
    if (isGantryError(err)) {
      const status = err.code === 'NotFound' ? 404 : err.code === 'Conflict' ? 409 : err.code === 'InvalidArgument' ? 400 : 500;
      return reply.code(status).send({ code: err.code, message: err.message });
    }
    const e = err as { statusCode?: number; message?: string };
    return reply.code(e.statusCode ?? 500).send({ code: 'Internal', message: e.message ?? String(err) });
  });

  app.get('/healthz', async () => ({ ok: true }));
  void app.register(kubeApi({ store, repo: opts.repo, extraGroups: [...REVIEW_GROUPS, ...(opts.usage ? [{ groupVersion: METRICS_GROUP_VERSION }] : [])] }));
  if (opts.usage) void app.register(resourceMetricsApi({ store, metrics: opts.usage }));
  void app.register(accessReviewApi({ ...(rbac ? { rbac } : {}) }));
  if (opts.serviceAccounts) void app.register(tokenRequestApi({ store, tokens: opts.serviceAccounts }));
  // What `gantry agent` on other machines calls; agent tokens reach only their own node's routes.
  void app.register(nodeAgentApi({ store, logger: logger.child({ component: 'node-api' }), ...(opts.serviceAccounts ? { tokens: opts.serviceAccounts } : {}), ...(opts.kubelet ? { kubelet: opts.kubelet } : {}), ...(opts.usage ? { usage: opts.usage } : {}) }));
  // Pods on other nodes: their agents' kubelet endpoints, after this server's own checks.
  const kubelets = opts.kubelet ? new KubeletProxy({ getNode: (name) => store.get<Node>({ kind: 'Node', name }), credentials: opts.kubelet.client }) : undefined;
  if (kubelets) app.addHook('preClose', async () => kubelets.closeAll());
  void app.register(podStreamsApi({ store, streams: opts.streams, ...(kubelets ? { kubelets } : {}) }));
  void app.register(portForwardApi({ store, ports: opts.portForward, ...(kubelets ? { kubelets } : {}) }));
  void app.register(planApi({ store, source: opts.source, ...(opts.decryptor ? { decryptor: opts.decryptor } : {}) }));
  void app.register(dashboardApi({ dir: opts.dashboardDir }));

  app.get('/metrics', async (_req, reply) => {
    reply.type(metrics.contentType);
    return metrics.render();
  });

  app.get(`${GANTRY_API}/status`, async () => {
    const { sync, health } = await readAppState(store);
    return {
      sync: sync ?? null,
      revision: await store.revision(),
      app: { sync: health.sync, health: health.health, counts: health.counts },
      namespaces: health.namespaces,
      ...(opts.controlPlane ? { controlPlane: await opts.controlPlane() } : {}),
    };
  });

  // Sync and health of the app and of every object it declares (?namespace= for one namespace).
  app.get<{ Querystring: { namespace?: string } }>(`${GANTRY_API}/health`, async (req) => {
    const health = await readAppHealth(store);
    const ns = req.query.namespace;
    if (ns === undefined) return health;
    const group = health.namespaces[ns];
    if (!group) throw new GantryError('NotFound', `namespace ${ns} has no objects the repo declares`);
    return { ...group, namespace: ns, objects: health.objects.filter((o) => o.namespace === ns) };
  });
  const healthOf = async (kind: string, name: string, namespace: string | undefined) => {
    const info = resolveKind(kind);
    if (!info) throw new GantryError('InvalidArgument', `unknown kind "${kind}"`);
    const health = await readAppHealth(store);
    const key = namespace && info.namespaced ? `${info.kind}/${namespace}/${name}` : `${info.kind}/${name}`;
    const found = health.objects.find((o) => o.key === key);
    if (!found) throw new GantryError('NotFound', `${info.kind} ${namespace && info.namespaced ? `${namespace}/` : ''}${name} is not an object the repo declares`);
    return found;
  };
  app.get<{ Params: { kind: string; name: string } }>(`${GANTRY_API}/health/:kind/:name`, async (req) => healthOf(req.params.kind, req.params.name, undefined));
  app.get<{ Params: { kind: string; namespace: string; name: string } }>(`${GANTRY_API}/health/:kind/:namespace/:name`, async (req) =>
    healthOf(req.params.kind, req.params.name, req.params.namespace));

  // `redact=true` (what the dashboard asks for): Secret values come as `(hidden)`, keys kept.
  app.get<{ Params: { kind: string }; Querystring: { namespace?: string; labelSelector?: string; redact?: string } }>(
    `${GANTRY_API}/objects/:kind`,
    async (req) => {
      const kind = kindOrThrow(req.params.kind);
      const list = await store.list(kind, { namespace: req.query.namespace, labelSelector: req.query.labelSelector });
      return boolParam('redact', req.query.redact) ? { ...list, items: list.items.map(redactObject) } : list;
    },
  );

  const getOne = async (kind: string, name: string, namespace: string | undefined, redact: string | undefined, reply: { code(n: number): unknown }) => {
    const hide = boolParam('redact', redact);
    const obj = await store.get({ kind: kindOrThrow(kind), namespace, name });
    if (!obj) {
      reply.code(404);
      return { code: 'NotFound', message: `${kind} ${namespace ? `${namespace}/` : ''}${name} not found` };
    }
    return hide ? redactObject(obj) : obj;
  };
  app.get<{ Params: { kind: string; name: string }; Querystring: { redact?: string } }>(`${GANTRY_API}/objects/:kind/:name`, async (req, reply) =>
    getOne(req.params.kind, req.params.name, undefined, req.query.redact, reply));
  app.get<{ Params: { kind: string; namespace: string; name: string }; Querystring: { redact?: string } }>(`${GANTRY_API}/objects/:kind/:namespace/:name`, async (req, reply) =>
    getOne(req.params.kind, req.params.name, req.params.namespace, req.query.redact, reply));

  // Watch as newline-delimited JSON; ends when the client goes away.
  app.get<{ Querystring: { fromRevision?: string; kinds?: string; redact?: string } }>(`${GANTRY_API}/watch`, async (req, reply) => {
    const ac = new AbortController();
    req.raw.on('close', () => ac.abort());
    const fromRevision = intParam('fromRevision', req.query.fromRevision);
    const kinds = req.query.kinds?.split(',').map(kindOrThrow);
    const redact = boolParam('redact', req.query.redact);
    reply.raw.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-cache' });
    try {
      // A read-only token watching every kind sees no Secrets (asking for them by kind is refused).
      const hidden = req.identity?.role === 'read-only' ? 'Secret' : undefined;
      for await (const ev of store.watch({ fromRevision, kinds, signal: ac.signal })) {
        if (ev.object.kind === hidden || ev.object.kind === DIGEST_KEY_KIND) continue;
        const out = redact && isSecretKind(ev.object.kind)
          ? { ...ev, object: redactObject(ev.object), ...(ev.prevObject ? { prevObject: redactObject(ev.prevObject) } : {}) }
          : ev;
        reply.raw.write(`${JSON.stringify(out)}\n`);
      }
    } catch (err) {
      if (!ac.signal.aborted) reply.raw.write(`${JSON.stringify({ type: 'ERROR', message: errorMessage(err) })}\n`);
    }
    reply.raw.end();
    return reply;
  });

  /** The recorder, or the answer to send when this server keeps none (a standby, or no audit). */
  const recorderOr = async (reply: { code(n: number): unknown }): Promise<{ recorder: Recorder } | { answer: { code: string; message: string } }> => {
    const recorder = typeof opts.recorder === 'function' ? opts.recorder() : opts.recorder;
    if (recorder) return { recorder };
    if (opts.controlPlane) {
      const cp = await opts.controlPlane();
      reply.code(503);
      return { answer: { code: 'ApiUnavailable', message: `this server (${cp.identity}) is a standby and keeps no audit history; ask the leader${cp.leader ? ` (${cp.leader})` : ''}, or read the pushed status branch` } };
    }
    reply.code(404);
    return { answer: { code: 'NotFound', message: 'this server keeps no audit history' } };
  };

  // Who set each field of an object: the live object's fields, attributed from the history.
  app.get<{ Querystring: { object?: string } }>(`${GANTRY_API}/blame`, async (req, reply) => {
    const found = await recorderOr(reply);
    if ('answer' in found) return found.answer;
    const object = req.query.object ?? '';
    let ref;
    try {
      ref = parseKey(object);
    } catch {
      throw new GantryError('InvalidArgument', `query parameter object: "${object}" is not Kind/namespace/name or Kind/name`, { field: 'object' });
    }
    const live = await store.get({ ...ref, kind: kindOrThrow(ref.kind) });
    return found.recorder.blame(object, live ? { live } : {});
  });

  // `diff=true`: each entry about an object carries the object's recorded file before and after.
  app.get<{ Querystring: { object?: string; since?: string; limit?: string; diff?: string } }>(`${GANTRY_API}/history`, async (req, reply) => {
    const found = await recorderOr(reply);
    if ('answer' in found) return found.answer;
    const recorder = found.recorder;
    const withDiff = boolParam('diff', req.query.diff);
    const entries = await recorder.history({
      object: req.query.object,
      since: dateParam('since', req.query.since),
      limit: intParam('limit', req.query.limit),
    });
    if (!withDiff) return entries;
    const changes = await recorder.objectChanges(entries);
    return entries.map((e, i) => ({ ...e, ...changes[i] }));
  });

  // A manual sync (`gantry sync --now`): `{"force": true}` passes the sync windows that allow manual syncs.
  app.post<{ Body: { force?: unknown } | undefined }>(`${GANTRY_API}/sync`, async (req, reply) => {
    if (!opts.sync) {
      reply.code(404);
      return { code: 'NotFound', message: 'this server runs no sync loop' };
    }
    const force = req.body && typeof req.body === 'object' ? req.body.force === true : false;
    const outcome = await opts.sync.trigger('api', { manual: true, force });
    return { outcome: outcome.outcome, revision: outcome.revision?.commit, issues: outcome.issues, error: outcome.error, message: outcome.message, until: outcome.until };
  });

  // Suspend and resume: kept in the Sync object, so every server and every restart sees them.
  for (const action of ['suspend', 'resume'] as const) {
    app.post(`${GANTRY_API}/${action}`, async (req) => {
      const by = `api/${req.identity?.name ?? 'anonymous'}`;
      const sync = await setSuspended(store, action === 'suspend', by);
      logger.info({ by }, action === 'suspend' ? 'sync suspended' : 'sync resumed');
      // What waited is applied now, not at the next poll.
      if (action === 'resume' && opts.sync) void opts.sync.trigger('resume');
      return { suspended: sync.spec.suspend === true, by, ...(sync.spec.suspendedAt ? { at: sync.spec.suspendedAt } : {}) };
    });
  }

  // The webhook needs the raw body to check GitHub's HMAC, so it parses bodies itself.
  app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    scope.post(WEBHOOK_PATH, async (req, reply) => {
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const log = logger.child({ component: 'webhook', remote: req.ip });
      if (!opts.webhookSecret) {
        log.warn('webhook refused: no webhook secret is configured (--webhook-secret / GANTRY_WEBHOOK_SECRET)');
        metrics.api.webhookRequest('refused');
        return reply.code(401).send({ code: 'AuthFailed', message: 'webhook secret not configured on this server' });
      }
      const verdict = verifyWebhook({ headers: req.headers, body }, opts.webhookSecret);
      if (!verdict.ok) {
        log.warn({ reason: verdict.reason }, 'webhook refused');
        metrics.api.webhookRequest('refused');
        return reply.code(401).send({ code: 'AuthFailed', message: verdict.reason });
      }
      if (verdict.event === 'ping') {
        metrics.api.webhookRequest('ping');
        return reply.code(200).send({ ok: true, message: 'pong' });
      }
      const push = parsePushEvent(verdict.provider, body);
      if (opts.branch && push?.branch && push.branch !== opts.branch) {
        log.info({ branch: push.branch }, 'push to another branch ignored');
        metrics.api.webhookRequest('ignored');
        return reply.code(202).send({ ok: true, message: `push to ${push.branch} ignored: following ${opts.branch}` });
      }
      metrics.api.webhookRequest('accepted');
      log.info({ branch: push?.branch, after: push?.after }, 'push received; syncing');
      if (opts.sync) void opts.sync.trigger('webhook');
      return reply.code(202).send({ ok: true, message: 'sync triggered' });
    });
  });

  return app;
}

function kindOrThrow(text: string): string {
  const info = resolveKind(text);
  if (!info) throw new GantryError('InvalidArgument', `unknown kind "${text}"`, { field: 'kind' });
  return info.kind;
}

/** A non-negative integer query parameter; a malformed one is the client's error, not NaN passed on. */
function intParam(name: string, text: string | undefined): number | undefined {
  if (text === undefined || text === '') return undefined;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new GantryError('InvalidArgument', `query parameter ${name}: "${text}" is not a non-negative integer`, { field: name });
  }
  return n;
}

/** A boolean query parameter: `true`/`1` or `false`/`0`/absent; anything else is the client's error. */
function boolParam(name: string, text: string | undefined): boolean {
  if (text === undefined || text === '' || text === 'false' || text === '0') return false;
  if (text === 'true' || text === '1') return true;
  throw new GantryError('InvalidArgument', `query parameter ${name}: "${text}" is not true or false`, { field: name });
}

/** A date query parameter (anything Date parses, e.g. ISO 8601). */
function dateParam(name: string, text: string | undefined): Date | undefined {
  if (text === undefined || text === '') return undefined;
  const d = new Date(text);
  if (Number.isNaN(d.getTime())) throw new GantryError('InvalidArgument', `query parameter ${name}: "${text}" is not a date`, { field: name });
  return d;
}

/** A second address the API answers on. */
export interface ExtraListener {
  /** host:port it listens on. */
  address: { host: string; port: number };
  close(): Promise<void>;
}

/**
 * Serves `app` on one more address (the pod bridge's, for pods on this node): a server of the
 * same kind handing every request and upgrade (exec, port-forward) to the API's own, so routes,
 * the guard and TLS are the same. Port 0 picks a free one.
 */
export async function listenAlso(app: FastifyInstance, opts: { host: string; port: number; tls?: { cert: string; key: string } }): Promise<ExtraListener> {
  const { createServer: createHttps } = await import('node:https');
  const { createServer: createHttp } = await import('node:http');
  const main = app.server;
  const server = opts.tls ? createHttps({ cert: opts.tls.cert, key: opts.tls.key }) : createHttp();
  server.on('request', (req, res) => main.emit('request', req, res));
  server.on('upgrade', (req, socket, head) => main.emit('upgrade', req, socket, head));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as { address: string; port: number };
  return {
    address: { host: addr.address, port: addr.port },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
