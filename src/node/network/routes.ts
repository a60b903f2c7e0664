/**
 * Routes to the other nodes' pods, as flannel's host-gw backend keeps them: for every other
 * Ready Node with a `spec.podCIDR` and an InternalIP, `ip route replace <podCIDR> via
 * <InternalIP>` in this node's network namespace. The routes carry their own protocol number
 * ({@link ROUTE_PROTO}), so the ones to drop (a node gone, NotReady, or moved) are found in the
 * kernel's table itself: nothing is remembered across restarts, and no other route is touched.
 * It needs the nodes on one layer-2 network (each InternalIP directly reachable), as host-gw does.
 */
import type { Logger } from 'pino';
import { errorMessage } from '../../errors.js';
import type { Node } from '../../model/types.js';
import { execTool, mustExec } from './exec.js';

/** The route protocol marking gantry's node routes (`ip route show proto 188`). */
export const ROUTE_PROTO = '188';

/** A route this node should have: another node's pods through that node. */
export interface NodeRoute {
  cidr: string;
  via: string;
  node: string;
}

/** The routes `self` needs to reach every other Ready node's pods (pure). */
export function desiredRoutes(self: string, nodes: readonly Node[]): NodeRoute[] {
  const out: NodeRoute[] = [];
  for (const n of nodes) {
    if (n.metadata.name === self || !n.spec.podCIDR) continue;
    const ready = n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
    const via = n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
    if (ready && via) out.push({ cidr: n.spec.podCIDR, via, node: n.metadata.name });
  }
  return out.sort((a, b) => a.cidr.localeCompare(b.cidr));
}

/** Options of {@link NodeRouteSyncer}. */
export interface NodeRouteSyncerOptions {
  /** This node's name (no route to itself). */
  nodeName: string;
  /** The cluster's Nodes, as the control plane has them. */
  listNodes(): Promise<Node[]>;
  logger: Logger;
  /** How often the Nodes are read again; default 3 s. */
  periodMs?: number;
}

/** Keeps the node routes in step with the Nodes until stopped. */
export class NodeRouteSyncer {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private lastError: string | undefined;

  constructor(private readonly o: NodeRouteSyncerOptions) {}

  /** Syncs once (errors are thrown), then every period (errors are logged once per kind). */
  async start(): Promise<void> {
    await this.sync();
    this.schedule();
  }

  /** Stops syncing; the routes stay (pods of this node keep reaching others until it is taken down). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.sync().then(
        () => {
          this.lastError = undefined;
        },
        (err: unknown) => {
          const msg = errorMessage(err);
          if (msg !== this.lastError) this.o.logger.warn({ err: msg }, 'node routes not synced; retrying');
          this.lastError = msg;
        },
      ).finally(() => this.schedule());
    }, this.o.periodMs ?? 3000);
    this.timer.unref();
  }

  /** One pass: adds or moves the wanted routes, deletes the rest of gantry's. */
  async sync(): Promise<void> {
    const want = desiredRoutes(this.o.nodeName, await this.o.listNodes());
    const have = await currentRoutes();
    for (const r of want) {
      if (have.get(r.cidr) === r.via) continue;
      await mustExec('ip', ['route', 'replace', r.cidr, 'via', r.via, 'proto', ROUTE_PROTO]);
      this.o.logger.info({ node: r.node, podCidr: r.cidr, via: r.via }, 'route to node\'s pods');
    }
    const wanted = new Set(want.map((r) => r.cidr));
    for (const cidr of have.keys()) {
      if (wanted.has(cidr)) continue;
      await execTool('ip', ['route', 'del', cidr, 'proto', ROUTE_PROTO]);
      this.o.logger.info({ podCidr: cidr }, 'route to a node\'s pods removed');
    }
  }
}

/** gantry's node routes in the main table: pod CIDR → gateway. */
async function currentRoutes(): Promise<Map<string, string>> {
  const out = await mustExec('ip', ['-4', 'route', 'show', 'proto', ROUTE_PROTO]);
  const routes = new Map<string, string>();
  for (const line of out.split('\n')) {
    const m = /^(\S+) via (\S+)/.exec(line.trim());
    if (m) routes.set(m[1]!, m[2]!);
  }
  return routes;
}

/** Removes every node route (when the node is taken down). */
export async function removeNodeRoutes(): Promise<void> {
  for (const cidr of (await currentRoutes()).keys()) await execTool('ip', ['route', 'del', cidr, 'proto', ROUTE_PROTO]);
}
