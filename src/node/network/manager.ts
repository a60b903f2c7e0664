/**
 * Pod networks through CNI: one named network namespace per pod (`gantry-<uid>`), then the chain
 * containerd's CRI runs: loopback (`lo`), bridge with host-local IPAM (`eth0`, the node's bridge
 * as gateway), and portmap for hostPorts; traffic leaving the pod CIDR is masqueraded by one
 * node-wide chain per network (iptables.ts). Loopback and bridge run side by side.
 *
 * State, all under `<dataDir>/network/`:
 * - `ipam/` — host-local's reservations (its `dataDir`), one file per allocated IP;
 * - `pods/<uid>.json` — what this manager set up for a pod (namespace, port mappings, the bridge's
 *   CNI result). It is written before anything is created, so a crash half-way leaves a record
 *   that {@link CniNetworkManager.list} reports and {@link CniNetworkManager.tearDown} undoes, and
 *   it is what DEL passes as `prevResult` and what {@link CniNetworkManager.get} answers from
 *   after an agent restart.
 *
 * Host side effects (by the plugins): the bridge link; `net.ipv4.ip_forward=1` (the bridge
 * plugin enables forwarding when `isGateway` is set); `route_localnet=1` on the bridge only
 * (portmap, so that 127.0.0.1:hostPort reaches the pod); NAT rules described in iptables.ts,
 * the masquerade chain among them.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { GantryError, errorMessage } from '../../errors.js';
import type { Logger } from '../../log.js';
import { silentLogger } from '../../log.js';
import type { Pod } from '../../model/types.js';
import type { NetworkManager, PodNetwork } from '../types.js';
import { gatewayOf, parseCidr, type Ipv4Cidr } from '../../model/cidr.js';
import { CNI_VERSION, firstIPv4, invokeCni, type CniNetConf, type CniResult } from './cni.js';
import { execTool, mustExec } from './exec.js';
import { cleanupNetworkRules, cleanupPodRules, ensureMasquerade } from './iptables.js';
import { addNetns, deleteNetns, netnsExists, netnsPath } from './netns.js';

/** Default pod CIDR: one node's /24 of the 10.244.0.0/16 range Kubernetes setups commonly use. */
export const DEFAULT_POD_CIDR = '10.244.0.0/24';
/** Default bridge device name. */
export const DEFAULT_BRIDGE = 'gantry0';
/** Default CNI plugin directory (Debian's containernetworking-plugins). */
export const DEFAULT_CNI_BIN_DIR = '/usr/lib/cni';
/** Default CNI network name (appears in the plugins' iptables comments). */
export const DEFAULT_NETWORK_NAME = 'gantry';
/** Prefix of the network namespaces of pods: `gantry-<uid>`. */
export const NETNS_PREFIX = 'gantry-';

/** Options for {@link CniNetworkManager}. */
export interface CniNetworkManagerOptions {
  /** Node data directory; state goes to `<dataDir>/network/`. */
  dataDir: string;
  /** The node's pod CIDR (IPv4); default {@link DEFAULT_POD_CIDR}. The bridge gets its first address. */
  podCidr?: string;
  /**
   * The whole cluster's pod network (every node's pod CIDR lies in it): pods' traffic there is
   * routed to the other node as is, not masqueraded. Unset on a single node.
   */
  clusterCidr?: string;
  /** Bridge device (≤ 15 characters); default {@link DEFAULT_BRIDGE}. */
  bridgeName?: string;
  /** Directory of the CNI plugin binaries; default {@link DEFAULT_CNI_BIN_DIR}. */
  cniBinDir?: string;
  /**
   * CNI network name; default {@link DEFAULT_NETWORK_NAME}. Two managers on one host (a gantry
   * and a test) must use different names, bridges and CIDRs.
   */
  networkName?: string;
  /** The node's IP, reported for hostNetwork pods; default: the first non-loopback IPv4 address. */
  nodeIP?: string;
  logger?: Logger;
}

/** A hostPort mapping as portmap's `runtimeConfig.portMappings` wants it. */
export interface PortMapping {
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp' | 'sctp';
  hostIP?: string;
}

/** One plugin of the chain. */
type CniStep = 'loopback' | 'bridge' | 'portmap';
const ALL_STEPS: CniStep[] = ['loopback', 'bridge', 'portmap'];

/** What is recorded per pod in `pods/<uid>.json`. */
interface PodNetState {
  uid: string;
  netns: string;
  portMappings: PortMapping[];
  /** `pending` until every plugin's ADD succeeded. */
  phase: 'pending' | 'ready';
  /** Plugins whose ADD was started (recorded before running it): DEL undoes exactly these. */
  added: CniStep[];
  /** Masquerading is the network's (node-wide), not a per-pod chain of the bridge plugin's (absent in records of older gantry versions). */
  nodeMasquerade?: boolean;
  bridgeResult?: CniResult;
  ip?: string;
}

/** The hostPort mappings of a pod's app containers (as Kubernetes, init containers' ports are not mapped). */
export function portMappingsOf(pod: Pod): PortMapping[] {
  const out: PortMapping[] = [];
  for (const c of pod.spec.containers) {
    for (const p of c.ports ?? []) {
      if (!p.hostPort) continue;
      out.push({
        hostPort: p.hostPort,
        containerPort: p.containerPort,
        protocol: (p.protocol ?? 'TCP').toLowerCase() as PortMapping['protocol'],
        ...(p.hostIP ? { hostIP: p.hostIP } : {}),
      });
    }
  }
  return out;
}

/** The first non-internal IPv4 address of this machine that is not a container bridge or veth. */
export function detectNodeIP(exclude: string[] = []): string {
  for (const [name, addrs] of Object.entries(os.networkInterfaces())) {
    if (exclude.includes(name) || /^(veth|cni|docker|gantry)/.test(name)) continue;
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

/**
 * {@link NetworkManager} over CNI plugins. Every method is idempotent and keyed by pod uid (the
 * CNI container id), so a restarted agent may call any of them again.
 *
 * hostNetwork pods get `{ netnsPath: '', ip: <node IP> }` and nothing is created: the agent must
 * then leave the network namespace out of the OCI spec (`buildSpec({ hostNetwork: true })`).
 */
export class CniNetworkManager implements NetworkManager {
  readonly dataDir: string;
  readonly podCidr: string;
  /** See {@link CniNetworkManagerOptions.clusterCidr}. */
  readonly clusterCidr: string | undefined;
  readonly bridgeName: string;
  readonly cniBinDir: string;
  readonly networkName: string;
  private readonly cidr: Ipv4Cidr;
  private readonly nodeIP?: string;
  private readonly log: Logger;
  private masqueradeReady?: Promise<void>;
  /** One operation per pod at a time: a setUp racing a tearDown would leak an IP or a veth. */
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(opts: CniNetworkManagerOptions) {
    this.dataDir = path.join(opts.dataDir, 'network');
    this.podCidr = opts.podCidr ?? DEFAULT_POD_CIDR;
    this.clusterCidr = opts.clusterCidr;
    this.cidr = parseCidr(this.podCidr);
    this.bridgeName = opts.bridgeName ?? DEFAULT_BRIDGE;
    if (!/^[A-Za-z0-9_.-]{1,15}$/.test(this.bridgeName)) {
      throw new GantryError('InvalidArgument', `bridge name "${this.bridgeName}" must be 1-15 letters, digits, '_', '.', '-'`);
    }
    this.cniBinDir = opts.cniBinDir ?? DEFAULT_CNI_BIN_DIR;
    this.networkName = opts.networkName ?? DEFAULT_NETWORK_NAME;
    this.nodeIP = opts.nodeIP;
    this.log = opts.logger ?? silentLogger();
  }

  /** The bridge's own address: the pod network's gateway. */
  get gatewayIP(): string {
    return gatewayOf(this.cidr);
  }

  /**
   * Makes sure the bridge exists, is up and holds the gateway address, before any pod does (the
   * cluster DNS listens there). The bridge plugin finds it so and keeps it as it is.
   */
  async ensureBridge(): Promise<void> {
    if ((await execTool('ip', ['link', 'show', this.bridgeName])).code !== 0) {
      const add = await execTool('ip', ['link', 'add', this.bridgeName, 'type', 'bridge']);
      // Created meanwhile by a pod's CNI ADD: fine.
      if (add.code !== 0 && !/File exists/.test(add.stderr)) throw new GantryError('NetworkSetupFailed', `cannot create bridge ${this.bridgeName}: ${add.stderr.trim()}`);
    }
    const addr = `${this.gatewayIP}/${this.cidr.prefix}`;
    const shown = await mustExec('ip', ['-4', '-o', 'addr', 'show', 'dev', this.bridgeName]);
    if (!shown.includes(` ${addr} `)) {
      const r = await execTool('ip', ['addr', 'add', addr, 'dev', this.bridgeName]);
      if (r.code !== 0 && !/File exists/.test(r.stderr)) throw new GantryError('NetworkSetupFailed', `cannot give bridge ${this.bridgeName} address ${addr}: ${r.stderr.trim()}`);
    }
    await mustExec('ip', ['link', 'set', this.bridgeName, 'up']);
  }

  /** The pod CIDR as parsed (network address and prefix length). */
  get cidrInfo(): Ipv4Cidr {
    return { ...this.cidr };
  }

  /**
   * Creates the pod's namespace and runs CNI ADD for loopback, bridge and (with hostPorts)
   * portmap. When the pod's network is already complete it is returned unchanged; a half-made
   * one (crash, or the namespace lost in a reboot) is torn down and made again.
   */
  async setUp(pod: Pod, opts: { signal?: AbortSignal } = {}): Promise<PodNetwork> {
    if (pod.spec.hostNetwork) return { netnsPath: '', ip: this.nodeIP ?? detectNodeIP([this.bridgeName]) };
    const uid = pod.metadata.uid;
    if (!uid) throw new GantryError('InvalidArgument', `pod ${pod.metadata.namespace ?? 'default'}/${pod.metadata.name} has no uid; cannot name its network namespace`);
    return this.locked(uid, () => this.setUpLocked(uid, portMappingsOf(pod), opts.signal));
  }

  /**
   * Creates the pod's network namespace only (no interfaces yet) and returns its path, so that
   * containers can be created in it while {@link setUp} runs the CNI plugins. A half-made network
   * left by a crash is torn down first, so the namespace returned is the one setUp will fill.
   */
  async createNamespace(pod: Pod): Promise<string> {
    const uid = pod.metadata.uid;
    if (!uid) throw new GantryError('InvalidArgument', `pod ${pod.metadata.namespace ?? 'default'}/${pod.metadata.name} has no uid; cannot name its network namespace`);
    return this.locked(uid, async () => {
      const existing = await this.readState(uid);
      const name = NETNS_PREFIX + uid;
      if (existing && (existing.phase === 'ready' || existing.added.length === 0) && (await netnsExists(name))) return netnsPath(name);
      if (existing || (await netnsExists(name))) await this.tearDownLocked(uid);
      await this.writeState({ uid, netns: name, portMappings: portMappingsOf(pod), phase: 'pending', added: [] });
      return addNetns(name);
    });
  }

  /** The pod's network when its setup completed and its namespace still exists. */
  async get(podUid: string): Promise<PodNetwork | undefined> {
    const st = await this.readState(podUid);
    if (!st || st.phase !== 'ready' || !st.ip || !(await netnsExists(st.netns))) return undefined;
    return { netnsPath: netnsPath(st.netns), ip: st.ip };
  }

  /**
   * CNI DEL for portmap, bridge and loopback (reverse order, with the saved ADD result as
   * `prevResult`), then deletes the namespace. The IP goes back to host-local. No error when
   * nothing is left; when a plugin fails the record is kept so a later call can retry.
   */
  async tearDown(podUid: string): Promise<void> {
    await this.locked(podUid, () => this.tearDownLocked(podUid));
  }

  /**
   * Pod uids this manager holds a network for (complete or half-made), from its own records:
   * namespaces named `gantry-*` that another manager (a second gantry, a test) made are not listed.
   */
  async list(): Promise<string[]> {
    try {
      return (await readdir(this.podsDir()))
        .filter((f) => f.endsWith('.json'))
        .map((f) => f.slice(0, -'.json'.length))
        .sort();
    } catch {
      return [];
    }
  }

  /**
   * Removes node-wide leftovers: the bridge device, this network's NAT rules and chains, and the
   * shared CNI-HOSTPORT chains when no network maps a port any more. Call after every pod was torn
   * down. `net.ipv4.ip_forward` is left as it is (other software may rely on it).
   */
  async cleanupNode(): Promise<void> {
    const link = await execTool('ip', ['link', 'show', this.bridgeName]);
    if (link.code === 0) {
      const del = await execTool('ip', ['link', 'delete', this.bridgeName]);
      if (del.code !== 0) throw new GantryError('NetworkSetupFailed', `cannot delete bridge ${this.bridgeName}: ${del.stderr.trim()}`);
    }
    this.masqueradeReady = undefined;
    const failed = await cleanupNetworkRules(this.networkName);
    if (failed.length) this.log.warn({ failed }, 'some iptables rules could not be removed');
  }

  private async setUpLocked(uid: string, portMappings: PortMapping[], signal?: AbortSignal): Promise<PodNetwork> {
    const existing = await this.readState(uid);
    const name = NETNS_PREFIX + uid;
    if (existing?.phase === 'ready' && existing.ip && (await netnsExists(existing.netns))) {
      return { netnsPath: netnsPath(existing.netns), ip: existing.ip };
    }
    // A namespace made by createNamespace (no plugin run yet) is kept: containers may already be in it.
    const fresh = existing?.phase === 'pending' && existing.added.length === 0 && (await netnsExists(name));
    if (!fresh && (existing || (await netnsExists(name)))) {
      this.log.info({ uid }, 'pod network incomplete; recreating it');
      await this.tearDownLocked(uid);
    }
    const st: PodNetState = { uid, netns: name, portMappings, phase: 'pending', added: [], nodeMasquerade: true };
    try {
      const ns = fresh ? netnsPath(name) : await addNetns(name, { signal });
      // Both are recorded before either runs, so a crash leaves a record DEL can undo. They touch
      // different interfaces (lo, eth0), so they run side by side.
      st.added.push('loopback', 'bridge');
      await this.writeState(st);
      const [, result] = await Promise.all([
        invokeCni({ ...this.base(uid, ns, 'lo', 'ADD', signal), config: this.loopbackConf() }),
        invokeCni({ ...this.base(uid, ns, 'eth0', 'ADD', signal), config: this.bridgeConf() }),
        this.masquerade(),
      ]);
      st.bridgeResult = result;
      if (portMappings.length) {
        // The record also keeps the bridge result, which portmap's DEL gets as prevResult.
        st.added.push('portmap');
        await this.writeState(st);
        await invokeCni({ ...this.base(uid, ns, 'eth0', 'ADD', signal), config: this.portmapConf(portMappings, result) });
      }
      const ip = firstIPv4(result);
      if (!ip) throw new GantryError('NetworkSetupFailed', `CNI bridge returned no IPv4 address for pod ${uid}`);
      st.ip = ip;
      st.phase = 'ready';
      await this.writeState(st);
      this.log.debug({ uid, ip }, 'pod network up');
      return { netnsPath: ns, ip };
    } catch (err) {
      try {
        await this.tearDownLocked(uid);
      } catch (cleanupErr) {
        this.log.warn({ uid, err: errorMessage(cleanupErr) }, 'cleanup after failed network setup failed');
      }
      throw err;
    }
  }

  private async tearDownLocked(uid: string): Promise<void> {
    const st = await this.readState(uid);
    const name = st?.netns ?? NETNS_PREFIX + uid;
    const exists = await netnsExists(name);
    if (!st && !exists) return;
    const ns = exists ? netnsPath(name) : '';
    // Without the namespace the bridge plugin's DEL only releases the IP: its masquerade rules stay.
    if (!exists) await this.removePodRules(uid);
    const added = st?.added ?? ALL_STEPS;
    const errors: unknown[] = [];
    const del = async (ifName: string, config: CniNetConf): Promise<void> => {
      try {
        await invokeCni({ ...this.base(uid, ns, ifName, 'DEL'), config });
      } catch (err) {
        // A plugin that is not installed never ran (its ADD failed the same way): nothing to undo.
        if (!existsSync(path.join(this.cniBinDir, config.type))) return;
        errors.push(err);
      }
    };
    const prev = st?.bridgeResult;
    if (added.includes('portmap')) await del('eth0', this.portmapConf(st?.portMappings ?? [], prev));
    if (added.includes('bridge')) await del('eth0', { ...this.bridgeConf(), ...(prev ? { prevResult: prev } : {}) });
    if (added.includes('loopback')) {
      // Everything loopback touched lives inside the namespace, which goes next: a failure is harmless.
      await invokeCni({ ...this.base(uid, ns, 'lo', 'DEL'), config: this.loopbackConf() }).catch((err: unknown) =>
        this.log.debug({ uid, err: errorMessage(err) }, 'loopback DEL failed'),
      );
    }
    // The namespace goes even when a plugin failed: DEL works without it and retries can release the IP.
    await deleteNetns(name);
    if (errors.length) throw errors[0];
    // Portmap's and (before node-wide masquerading) the bridge's per-pod chains, if DEL left any.
    if (added.includes('portmap') || (added.includes('bridge') && !st?.nodeMasquerade)) await this.removePodRules(uid);
    await rm(this.statePath(uid), { force: true });
    this.log.debug({ uid }, 'pod network down');
  }

  /** The network's masquerade rules, checked once per manager (again after a failure). */
  private masquerade(): Promise<void> {
    this.masqueradeReady ??= ensureMasquerade(this.networkName, this.podCidr, this.clusterCidr).catch((err: unknown) => {
      this.masqueradeReady = undefined;
      throw err;
    });
    return this.masqueradeReady;
  }

  private async removePodRules(uid: string): Promise<void> {
    const failed = await cleanupPodRules(this.networkName, uid);
    if (failed.length) this.log.warn({ uid, failed }, 'some iptables rules of the pod could not be removed');
  }

  private base(uid: string, netns: string, ifName: string, command: 'ADD' | 'DEL', signal?: AbortSignal) {
    return { binDir: this.cniBinDir, command, containerId: uid, netns, ifName, signal };
  }

  private loopbackConf(): CniNetConf {
    return { cniVersion: CNI_VERSION, name: `${this.networkName}-lo`, type: 'loopback' };
  }

  private bridgeConf(): CniNetConf {
    return {
      cniVersion: CNI_VERSION,
      name: this.networkName,
      type: 'bridge',
      bridge: this.bridgeName,
      isGateway: true,
      // Masquerading is node-wide (ensureMasquerade): a per-pod chain costs every start and stop.
      ipMasq: false,
      // A pod reaching its own hostPort (or, later, a service IP that picks it) comes back through the bridge.
      hairpinMode: true,
      ipam: {
        type: 'host-local',
        dataDir: path.join(this.dataDir, 'ipam'),
        ranges: [[{ subnet: this.podCidr }]],
        routes: [{ dst: '0.0.0.0/0' }],
      },
    };
  }

  private portmapConf(portMappings: PortMapping[], prevResult: CniResult | undefined): CniNetConf {
    return {
      cniVersion: CNI_VERSION,
      name: this.networkName,
      type: 'portmap',
      capabilities: { portMappings: true },
      snat: true,
      runtimeConfig: { portMappings },
      ...(prevResult ? { prevResult } : {}),
    };
  }

  private podsDir(): string {
    return path.join(this.dataDir, 'pods');
  }

  private statePath(uid: string): string {
    if (!/^[A-Za-z0-9_.-]+$/.test(uid) || uid.startsWith('.')) {
      throw new GantryError('InvalidArgument', `pod uid "${uid}" contains characters not allowed in a file name`);
    }
    return path.join(this.podsDir(), `${uid}.json`);
  }

  private async readState(uid: string): Promise<PodNetState | undefined> {
    try {
      return JSON.parse(await readFile(this.statePath(uid), 'utf8')) as PodNetState;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      if (err instanceof SyntaxError) {
        // A torn write: treat as a half-made network, which setUp/tearDown redo from scratch.
        return { uid, netns: NETNS_PREFIX + uid, portMappings: [], phase: 'pending', added: ALL_STEPS };
      }
      throw err;
    }
  }

  private async writeState(st: PodNetState): Promise<void> {
    await mkdir(this.podsDir(), { recursive: true });
    const file = this.statePath(st.uid);
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(st, null, 2));
    await rename(tmp, file);
  }

  private async locked<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(key) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.locks.set(key, tail);
    try {
      return await run;
    } finally {
      if (this.locks.get(key) === tail) this.locks.delete(key);
    }
  }
}
