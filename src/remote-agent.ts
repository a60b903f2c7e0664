/**
 * `gantry agent`: a node on a machine other than the control plane's. It runs the same node
 * agent as `gantry up` (private containerd, CNI, service proxy, cluster DNS, policy enforcer),
 * reaching the control plane only over its HTTPS API with an agent token: the node API of
 * src/api/node-client.ts for its pods, and a Services view read through the API.
 */
import type { Logger } from 'pino';
import { ApiClient, RemoteStore, type ApiEndpoint } from './api/client.js';
import { HttpNodeApi } from './api/node-client.js';
import { bundledImagesDir, NODE_VIEW_KINDS, startLocalNode, type LocalNode, type LocalNodeTuning } from './node/host.js';
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
  network?: { bridgeName?: string; podCidr?: string };
  /** Test and bench tuning, as for the local node. */
  tuning?: LocalNodeTuning;
}

/** A running remote agent. */
export interface RemoteAgent {
  node: LocalNode;
  stop(): Promise<void>;
}

/** Registers the node with the server, then runs its pods until stopped. */
export async function startRemoteAgent(opts: RemoteAgentOptions): Promise<RemoteAgent> {
  const client = new ApiClient(opts.endpoint);
  // The server must know us before anything starts: a wrong token or address fails here, clearly.
  await client.json(`/apis/gantry.dev/v1/nodes/${encodeURIComponent(opts.nodeName)}/agent/pods`);
  const view = new StoreServiceView({ store: new RemoteStore(client), logger: opts.logger.child({ component: 'services' }), extraKinds: NODE_VIEW_KINDS });
  await view.start();
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
      ...(opts.network ? { network: opts.network } : {}),
      ...opts.tuning,
      nodeName: opts.nodeName,
    });
    return {
      node,
      async stop() {
        await node.stop();
        await view.stop();
      },
    };
  } catch (err) {
    await view.stop();
    throw err;
  }
}
