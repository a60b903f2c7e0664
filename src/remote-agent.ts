/**
 * `gantry agent`: a node on a machine other than the control plane's. It runs the same node
 * agent as `gantry up` (private containerd, CNI, service proxy, cluster DNS, policy enforcer),
 * reaching the control plane only over its HTTPS API with an agent token: the node API of
 * src/api/node-client.ts for its pods, and a Services view read through the API. Without
 * `--pod-cidr` it waits for the pod CIDR the control plane gives its Node, and it keeps a route
 * to every other Ready node's pods through that node (host-gw, src/node/network/routes.ts).
 * Having no API server, it serves its metrics (the node's, its pod queue's, the process's) on
 * a listener of its own (src/metrics/serve.ts).
 */
import type { Logger } from 'pino';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiClient, RemoteStore, type ApiEndpoint } from './api/client.js';
import { DEFAULT_CLUSTER_CIDR } from './controllers/nodeipam.js';
import { GantryError, isGantryError } from './errors.js';
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
  /** Test and bench tuning, as for the local node. */
  tuning?: LocalNodeTuning;
  /** Where to serve `GET /metrics` (plain HTTP); none without. */
  metricsListen?: { host: string; port: number };
  /** The metrics the node reports to; default a process's own (with CPU, memory, event loop). */
  metrics?: Metrics;
}

/** A running remote agent. */
export interface RemoteAgent {
  node: LocalNode;
  /** Where its metrics are served, with `metricsListen`. */
  metricsAddress?: { host: string; port: number };
  stop(): Promise<void>;
}

/** Registers the node with the server, then runs its pods until stopped. */
export async function startRemoteAgent(opts: RemoteAgentOptions): Promise<RemoteAgent> {
  const client = new ApiClient(opts.endpoint);
  // The server must know us before anything starts: a wrong token or address fails here, clearly.
  await client.json(`/apis/gantry.dev/v1/nodes/${encodeURIComponent(opts.nodeName)}/agent/pods`);
  const podCidr = opts.network?.podCidr ?? (await waitForPodCidr(client, opts));
  const metrics = opts.metrics ?? new Metrics({ processMetrics: true });
  // Before anything runs: an address in use fails the start at once, naming the flag.
  const listener: MetricsListener | undefined = opts.metricsListen ? await serveMetrics(metrics, { ...opts.metricsListen, flag: '--metrics-listen' }) : undefined;
  const view = new StoreServiceView({ store: new RemoteStore(client), logger: opts.logger.child({ component: 'services' }), extraKinds: NODE_VIEW_KINDS });
  try {
    await view.start();
  } catch (err) {
    await listener?.close();
    throw err;
  }
  try {
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
      metrics,
      ...opts.tuning,
      nodeName: opts.nodeName,
    });
    // Routes to the other nodes' pods (host-gw); read-only Nodes through the agent's view access.
    const store = new RemoteStore(client);
    const routes = new NodeRouteSyncer({
      nodeName: opts.nodeName,
      listNodes: async () => (await store.list<Node>('Node')).items,
      logger: opts.logger.child({ component: 'routes' }),
      ...(opts.routesPeriodMs !== undefined ? { periodMs: opts.routesPeriodMs } : {}),
    });
    try {
      await routes.start();
    } catch (err) {
      await node.stop();
      throw err;
    }
    return {
      node,
      ...(listener ? { metricsAddress: listener.address } : {}),
      async stop() {
        await routes.stop();
        await node.stop();
        await view.stop();
        await listener?.close();
      },
    };
  } catch (err) {
    await view.stop();
    await listener?.close();
    throw err;
  }
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
