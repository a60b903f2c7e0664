/**
 * Test helper for the node agent: a private containerd, the busybox image, a SQLite store, real
 * CNI networking (a bridge and CIDR of the test's own), real volumes, and an agent with short
 * back-offs. Pods are created in the store with `spec.nodeName` set, as the scheduler would.
 */
import { randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { silentLogger } from '../../src/log.js';
import type { Container, ContainerStatus, Pod, PodSpec } from '../../src/model/types.js';
import { NodeAgent, type NodeAgentOptions } from '../../src/node/agent/agent.js';
import { StoreNodeApi } from '../../src/node/store-api.js';
import { deleteContainer } from '../../src/node/containerd/run.js';
import { cgroupsPathFor, removeCgroup } from '../../src/node/containerd/spec.js';
import { buildBusyboxImage } from '../../src/node/images/busybox-image.js';
import { importImages } from '../../src/node/images/import.js';
import { CniNetworkManager } from '../../src/node/network/manager.js';
import type { ContainerLogs } from '../../src/node/types.js';
import { HostVolumeManager } from '../../src/node/volumes/manager.js';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite.js';
import { FakeContainerLogs } from './node-managers.js';
import { containerdPrerequisites, startTestContainerd, type TestContainerd } from '../helpers/containerd.js';

/** The test image (imported from an OCI layout, never pulled). */
export const BUSYBOX = 'gantry.local/busybox:latest';

/** Why agent integration tests cannot run here, or undefined. */
export function agentPrerequisites(): string | undefined {
  const why = containerdPrerequisites();
  if (why) return why;
  for (const p of ['bridge', 'host-local', 'loopback', 'portmap']) {
    if (!existsSync(path.join('/usr/lib/cni', p))) return `CNI plugin ${p} missing in /usr/lib/cni (Debian: containernetworking-plugins)`;
  }
  return undefined;
}

/** The real FileContainerLogs (the file fake when src/node/logs is absent). */
async function makeLogs(dir: string): Promise<ContainerLogs> {
  try {
    const mod = (await import('../../src/node/logs/index.js' as string)) as Record<string, unknown>;
    const Ctor = mod.FileContainerLogs as (new (opts: { dataDir: string }) => ContainerLogs) | undefined;
    if (Ctor) return new Ctor({ dataDir: dir });
  } catch {
    // not there yet
  }
  return new FakeContainerLogs(path.join(dir, 'logs'));
}

/**
 * For a suite's `before` hook (`bed = await startAgentBedOrSkip(this)`): starts the bed, or skips
 * the suite, saying why, where {@link agentPrerequisites} are missing.
 */
export async function startAgentBedOrSkip(ctx: Mocha.Context, opts: Partial<NodeAgentOptions> = {}): Promise<AgentBed> {
  const why = agentPrerequisites();
  if (why) {
    console.log(`      skipping: ${why}`);
    ctx.skip();
  }
  return startAgentBed(opts);
}

/** The status of the pod's (app) container with this name. */
export function containerStatus(p: Pod, name: string): ContainerStatus | undefined {
  return p.status?.containerStatuses?.find((s) => s.name === name);
}

/** A running agent test bed. */
export interface AgentBed {
  ctd: TestContainerd;
  store: SqliteStore;
  network: CniNetworkManager;
  volumes: HostVolumeManager;
  logs: ContainerLogs;
  nodeDir: string;
  nodeName: string;
  agent: NodeAgent;
  /** Options the agent was made with (to start a second agent on the same containerd). */
  agentOptions: NodeAgentOptions;
  /** A new agent with the same parts (the old one must be stopped). */
  restartAgent(): Promise<NodeAgent>;
  /** Creates a pod bound to this node. */
  createPod(name: string, spec: Partial<PodSpec> & { containers: Container[] }, meta?: Partial<Pod['metadata']>): Promise<Pod>;
  getPod(name: string): Promise<Pod | undefined>;
  /** Polls the pod until `pred` holds (or fails after `timeoutMs`, showing the last status). */
  waitPod(name: string, pred: (p: Pod) => boolean, timeoutMs?: number): Promise<Pod>;
  waitGone(name: string, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Starts everything; `opts` overrides agent options. */
export async function startAgentBed(opts: Partial<NodeAgentOptions> = {}): Promise<AgentBed> {
  const ctd = await startTestContainerd(`gantry-agent-${process.pid}`);
  const layout = path.join(ctd.dir, 'images', 'busybox');
  await mkdir(layout, { recursive: true });
  await buildBusyboxImage({ outDir: layout, name: BUSYBOX });
  await importImages(ctd.client, path.join(ctd.dir, 'images'));
  const store = openSqliteStore(path.join(ctd.dir, 'state.db'));
  const nodeDir = path.join(ctd.dir, 'node');
  const tag = randomInt(10_000, 99_999);
  const ipForward = (await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8')).trim();
  const network = new CniNetworkManager({ dataDir: nodeDir, podCidr: `10.98.${randomInt(1, 250)}.0/24`, bridgeName: `gagt${tag}`, networkName: `gagt-${tag}` });
  const volumes = new HostVolumeManager({ dataDir: nodeDir });
  // As gantry lays out its data dir (src/node/host.ts): store in <data>/state.db, the node in <data>/node.
  const logs = await makeLogs(nodeDir);
  const nodeName = `node-${tag}`;
  const agentOptions: NodeAgentOptions = {
    api: new StoreNodeApi({ store, nodeName }),
    client: ctd.client,
    runcRoot: ctd.daemon.runcRoot,
    network,
    volumes,
    logs,
    dataDir: nodeDir,
    logger: silentLogger(),
    heartbeatMs: 1000,
    resyncMs: 1000,
    backoffBaseMs: 400,
    backoffMaxMs: 1600,
    ...opts,
  };
  let agent = new NodeAgent(agentOptions);
  await agent.start();
  const bed: AgentBed = {
    ctd,
    store,
    network,
    volumes,
    logs,
    nodeDir,
    nodeName,
    get agent() {
      return agent;
    },
    agentOptions,
    async restartAgent() {
      agent = new NodeAgent(agentOptions);
      await agent.start();
      return agent;
    },
    async createPod(name, spec, meta = {}) {
      return store.create<Pod>({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, namespace: 'default', ...meta },
        spec: { nodeName, terminationGracePeriodSeconds: 2, ...spec },
      });
    },
    getPod: (name) => store.get<Pod>({ kind: 'Pod', namespace: 'default', name }),
    async waitPod(name, pred, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      let last: Pod | undefined;
      while (Date.now() < deadline) {
        last = await store.get<Pod>({ kind: 'Pod', namespace: 'default', name });
        if (last && pred(last)) return last;
        await sleep(100);
      }
      throw new Error(`pod ${name} did not reach the expected state in ${timeoutMs} ms; last status: ${JSON.stringify(last?.status, null, 1)}`);
    },
    async waitGone(name, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if (!(await store.get({ kind: 'Pod', namespace: 'default', name }))) return;
        await sleep(100);
      }
      throw new Error(`pod ${name} was not deleted in ${timeoutMs} ms`);
    },
    async stop() {
      await agent.stop();
      for (const c of await ctd.client.listContainerRecords().catch(() => [])) {
        await deleteContainer(ctd.client, c.id).catch(() => undefined);
        const uid = c.labels['gantry.dev/pod-uid'];
        if (uid) removeCgroup(cgroupsPathFor(uid));
      }
      for (const uid of await network.list()) await network.tearDown(uid).catch(() => undefined);
      for (const uid of await volumes.list()) await volumes.cleanup(uid).catch(() => undefined);
      await network.cleanupNode().catch(() => undefined);
      await writeFile('/proc/sys/net/ipv4/ip_forward', ipForward).catch(() => undefined);
      await store.close();
      await ctd.stop();
      await rm(nodeDir, { recursive: true, force: true }).catch(() => undefined);
    },
  };
  return bed;
}

/** A busybox container. */
export function busybox(name: string, command: string[], extra: Partial<Container> = {}): Container {
  return { name, image: BUSYBOX, imagePullPolicy: 'IfNotPresent', command, ...extra };
}
