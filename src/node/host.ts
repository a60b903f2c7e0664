/**
 * Builds a node agent on this machine from real parts: containerd (the given socket, or a
 * private one left running across gantry restarts so pods keep running), CNI networking,
 * host volumes and log files. Used by `gantry up`; `gantry down` undoes it.
 */
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics/index.js';
import type { Store } from '../store/types.js';
import { NodeAgent } from './agent/agent.js';
import { StoreNodeApi } from './store-api.js';
import type { NodeApi } from './api.js';
import { GantryError } from '../errors.js';
import { ContainerdClient } from './containerd/client.js';
import { startPrivateContainerd, stopPrivateContainerd } from './containerd/daemon.js';
import { FileContainerLogs } from './logs/index.js';
import { clusterDnsIp, DEFAULT_SERVICE_CIDR } from '../model/cidr.js';
import { ClusterDnsServer } from './dns/server.js';
import { CniNetworkManager } from './network/index.js';
import { PolicyEnforcer, removePolicyRules } from './policy/enforcer.js';
import { removeProxyRules, ServiceProxy } from './proxy/proxier.js';
import { removeNodeRoutes } from './network/routes.js';
import { StoreServiceView, type ServiceView } from './proxy/source.js';
import type { ServiceAccountTokenIssuer } from '../model/serviceaccount.js';
import type { UsageSink } from '../model/metrics.js';
import { HostVolumeManager } from './volumes/index.js';

/** containerd namespace gantry works in. */
export const CONTAINERD_NAMESPACE = 'gantry';

/** The local node's pod network; defaults are the network manager's (bridge gantry0, 10.244.0.0/24, network gantry). */
export interface LocalNetworkOptions {
  bridgeName?: string;
  podCidr?: string;
  /** The cluster's pod network (a node among others): not masqueraded. */
  clusterCidr?: string;
  networkName?: string;
}

/**
 * Optional overrides of the local node's defaults. Two gantries on one machine (a test beside a
 * real one) must differ in `network`; tests shorten the agent's periods.
 */
export interface LocalNodeTuning {
  nodeName?: string;
  network?: LocalNetworkOptions;
  /** Restart and image-pull back-off base and cap (the agent's defaults: 10 s and 300 s). */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Node heartbeat period (default 10 s). */
  heartbeatMs?: number;
  /** Periodic resync of every pod (default 10 s). */
  resyncMs?: number;
  /** How often usage is reported to the control plane (default 15 s; 0: never). */
  usagePeriodMs?: number;
}

/**
 * The network manager's options: a bridge of one's own also names the CNI network, so that
 * its NAT rules (tagged with the network name) never mix with another gantry's.
 */
function networkOptions(n: LocalNetworkOptions | undefined): LocalNetworkOptions {
  return { ...n, networkName: n?.networkName ?? n?.bridgeName };
}

/** Options for {@link startLocalNode}. */
export interface LocalNodeOptions extends LocalNodeTuning {
  /**
   * How the agent reaches the control plane: the store (in the control plane's process), or a
   * NodeApi of its own (`gantry agent`: over HTTPS). With `api`, pass a `serviceView` too.
   */
  store?: Store;
  api?: NodeApi;
  logger: Logger;
  /**
   * gantry's data dir; the node keeps its state in `<dataDir>/node`, containerd in
   * `<dataDir>/containerd` and local-path volumes in `<dataDir>/storage`.
   */
  dataDir: string;
  /** Use this containerd socket instead of a private containerd. */
  containerdSocket?: string;
  /** Air-gap images directories imported at start (those that exist). */
  imagesDirs?: string[];
  insecureRegistries?: string[];
  /** The service CIDR (default 10.96.0.0/16): the cluster DNS answers at its tenth address. */
  serviceCidr?: string;
  /**
   * A started view following Service, Endpoints, Pod, Namespace and NetworkPolicy, shared with
   * the rest of the process (the caller starts and stops it); without one the node keeps its own.
   */
  serviceView?: StoreServiceView;
  /** With `store`: signs the service-account tokens of this node's pods (the API's key). */
  tokens?: ServiceAccountTokenIssuer;
  /** The port of the node's kubelet endpoint (`gantry agent`), published on its Node. */
  kubeletPort?: number;
  /** The process's metrics, which the agent reports to (`gantry_kubelet_*`, its pod queue). */
  metrics?: Metrics;
  /** With `store`: the control plane's usage memory, which this node's reports go to. */
  usage?: UsageSink;
}

/** A running local node. */
export interface LocalNode {
  agent: NodeAgent;
  nodeName: string;
  containerdAddress: string;
  /** The host's address on the pod bridge: what this node's pods reach the host at. */
  gatewayIP: string;
  /** Stops the agent (pods and the private containerd keep running). */
  stop(): Promise<void>;
}

/** The images folder next to the installed package, where setup builds the busybox image. */
export function bundledImagesDir(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    if (existsSync(join(dir, 'package.json'))) return existsSync(join(dir, 'images')) ? join(dir, 'images') : undefined;
    dir = dirname(dir);
  }
  return undefined;
}

/** Starts containerd (if needed) and the node agent. */
export async function startLocalNode(opts: LocalNodeOptions): Promise<LocalNode> {
  if (!opts.store && !(opts.api && opts.serviceView)) {
    throw new GantryError('InvalidArgument', 'a local node needs the store, or a node API and a Services view of its own');
  }
  const nodeDir = join(opts.dataDir, 'node');
  const storageDir = join(opts.dataDir, 'storage');
  let address = opts.containerdSocket;
  let runcRoot: string | undefined;
  if (!address) {
    // Detached: containerd (and so every pod's shim) outlives gantry; the next `gantry up`
    // finds it by its pidfile and adopts the pods.
    const daemon = await startPrivateContainerd({
      dataDir: join(opts.dataDir, 'containerd'),
      detached: true,
      logger: opts.logger.child({ component: 'containerd' }),
    });
    address = daemon.address;
    runcRoot = daemon.runcRoot;
  }
  const client = await ContainerdClient.connect({ address, namespace: CONTAINERD_NAMESPACE });
  const nodeName = opts.nodeName ?? hostname();
  const imagesDir = (opts.imagesDirs ?? []).find((d) => existsSync(d));
  const network = new CniNetworkManager({ dataDir: nodeDir, ...networkOptions(opts.network), logger: opts.logger.child({ component: 'cni' }) });
  const services = await startServices({ ...opts, network, nodeName }).catch((err: unknown) => {
    client.close();
    throw err;
  });
  const agent = new NodeAgent({
    api: opts.api ?? new StoreNodeApi({ store: opts.store!, nodeName, ...(opts.tokens ? { tokens: opts.tokens } : {}), ...(opts.usage ? { usage: opts.usage } : {}) }),
    client,
    runcRoot,
    network,
    podCidr: network.podCidr,
    clusterDns: { ip: services.dnsIp },
    volumes: new HostVolumeManager({ dataDir: nodeDir, storageDir, logger: opts.logger.child({ component: 'volumes' }) }),
    logs: new FileContainerLogs({ dataDir: nodeDir }),
    dataDir: nodeDir,
    storageDir,
    logger: opts.logger.child({ component: 'agent', node: nodeName }),
    imagesDir,
    insecureRegistries: opts.insecureRegistries,
    backoffBaseMs: opts.backoffBaseMs,
    backoffMaxMs: opts.backoffMaxMs,
    heartbeatMs: opts.heartbeatMs,
    resyncMs: opts.resyncMs,
    services: () => services.view.services(),
    ...(opts.kubeletPort ? { kubeletPort: opts.kubeletPort } : {}),
    ...(opts.metrics ? { metrics: opts.metrics } : {}),
    // Without a place for reports (a store-backed node in a process keeping no usage) none are read.
    usagePeriodMs: opts.api || opts.usage ? opts.usagePeriodMs : 0,
  });
  try {
    await agent.start();
  } catch (err) {
    // An open channel would keep a failed `gantry up` from exiting.
    client.close();
    await services.stop();
    throw err;
  }
  return {
    agent,
    nodeName,
    containerdAddress: address,
    gatewayIP: network.gatewayIP,
    async stop() {
      await agent.stop();
      await services.stop();
      client.close();
    },
  };
}

/** What the node's Service parts need of a view beside Services and Endpoints. */
export const NODE_VIEW_KINDS = ['Pod', 'Namespace', 'NetworkPolicy'];

/**
 * The node's Service parts: the view of Services and Endpoints (and pods, namespaces and
 * policies), the cluster DNS on the bridge's address, the service proxy (which also sends the
 * cluster DNS address there) and the NetworkPolicy enforcer.
 */
async function startServices(opts: LocalNodeOptions & { network: CniNetworkManager; nodeName: string }): Promise<{ dnsIp: string; view: StoreServiceView; stop(): Promise<void> }> {
  const log = opts.logger.child({ component: 'services' });
  const dnsIp = clusterDnsIp(opts.serviceCidr ?? DEFAULT_SERVICE_CIDR);
  await opts.network.ensureBridge();
  // Pods, namespaces and policies too: the NetworkPolicy enforcer works from the same view.
  const own = !opts.serviceView;
  const view = opts.serviceView ?? new StoreServiceView({ store: opts.store!, logger: log, extraKinds: NODE_VIEW_KINDS });
  const dns = new ClusterDnsServer({ view, host: opts.network.gatewayIP, logger: log.child({ part: 'dns' }) });
  const proxy = new ServiceProxy({
    view,
    networkName: opts.network.networkName,
    podCidr: opts.network.podCidr,
    nodeName: opts.nodeName,
    logger: log.child({ part: 'proxy' }),
    extraPorts: () =>
      (['UDP', 'TCP'] as const).map((protocol) => ({
        id: `cluster-dns:${protocol.toLowerCase()}`,
        clusterIp: dnsIp,
        port: 53,
        protocol,
        endpoints: [{ ip: opts.network.gatewayIP, port: dns.port, nodeName: opts.nodeName }],
      })),
  });
  const policy = new PolicyEnforcer({ view, networkName: opts.network.networkName, nodeName: opts.nodeName, logger: log.child({ part: 'policy' }) });
  const stop = async (): Promise<void> => {
    await policy.stop();
    await proxy.stop();
    await dns.stop();
    if (own) await view.stop();
  };
  try {
    if (own) await view.start();
    await dns.start();
    await proxy.start();
    await policy.start();
  } catch (err) {
    await stop();
    throw err;
  }
  return { dnsIp, view, stop };
}

/**
 * `gantry down`: removes every container gantry runs on this node, the pod networks and
 * volumes (never the directories of persistent volumes, `<data-dir>/storage`), the node's
 * bridge, and stops the private containerd. Returns what was removed.
 */
export async function takeDownLocalNode(opts: { dataDir: string; containerdSocket?: string; logger: Logger; network?: LocalNetworkOptions }): Promise<{ containers: number; networks: number; containerdStopped: boolean }> {
  const nodeDir = join(opts.dataDir, 'node');
  let containers = 0;
  const { findRunningPrivateContainerd } = await import('./containerd/daemon.js');
  const address = opts.containerdSocket ?? (await findRunningPrivateContainerd(join(opts.dataDir, 'containerd')))?.address;
  if (address) {
    const { deleteContainer, stopTask } = await import('./containerd/run.js');
    const client = await ContainerdClient.connect({ address, namespace: CONTAINERD_NAMESPACE });
    try {
      // In parallel: each stop may wait out a grace period (a shell as PID 1 ignores SIGTERM).
      const records = await client.listContainerRecords();
      await Promise.all(records.map(async (c) => {
        await stopTask(client, c.id, { gracePeriodMs: 10_000 }).catch(() => undefined);
        await deleteContainer(client, c.id);
      }));
      containers = records.length;
    } finally {
      client.close();
    }
  }
  const network = new CniNetworkManager({ dataDir: nodeDir, ...networkOptions(opts.network), logger: opts.logger });
  const volumes = new HostVolumeManager({ dataDir: nodeDir, logger: opts.logger });
  const uids = await network.list();
  for (const uid of uids) await network.tearDown(uid);
  for (const uid of await volumes.list()) await volumes.cleanup(uid);
  await removeProxyRules(network.networkName);
  await removePolicyRules(network.networkName);
  await network.cleanupNode();
  // A `gantry agent` among other nodes left routes to their pods (proto 188 marks only those).
  await removeNodeRoutes();
  const containerdStopped = opts.containerdSocket ? false : await stopPrivateContainerd(join(opts.dataDir, 'containerd'));
  return { containers, networks: uids.length, containerdStopped };
}
