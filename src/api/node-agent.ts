/**
 * The node agents' API: what `gantry agent` on another machine calls through {@link HttpNodeApi}
 * (src/node/http-api.ts), under `/apis/gantry.dev/v1/nodes/<node>/agent/`. The server keeps the
 * limits the store-backed NodeApi keeps by construction: an agent sees only the pods bound to its
 * node, reads a ConfigMap, Secret or claim (with its volume) only while one of those pods refers
 * to it, sees the local-path volumes of its node and may release only their cleanup finalizer,
 * writes only those pods' status and its own Node, reports usage for its node only, and gets a
 * kubelet serving certificate only for its own node's name. An agent token may call only its own
 * node's routes (./auth).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { errorMessage, GantryError, isGantryError } from '../errors.js';
import { EventRecorder } from '../events/recorder.js';
import type { Logger } from '../log.js';
import { podReferences, referencedNames, type ReferenceKind } from '../model/pod-refs.js';
import type { UsageSink } from '../model/metrics.js';
import type { KubeObject, Node, PersistentVolume, Pod, PodStatus } from '../model/types.js';
import { parseUsageReport } from '../metrics-server/report.js';
import type { ServiceAccountTokenIssuer } from '../model/serviceaccount.js';
import { issuePodToken, StoreNodeApi } from '../node/store-api.js';
import { sendStatus } from './kube.js';
import type { KubeletPki } from './kubelet/pki.js';
import type { Store } from '../store/types.js';

/** Where the agent routes live; `:node` is the node's name. */
export const NODE_AGENT_BASE = '/apis/gantry.dev/v1/nodes/:node/agent';

/** One event an agent sends: the object it is about, as the involved object names it. */
export interface AgentEvent {
  involved: { kind: string; name: string; namespace?: string; uid?: string; apiVersion?: string };
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
  fieldPath?: string;
}

/** Options of {@link nodeAgentApi}. */
export interface NodeAgentApiOptions {
  store: Store;
  logger: Logger;
  /** Signs the service-account tokens of the agents' pods; without it they get none (503). */
  tokens?: ServiceAccountTokenIssuer;
  /** Signs the agents' kubelet serving certificates; without it they get none (503). */
  kubelet?: Pick<KubeletPki, 'issueNodeCertificate'>;
  /** Keeps the agents' usage reports (src/metrics-server); without it they are refused (503). */
  usage?: UsageSink;
}

type NodeParams = { Params: { node: string; namespace: string; name: string } };

/** The fastify plugin serving the agent routes. */
export function nodeAgentApi(opts: NodeAgentApiOptions): (app: FastifyInstance) => Promise<void> {
  return async (app) => registerRoutes(app, opts);
}

function registerRoutes(app: FastifyInstance, opts: NodeAgentApiOptions): void {
  const { store } = opts;
  const origin = (node: string) => ({ actor: `node/${node}` });
  // One recorder per node: the events' source host is the node, as the kubelet's are.
  const recorders = new Map<string, EventRecorder>();
  const recorder = (node: string): EventRecorder => {
    let r = recorders.get(node);
    if (!r) recorders.set(node, (r = new EventRecorder({ store, component: 'kubelet', host: node, logger: opts.logger })));
    return r;
  };
  const boundPod = async (node: string, namespace: string, name: string): Promise<Pod | undefined> => {
    const pod = await store.get<Pod>({ kind: 'Pod', namespace, name });
    return pod?.spec.nodeName === node ? pod : undefined;
  };
  /** Whether a pod bound to `node` refers to this ConfigMap, Secret or claim now. */
  const referenced = async (node: string, kind: ReferenceKind, namespace: string, name: string): Promise<boolean> => {
    const pods = (await store.list<Pod>('Pod', { namespace })).items.filter((p) => p.spec.nodeName === node);
    return pods.some((p) => referencedNames(podReferences(p), kind).has(name));
  };

  app.get<NodeParams>(`${NODE_AGENT_BASE}/pods`, async (req) => new StoreNodeApi({ store, nodeName: req.params.node }).listPods());

  app.get<NodeParams & { Querystring: { fromRevision?: string } }>(`${NODE_AGENT_BASE}/watch`, async (req, reply) => {
    const from = Number(req.query.fromRevision);
    if (!Number.isSafeInteger(from) || from < 0) return sendStatus(reply, 400, 'BadRequest', `fromRevision: "${req.query.fromRevision ?? ''}" is not a revision`);
    const api = new StoreNodeApi({ store, nodeName: req.params.node });
    // The watch's own record of bound pods starts from the current list, as the agent's does.
    await api.listPods();
    const ac = new AbortController();
    req.raw.on('close', () => ac.abort());
    reply.hijack();
    reply.raw.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-cache' });
    reply.raw.flushHeaders();
    try {
      for await (const ev of api.watch({ fromRevision: from, signal: ac.signal })) reply.raw.write(`${JSON.stringify(ev)}\n`);
    } catch (err) {
      if (!ac.signal.aborted) reply.raw.write(`${JSON.stringify({ type: 'ERROR', code: isGantryError(err) ? err.code : 'Internal', message: errorMessage(err) })}\n`);
    }
    reply.raw.end();
  });

  app.get<NodeParams>(`${NODE_AGENT_BASE}/pods/:namespace/:name`, async (req, reply) => {
    const pod = await boundPod(req.params.node, req.params.namespace, req.params.name);
    return pod ?? sendStatus(reply, 404, 'NotFound', `pods "${req.params.name}" not found on node ${req.params.node}`);
  });

  app.put<NodeParams & { Body: { uid?: string; resourceVersion?: string; status?: PodStatus } }>(`${NODE_AGENT_BASE}/pods/:namespace/:name/status`, async (req, reply) => {
    const { node, namespace, name } = req.params;
    const body = req.body ?? {};
    const current = await boundPod(node, namespace, name);
    if (!current || current.metadata.uid !== body.uid) return sendStatus(reply, 404, 'NotFound', `pods "${name}" (uid ${body.uid ?? '?'}) not found on node ${node}`);
    if (!body.status || typeof body.status !== 'object') return sendStatus(reply, 400, 'BadRequest', 'body.status: a PodStatus is required');
    try {
      return await store.update<Pod>({ ...current, metadata: { ...current.metadata, resourceVersion: body.resourceVersion }, status: body.status }, { origin: origin(node) });
    } catch (err) {
      if (isGantryError(err, 'Conflict')) return sendStatus(reply, 409, 'Conflict', `pods "${name}": the pod changed since resourceVersion ${body.resourceVersion}; read it again`);
      if (isGantryError(err, 'NotFound')) return sendStatus(reply, 404, 'NotFound', `pods "${name}" not found`);
      throw err;
    }
  });

  app.post<NodeParams & { Body: { uid?: string; audience?: string; expirationSeconds?: number } }>(`${NODE_AGENT_BASE}/pods/:namespace/:name/token`, async (req, reply) => {
    const { node, namespace, name } = req.params;
    const body = req.body ?? {};
    if (!opts.tokens) return sendStatus(reply, 503, 'ServiceUnavailable', 'this server signs no service account tokens');
    const pod = await boundPod(node, namespace, name);
    if (!pod || pod.metadata.uid !== body.uid) return sendStatus(reply, 404, 'NotFound', `pods "${name}" (uid ${body.uid ?? '?'}) not found on node ${node}`);
    if (typeof body.expirationSeconds !== 'number') return sendStatus(reply, 400, 'BadRequest', 'body.expirationSeconds: a number of seconds is required');
    try {
      return await issuePodToken(store, opts.tokens, { pod, nodeName: node, expirationSeconds: body.expirationSeconds, ...(typeof body.audience === 'string' && body.audience ? { audience: body.audience } : {}) });
    } catch (err) {
      if (err instanceof GantryError && (err.code === 'NotFound' || err.code === 'InvalidArgument')) return sendStatus(reply, err.code === 'NotFound' ? 404 : 400, err.code === 'NotFound' ? 'NotFound' : 'BadRequest', err.message);
      throw err;
    }
  });

  app.post<NodeParams & { Body: { uid?: string } }>(`${NODE_AGENT_BASE}/pods/:namespace/:name/finalize`, async (req, reply) => {
    const { node, namespace, name } = req.params;
    const pod = await boundPod(node, namespace, name);
    if (pod && pod.metadata.uid === req.body?.uid) await new StoreNodeApi({ store, nodeName: node }).finalizePod(pod);
    return reply.code(204).send();
  });

  for (const kind of ['ConfigMap', 'Secret'] as const) {
    app.get<NodeParams>(`${NODE_AGENT_BASE}/${kind.toLowerCase()}s/:namespace/:name`, async (req, reply) => {
      const { node, namespace, name } = req.params;
      if (!(await referenced(node, kind, namespace, name))) {
        return sendStatus(reply, 403, 'Forbidden', `node ${node} may read ${kind} ${namespace}/${name} only while one of its pods refers to it`);
      }
      const obj = await store.get({ kind, namespace, name });
      return obj ?? sendStatus(reply, 404, 'NotFound', `${kind.toLowerCase()}s "${name}" not found`);
    });
  }

  app.get<NodeParams>(`${NODE_AGENT_BASE}/claims/:namespace/:name`, async (req, reply) => {
    const { node, namespace, name } = req.params;
    if (!(await referenced(node, 'PersistentVolumeClaim', namespace, name))) {
      return sendStatus(reply, 403, 'Forbidden', `node ${node} may read PersistentVolumeClaim ${namespace}/${name} only while one of its pods refers to it`);
    }
    const found = await new StoreNodeApi({ store, nodeName: node }).getClaim(namespace, name);
    return found ?? sendStatus(reply, 404, 'NotFound', `persistentvolumeclaims "${name}" not found`);
  });

  app.get<NodeParams>(`${NODE_AGENT_BASE}/volumes`, async (req) => ({ items: await new StoreNodeApi({ store, nodeName: req.params.node }).listLocalVolumes() }));

  app.post<NodeParams & { Body: { uid?: string } }>(`${NODE_AGENT_BASE}/volumes/:name/cleaned`, async (req, reply) => {
    const { node, name } = req.params;
    const uid = req.body?.uid;
    if (!uid) return sendStatus(reply, 400, 'BadRequest', 'body.uid: the volume\'s uid is required');
    // The store-backed API checks that the volume is this node's and is being deleted.
    await new StoreNodeApi({ store, nodeName: node }).finishVolumeCleanup({ apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name, uid }, spec: {} } as PersistentVolume);
    return reply.code(204).send();
  });

  // Kubelet TLS bootstrap's serving certificate: for this node's name, the agent's key (./kubelet/pki.ts).
  app.post<NodeParams & { Body: { publicKey?: unknown; names?: unknown } }>(`${NODE_AGENT_BASE}/kubelet-certificate`, async (req, reply) => {
    if (!opts.kubelet) return sendStatus(reply, 503, 'ServiceUnavailable', 'this server signs no kubelet certificates');
    const body = req.body ?? {};
    try {
      return await opts.kubelet.issueNodeCertificate(req.params.node, { publicKey: body.publicKey as string, names: body.names });
    } catch (err) {
      if (isGantryError(err, 'InvalidArgument')) return sendStatus(reply, 400, 'BadRequest', `kubelet certificate for node ${req.params.node}: ${err.message}`);
      throw err;
    }
  });

  app.get<NodeParams>(`${NODE_AGENT_BASE}/node`, async (req, reply) => {
    const node = await store.get<Node>({ kind: 'Node', name: req.params.node });
    return node ?? sendStatus(reply, 404, 'NotFound', `nodes "${req.params.node}" not found`);
  });

  app.put<NodeParams & { Body: Node; Querystring: { reason?: string } }>(`${NODE_AGENT_BASE}/node`, async (req, reply) => {
    const node = req.body;
    if (node?.kind !== 'Node' || node.metadata?.name !== req.params.node) {
      return sendStatus(reply, 400, 'BadRequest', `body: a Node named ${req.params.node} is required (an agent writes only its own Node)`);
    }
    const o = { origin: { ...origin(req.params.node), reason: req.query.reason ?? 'node status' } };
    try {
      return node.metadata.resourceVersion ? await store.update(node, o) : await store.create(node, o);
    } catch (err) {
      if (isGantryError(err, 'Conflict') || isGantryError(err, 'AlreadyExists')) return sendStatus(reply, 409, 'Conflict', `nodes "${req.params.node}" changed; read it again`);
      throw err;
    }
  });

  // A report is kept in memory under the reporting node only: the metrics it serves are of pods
  // bound to that node (checked when read), so one agent cannot speak for another's pods.
  app.post<NodeParams & { Body: unknown }>(`${NODE_AGENT_BASE}/usage`, async (req, reply) => {
    if (!opts.usage) return sendStatus(reply, 503, 'ServiceUnavailable', 'this server keeps no resource usage');
    const report = parseUsageReport(req.body);
    if (typeof report === 'string') return sendStatus(reply, 400, 'BadRequest', `usage report of node ${req.params.node}: ${report}`);
    opts.usage.record(req.params.node, report);
    return reply.code(204).send();
  });

  app.post<NodeParams & { Body: { events?: AgentEvent[] } }>(`${NODE_AGENT_BASE}/events`, async (req: FastifyRequest<NodeParams & { Body: { events?: AgentEvent[] } }>, reply) => {
    const node = req.params.node;
    const events = Array.isArray(req.body?.events) ? req.body.events.slice(0, 1000) : [];
    const pods = new Map((await store.list<Pod>('Pod')).items.filter((p) => p.spec.nodeName === node).map((p) => [p.metadata.uid, p]));
    let accepted = 0;
    for (const e of events) {
      // Only about this node's pods or the node itself: an agent cannot put words in another's mouth.
      const about = e.involved?.kind === 'Pod' ? pods.get(e.involved.uid) : e.involved?.kind === 'Node' && e.involved.name === node ? e.involved : undefined;
      if (!about || (e.type !== 'Normal' && e.type !== 'Warning') || typeof e.reason !== 'string' || typeof e.message !== 'string') continue;
      const obj: KubeObject = { apiVersion: e.involved.apiVersion ?? 'v1', kind: e.involved.kind, metadata: { name: e.involved.name, ...(e.involved.namespace ? { namespace: e.involved.namespace } : {}), ...(e.involved.uid ? { uid: e.involved.uid } : {}) } };
      recorder(node).emit(obj, e.type, e.reason, e.message, e.fieldPath ? { fieldPath: e.fieldPath } : {});
      accepted++;
    }
    return reply.code(202).send({ accepted });
  });
}
