/**
 * `gantry agent`: a node on a machine other than the control plane's. It runs the same node
 * agent as `gantry up` (private containerd, CNI, service proxy, cluster DNS, policy enforcer),
 * reaching the control plane only over its HTTPS API with an agent token: the node API of
 * src/api/node-client.ts for its pods, and a Services view read through the API. Without
 * `--pod-cidr` it waits for the pod CIDR the control plane gives its Node, and it keeps a route
 * to every other Ready node's pods through that node (host-gw, src/node/network/routes.ts).
 *
 * It also serves a kubelet endpoint (src/api/kubelet/server.ts) on its own address, where the
 * control plane — and only it, by its client certificate — reaches this node's pods for
 * `kubectl logs`, `exec` and `port-forward`; its serving certificate comes from the server at
 * each start (kubelet TLS bootstrap) and is renewed before it expires.
 * Having no API server, it serves its metrics (the node's, its pod queue's, the process's) on
 * a listener of its own (src/metrics/serve.ts).
 */
import type { Logger } from 'pino';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiClient, RemoteStore, type ApiEndpoint } from './api/client.js';
import { NODE_CERT_DAYS, requestServingCertificate, type KubeletServingCredentials } from './api/kubelet/pki.js';
import { DEFAULT_KUBELET_PORT, startKubeletServer, type KubeletServer } from './api/kubelet/server.js';
import { splitListen } from './config.js';
import { readMachine } from './node/agent/node-object.js';
import { CniNetworkManager } from './node/network/manager.js';
import { LocalPodPorts } from './node/portforward.js';
import { openLocalPodStreams, type OpenedPodStreams } from './node/streams.js';
import { DEFAULT_CLUSTER_CIDR } from './controllers/nodeipam.js';
import { errorMessage, GantryError, isGantryError } from './errors.js';
import type { Node } from './model/types.js';
import { HttpNodeApi } from './api/node-client.js';
import { Metrics } from './metrics/index.js';
import { serveMetrics, type MetricsListener } from './metrics/serve.js';
import { bundledImagesDir, NODE_VIEW_KINDS, startLocalNode, type LocalNode, type LocalNodeTuning } from './node/host.js';
import { NodeRouteSyncer } from './node/network/routes.js';
import { StoreServiceView } from './node/proxy/source.js';

/** Options of {@link startRemoteAgent}. */
export interface RemoteAgentOptions {
  endpoint: ApiEndpoint;
  nodeName: string;
  /** Where the node keeps its state and its private containerd. */
  dataDir: string;
  logger: Logger;
  containerdSocket?: string;
  imagesDir?: string;
  insecureRegistries?: string[];
  serviceCidr?: string;
  /** The pod bridge; `clusterCidr` default 10.244.0.0/16, `podCidr` default: the one the control plane gives. */
  network?: { bridgeName?: string; podCidr?: string; clusterCidr?: string };
  /** How long to wait for the control plane to give the node a pod CIDR (without `network.podCidr`); default 60 s. */
  podCidrTimeoutMs?: number;
  /** How often the routes to other nodes' pods are synced; default 3 s. */
  routesPeriodMs?: number;
  /**
   * Where the kubelet endpoint listens (`host:port`); default `0.0.0.0:10250`. Port 0 picks a
   * free one (several agents on one network namespace, in tests). The port is published on the
   * Node; the control plane dials it at the node's address.
   */
  kubeletListen?: string;
  /** Test and bench tuning, as for the local node. */
  tuning?: LocalNodeTuning;
  /** Where to serve `GET /metrics` (plain HTTP); none without. */
  metricsListen?: { host: string; port: number };
  /** The metrics the node reports to; default a process's own (with CPU, memory, event loop). */
  metrics?: Metrics;
}

/** The kubelet endpoint's default address. */
export const DEFAULT_KUBELET_LISTEN = `0.0.0.0:${DEFAULT_KUBELET_PORT}`;
/** How often the agent looks whether its kubelet serving certificate is due for renewal. */
const RENEW_CHECK_MS = 3600_000;

/** A running remote agent. */
export interface RemoteAgent {
  node: LocalNode;
  /** The port the kubelet endpoint listens on (the one published on the Node). */
  kubeletPort: number;
  /** Where its metrics are served, with `metricsListen`. */
  metricsAddress?: { host: string; port: number };
  stop(): Promise<void>;
}

/** Registers the node with the server, then runs its pods (and its kubelet endpoint) until stopped. */
export async function startRemoteAgent(opts: RemoteAgentOptions): Promise<RemoteAgent> {
  // A malformed address is refused before anything is asked of the server.
  const kubeletListen = splitListen(opts.kubeletListen ?? DEFAULT_KUBELET_LISTEN, '--kubelet-listen');
  const client = new ApiClient(opts.endpoint);
  // The server must know us before anything starts: a wrong token or address fails here, clearly.
  await client.json(`/apis/gantry.dev/v1/nodes/${encodeURIComponent(opts.nodeName)}/agent/pods`);
  const podCidr = opts.network?.podCidr ?? (await waitForPodCidr(client, opts));
  const metrics = opts.metrics ?? new Metrics({ processMetrics: true });
  // Before anything runs: an address in use fails the start at once, naming the flag.
  const listener: MetricsListener | undefined = opts.metricsListen ? await serveMetrics(metrics, { ...opts.metricsListen, flag: '--metrics-listen' }) : undefined;
  // Undone in reverse order when the start fails half-way, and by stop().
  const undo: (() => Promise<void> | void)[] = [];
  const unwind = async (): Promise<void> => {
    for (const u of undo.splice(0).reverse()) await u();
  };
  if (listener) undo.push(() => listener.close());
  try {
    const kubelet = await startKubelet(client, opts, kubeletListen);
    undo.push(() => kubelet.stop());
    const view = new StoreServiceView({ store: new RemoteStore(client), logger: opts.logger.child({ component: 'services' }), extraKinds: NODE_VIEW_KINDS });
    await view.start();
    undo.push(() => view.stop());
    const node = await startLocalNode({
      api: new HttpNodeApi({ client, nodeName: opts.nodeName, logger: opts.logger.child({ component: 'node-api' }) }),
      serviceView: view,
      logger: opts.logger,
      dataDir: opts.dataDir,
      containerdSocket: opts.containerdSocket,
      imagesDirs: [opts.imagesDir, bundledImagesDir()].filter((d): d is string => d !== undefined),
      insecureRegistries: opts.insecureRegistries,
      serviceCidr: opts.serviceCidr,
      network: { ...opts.network, podCidr, clusterCidr: opts.network?.clusterCidr ?? DEFAULT_CLUSTER_CIDR },
      kubeletPort: kubelet.server.port,
      metrics,
      ...opts.tuning,
      nodeName: opts.nodeName,
    });
    undo.push(() => node.stop());
    const nodeDir = join(opts.dataDir, 'node');
    const streams: OpenedPodStreams = await openLocalPodStreams({ containerdAddress: node.containerdAddress, nodeName: node.nodeName, nodeDir });
    undo.push(() => streams.close());
    const boundPod = (namespace: string, name: string) => node.agent.boundPod(namespace, name);
    // Reads the network records the agent's manager keeps (pod namespace and IP); changes nothing.
    const ports = new LocalPodPorts({ getPod: boundPod, network: new CniNetworkManager({ dataDir: nodeDir }), nodeName: node.nodeName });
    kubelet.server.attach({ pod: boundPod, streams, ports });
    opts.logger.info({ node: opts.nodeName, port: kubelet.server.port }, 'kubelet endpoint serving logs, exec and port-forward for the control plane');
    // Routes to the other nodes' pods (host-gw); read-only Nodes through the agent's view access.
    const store = new RemoteStore(client);
    const routes = new NodeRouteSyncer({
      nodeName: opts.nodeName,
      listNodes: async () => (await store.list<Node>('Node')).items,
      logger: opts.logger.child({ component: 'routes' }),
      ...(opts.routesPeriodMs !== undefined ? { periodMs: opts.routesPeriodMs } : {}),
    });
    await routes.start();
    undo.push(() => routes.stop());
    // The endpoint first: no exec or port-forward begins while the node stops.
    return { node, kubeletPort: kubelet.server.port, ...(listener ? { metricsAddress: listener.address } : {}), stop: async () => { await kubelet.stop(); await unwind(); } };
  } catch (err) {
    await unwind();
    throw err;
  }
}

/**
 * Gets a serving certificate from the server and listens; keeps the certificate renewed (a new
 * one once four fifths of its life have passed, checked hourly) until stopped.
 */
async function startKubelet(client: ApiClient, opts: RemoteAgentOptions, listen: [string, number]): Promise<{ server: KubeletServer; stop(): Promise<void> }> {
  const [host] = listen;
  const machine = readMachine();
  const names = [opts.nodeName, hostname(), ...(machine.internalIP ? [machine.internalIP] : []), ...(host !== '0.0.0.0' && host !== '::' ? [host] : [])];
  const ask = (): Promise<KubeletServingCredentials> => requestServingCertificate(client, { nodeName: opts.nodeName, names: [...new Set(names)] });
  let credentials = await ask();
  const log = opts.logger.child({ component: 'kubelet' });
  const server = await startKubeletServer({ nodeName: opts.nodeName, listen, credentials, logger: log }).catch((err: unknown) => {
    throw new GantryError('InvalidArgument', `--kubelet-listen ${listen[0]}:${listen[1]}: the kubelet endpoint cannot listen there: ${errorMessage(err)}`, { cause: err });
  });
  const timer = setInterval(() => {
    if (credentials.notAfter.getTime() - Date.now() > NODE_CERT_DAYS * 0.2 * 86_400_000) return;
    ask().then((c) => {
      credentials = c;
      server.renew(c);
      log.info({ notAfter: c.notAfter.toISOString() }, 'kubelet serving certificate renewed');
    }, (err: unknown) => log.warn({ err: errorMessage(err) }, 'kubelet serving certificate not renewed yet; trying again in an hour'));
  }, RENEW_CHECK_MS);
  timer.unref();
  let closed: Promise<void> | undefined;
  return {
    server,
    stop() {
      clearInterval(timer);
      closed ??= server.close();
      return closed;
    },
  };
}

/**
 * Registers the Node (bare, if it is new) and waits until the control plane's pod-CIDR
 * allocator has written its `spec.podCIDR`: the bridge and host-local IPAM are built from it.
 */
async function waitForPodCidr(client: ApiClient, opts: RemoteAgentOptions): Promise<string> {
  const path = `/apis/gantry.dev/v1/nodes/${encodeURIComponent(opts.nodeName)}/agent/node`;
  const read = async (): Promise<Node | undefined> => client.json<Node>(path).catch((err: unknown) => {
    if (isGantryError(err, 'NotFound')) return undefined;
    throw err;
  });
  if (!(await read())) {
    const bare: Node = { apiVersion: 'v1', kind: 'Node', metadata: { name: opts.nodeName }, spec: {} };
    await client.json(`${path}?reason=${encodeURIComponent('node registered, waiting for a pod CIDR')}`, { method: 'PUT', body: bare }).catch((err: unknown) => {
      // Another start of this agent registered it meanwhile: fine, wait for its CIDR.
      if (!isGantryError(err, 'Conflict')) throw err;
    });
  }
  const timeout = opts.podCidrTimeoutMs ?? 60_000;
  const deadline = Date.now() + timeout;
  opts.logger.info({ node: opts.nodeName }, 'waiting for the control plane to give this node a pod CIDR');
  for (;;) {
    const cidr = (await read())?.spec.podCIDR;
    if (cidr) {
      opts.logger.info({ node: opts.nodeName, podCidr: cidr }, 'pod CIDR assigned');
      return cidr;
    }
    if (Date.now() >= deadline) {
      throw new GantryError('NetworkSetupFailed', `node ${opts.nodeName} got no pod CIDR from the control plane within ${Math.round(timeout / 1000)} s: is the cluster CIDR full (see the Node's CIDRNotAvailable events), or are its controllers not running? Pass --pod-cidr to choose one yourself`);
    }
    await sleep(500);
  }
}
