/**
 * The resource metrics API, `metrics.k8s.io/v1beta1`, as metrics-server serves it: PodMetrics
 * (per container: CPU as a rate over the window, memory as the working set) and NodeMetrics, at
 * the paths `kubectl top pod` and `kubectl top node` read, with label selectors (a PodMetrics
 * carries its pod's labels, so `kubectl top pod -l app=web` works) and `metadata.name` field
 * selectors. The figures come from the control plane's memory of the agents' reports
 * (src/metrics-server), never from the store; the pods and nodes they are about come from the
 * store, so only pods that exist, on the node that reported them, are served.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { isGantryError } from '../errors.js';
import type { NodeMetricsSample, PodMetricsSample, ResourceMetricsReader, ResourceUsage } from '../model/metrics.js';
import { formatBytes, formatDecimalNanos } from '../model/quantity.js';
import type { KubeObject, Node, Pod } from '../model/types.js';
import type { Store } from '../store/types.js';
import { parseFieldSelector, sendStatus } from './kube.js';
import { goDuration, k8sTime } from '../model/time.js';

/** The group version served, for discovery (`/apis`). */
export const METRICS_GROUP_VERSION = 'metrics.k8s.io/v1beta1';
const BASE = `/apis/${METRICS_GROUP_VERSION}`;

/** Options of {@link resourceMetricsApi}. */
export interface ResourceMetricsApiOptions {
  store: Store;
  metrics: ResourceMetricsReader;
}

/** The metrics.k8s.io routes, as a fastify plugin. */
export function resourceMetricsApi(opts: ResourceMetricsApiOptions): (app: FastifyInstance) => Promise<void> {
  return async (app) => registerRoutes(app, opts);
}

interface ListQuery { labelSelector?: string; fieldSelector?: string }

function registerRoutes(app: FastifyInstance, opts: ResourceMetricsApiOptions): void {
  const { store, metrics } = opts;

  app.get(BASE, async () => ({
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: METRICS_GROUP_VERSION,
    resources: [
      { name: 'nodes', singularName: '', namespaced: false, kind: 'NodeMetrics', verbs: ['get', 'list'] },
      { name: 'pods', singularName: '', namespaced: true, kind: 'PodMetrics', verbs: ['get', 'list'] },
    ],
  }));

  /** Objects of `kind` from the store, by the request's selectors; a Status answered when a selector is bad. */
  const listed = async <T extends KubeObject>(reply: FastifyReply, kind: 'Pod' | 'Node', q: ListQuery, namespace?: string): Promise<T[] | undefined> => {
    const fields = q.fieldSelector ? parseFieldSelector(q.fieldSelector) : [];
    if (typeof fields === 'string') {
      sendStatus(reply, 400, 'BadRequest', `fieldSelector: ${fields}`);
      return undefined;
    }
    try {
      const items = (await store.list<T>(kind, { ...(namespace ? { namespace } : {}), ...(q.labelSelector ? { labelSelector: q.labelSelector } : {}) })).items;
      return items.filter((o) => fields.every((f) => ((f.path === 'metadata.name' ? o.metadata.name : f.path === 'metadata.namespace' ? o.metadata.namespace : undefined) === f.value) !== f.negate));
    } catch (err) {
      if (isGantryError(err, 'InvalidArgument')) {
        sendStatus(reply, 400, 'BadRequest', `labelSelector: ${err.message}`);
        return undefined;
      }
      throw err;
    }
  };

  const podList = async (reply: FastifyReply, q: ListQuery, namespace?: string) => {
    const pods = await listed<Pod>(reply, 'Pod', q, namespace);
    if (!pods) return reply;
    const items = pods.flatMap((p) => {
      const m = metrics.podMetrics(p);
      return m ? [podMetricsObject(p, m)] : [];
    });
    return { kind: 'PodMetricsList', apiVersion: METRICS_GROUP_VERSION, metadata: {}, items };
  };

  app.get<{ Querystring: ListQuery }>(`${BASE}/pods`, async (req, reply) => podList(reply, req.query));
  app.get<{ Params: { namespace: string }; Querystring: ListQuery }>(`${BASE}/namespaces/:namespace/pods`, async (req, reply) => podList(reply, req.query, req.params.namespace));
  app.get<{ Params: { namespace: string; name: string } }>(`${BASE}/namespaces/:namespace/pods/:name`, async (req, reply) => {
    const { namespace, name } = req.params;
    const pod = await store.get<Pod>({ kind: 'Pod', namespace, name });
    const m = pod ? metrics.podMetrics(pod) : undefined;
    if (!pod || !m) return sendStatus(reply, 404, 'NotFound', `podmetrics.metrics.k8s.io "${namespace}/${name}" not found`, { name, group: 'metrics.k8s.io', kind: 'pods' });
    return podMetricsObject(pod, m);
  });

  app.get<{ Querystring: ListQuery }>(`${BASE}/nodes`, async (req, reply) => {
    const nodes = await listed<Node>(reply, 'Node', req.query);
    if (!nodes) return reply;
    const items = nodes.flatMap((n) => {
      const m = metrics.nodeMetrics(n.metadata.name);
      return m ? [nodeMetricsObject(n, m)] : [];
    });
    return { kind: 'NodeMetricsList', apiVersion: METRICS_GROUP_VERSION, metadata: {}, items };
  });
  app.get<{ Params: { name: string } }>(`${BASE}/nodes/:name`, async (req, reply) => {
    const node = await store.get<Node>({ kind: 'Node', name: req.params.name });
    const m = node ? metrics.nodeMetrics(node.metadata.name) : undefined;
    if (!node || !m) return sendStatus(reply, 404, 'NotFound', `nodemetrics.metrics.k8s.io "${req.params.name}" not found`, { name: req.params.name, group: 'metrics.k8s.io', kind: 'nodes' });
    return nodeMetricsObject(node, m);
  });
}

/** A PodMetrics object of metrics.k8s.io/v1beta1. */
export function podMetricsObject(pod: Pod, m: PodMetricsSample, now = Date.now()): Record<string, unknown> {
  return {
    kind: 'PodMetrics',
    apiVersion: METRICS_GROUP_VERSION,
    metadata: {
      name: pod.metadata.name,
      namespace: pod.metadata.namespace ?? 'default',
      // As metrics-server: the object is made when asked for.
      creationTimestamp: k8sTime(now),
      ...(pod.metadata.labels ? { labels: pod.metadata.labels } : {}),
    },
    timestamp: k8sTime(m.timestamp),
    window: goDuration(m.windowMs),
    containers: m.containers.map((c) => ({ name: c.name, usage: usageQuantities(c.usage) })),
  };
}

/** A NodeMetrics object of metrics.k8s.io/v1beta1. */
export function nodeMetricsObject(node: Node, m: NodeMetricsSample, now = Date.now()): Record<string, unknown> {
  return {
    kind: 'NodeMetrics',
    apiVersion: METRICS_GROUP_VERSION,
    metadata: {
      name: node.metadata.name,
      creationTimestamp: k8sTime(now),
      ...(node.metadata.labels ? { labels: node.metadata.labels } : {}),
    },
    timestamp: k8sTime(m.timestamp),
    window: goDuration(m.windowMs),
    usage: usageQuantities(m.usage),
  };
}

/** CPU in nanocores and memory in bytes, spelled as metrics-server's quantities print ("12345n", "316Ki"). */
function usageQuantities(u: ResourceUsage): { cpu: string; memory: string } {
  return { cpu: formatDecimalNanos(BigInt(Math.max(0, Math.round(u.cpuNanoCores)))), memory: formatBytes(Math.max(0, Math.round(u.memoryBytes))) };
}
