/**
 * End-to-end test helper: a "world" (a temp dir holding the busybox images, a real Git server
 * over smart HTTP with the desired-state repo, and a pod network of the test's own), and gantry
 * running on it with every component: in this process ({@link startInProcess}) or as a child
 * process ({@link startChild}, for crash tests).
 *
 * Each world has its own bridge, pod CIDR and CNI network name, so a test never touches the
 * network of a real gantry on the same machine; {@link World.cleanup} removes all of it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac, randomInt } from 'node:crypto';
import { readFile, mkdir, writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { startGantry, type Components, type RunningGantry } from '../../src/app.js';
import { WEBHOOK_PATH } from '../../src/api/server.js';
import type { GantryConfig } from '../../src/config.js';
import { readKubeconfig } from '../../src/api/auth/kubeconfig.js';
import { pkiPaths } from '../../src/api/auth/pki.js';
import { createLogger, silentLogger, type Logger } from '../../src/log.js';
import type { Condition, Pod } from '../../src/model/types.js';
import { ContainerdClient } from '../../src/node/containerd/client.js';
import { CONTAINERD_NAMESPACE, takeDownLocalNode, type LocalNodeTuning } from '../../src/node/host.js';
import { buildBusyboxImage } from '../../src/node/images/busybox-image.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { Store } from '../../src/store/types.js';
import { SYNC_NAME, type SyncObject } from '../../src/sync/status.js';
import { agentPrerequisites } from '../fakes/node-agent-bed.js';
import { apiRequest, type ApiTarget } from './api-client.js';
import { makeRepo, publishRepo, pushFiles, startGitHttpServer, tempDir, type GitHttpServer } from './git-http-server.js';

/** The image the e2e manifests use (the sample app's name), and a second, distinct one for image changes. */
export const E2E_IMAGE = 'gantry.local/busybox:1.35';
export const E2E_IMAGE_V2 = 'gantry.local/busybox:1.35-e2e2';
/** Webhook secret every e2e gantry is configured with. */
export const WEBHOOK_SECRET = 'e2e-webhook-secret';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Why e2e tests cannot run here (not root, containerd, runc or CNI plugins missing), or undefined. */
export function e2ePrerequisites(): string | undefined {
  return agentPrerequisites();
}

/** A temp world: images, a Git server with the repo, a network of its own. */
export interface World {
  root: string;
  imagesDir: string;
  git: GitHttpServer;
  /** Work tree of the repo (commit and push here). */
  work: string;
  repoUrl: string;
  /** Local node settings: node name, this world's network, short agent periods. */
  node: LocalNodeTuning & { nodeName: string; network: { bridgeName: string; podCidr: string; networkName: string } };
  /** This world's service CIDR (a /24 of its own: two gantries on a machine must not share one). */
  serviceCidr: string;
  /** Commits `files` (null deletes), pushes over HTTP and returns the commit id. */
  push(files: Record<string, string | null>, message: string): Promise<string>;
  /** Removes the Git server and the temp dir (take gantry down first). */
  cleanup(): Promise<void>;
}

/** Creates a world whose repo starts with `files`. */
export async function createWorld(files: Record<string, string>): Promise<World> {
  const { dir: root, cleanup } = await tempDir('gantry-e2e-');
  const imagesDir = path.join(root, 'images');
  await buildBusyboxImage({ outDir: path.join(imagesDir, 'busybox'), name: E2E_IMAGE });
  await buildBusyboxImage({ outDir: path.join(imagesDir, 'busybox-v2'), name: E2E_IMAGE_V2, files: { 'etc/e2e-version': '2\n' } });
  const gitRoot = path.join(root, 'git');
  await mkdir(gitRoot, { recursive: true });
  const work = path.join(root, 'work');
  await makeRepo(work, files, 'initial app');
  const repoPath = await publishRepo(work, gitRoot, 'app');
  const git = await startGitHttpServer({ root: gitRoot });
  const repoUrl = `${git.url}${repoPath}`;
  // The work tree pushes over HTTP too, as a developer would.
  const { git: runGit } = await import('./git-http-server.js');
  await runGit(work, ['remote', 'set-url', 'origin', repoUrl]);
  const tag = randomInt(10_000, 99_999);
  return {
    root,
    imagesDir,
    git,
    work,
    repoUrl,
    serviceCidr: `10.98.${randomInt(1, 250)}.0/24`,
    node: {
      nodeName: `e2e-node-${tag}`,
      network: { bridgeName: `ge2e${tag}`, podCidr: `10.97.${randomInt(1, 250)}.0/24`, networkName: `ge2e${tag}` },
      backoffBaseMs: 500,
      backoffMaxMs: 2000,
      heartbeatMs: 2000,
      resyncMs: 2000,
    },
    push: (f, message) => pushFiles(work, f, message),
    async cleanup() {
      await git.close();
      await cleanup();
    },
  };
}

/** The configuration an e2e gantry runs with. */
export function e2eConfig(world: World, dataDir: string): GantryConfig {
  return {
    dataDir,
    repo: world.repoUrl,
    ref: 'main',
    // Pushes arrive by webhook; the poll is the slow safety net.
    intervalMs: 5000,
    listen: '127.0.0.1:0',
    webhookSecret: WEBHOOK_SECRET,
    imagesDir: world.imagesDir,
    serviceCidr: world.serviceCidr,
    ingress: { http: '127.0.0.1:0', https: '127.0.0.1:0' },
  };
}

/** gantry running in this process. */
export interface InProcessGantry {
  gantry: RunningGantry;
  store: Store;
  dataDir: string;
  apiUrl: string;
  /** The API's CA (PEM) and the admin token: an {@link ApiTarget} for {@link apiRequest}. */
  ca: string;
  token: string;
  /** `<data-dir>/kubeconfig`, for `kubectl --kubeconfig`. */
  kubeconfig: string;
  containerdAddress: string;
  /** Stops gantry (pods keep running). */
  stop(): Promise<void>;
}

/**
 * Starts `gantry up` in this process (all components) on `world`, runs the first sync and starts
 * polling. `logger` replaces the default (silent, or a debug log file with GANTRY_E2E_LOG set).
 */
export async function startInProcess(world: World, opts: { dataDir?: string; logger?: Logger; config?: Partial<GantryConfig> } = {}): Promise<InProcessGantry> {
  const dataDir = opts.dataDir ?? path.join(world.root, 'data');
  const logger = opts.logger ?? (process.env.GANTRY_E2E_LOG ? createLogger({ level: 'debug', file: path.join(dataDir, 'gantry.log') }) : silentLogger());
  const gantry = await startGantry({
    config: { ...e2eConfig(world, dataDir), ...opts.config },
    logger,
    components: { sync: true, api: true, audit: true, controllers: true, scheduler: true, agent: true, ingress: true },
    node: world.node,
  });
  await gantry.sync!.trigger('start');
  gantry.startPolling();
  return {
    gantry,
    store: gantry.store,
    dataDir,
    apiUrl: gantry.apiUrl!,
    ca: gantry.ca!,
    token: (await readKubeconfig(gantry.kubeconfig!)).token,
    kubeconfig: gantry.kubeconfig!,
    containerdAddress: gantry.node!.containerdAddress,
    stop: () => gantry.stop(),
  };
}

/** gantry running as a child process (killable with SIGKILL). */
export interface ChildGantry {
  child: ChildProcess;
  pid: number;
  apiUrl: string;
  /** The API's CA (PEM). */
  ca: string;
  /** The socket of the containerd it uses. */
  containerdAddress: string;
  /** Resolves with the exit code or signal. */
  exited: Promise<number | string>;
  /** Sends `signal` and waits for the exit. */
  kill(signal: NodeJS.Signals): Promise<number | string>;
}

/** Options of {@link startChild}. */
export interface ChildOptions {
  /** Settings over the world's {@link e2eConfig}. */
  config?: Partial<GantryConfig>;
  /** The parts it runs (default all, as `gantry up`). */
  components?: Components;
}

/**
 * Starts gantry (every component unless told otherwise) in a child process (`e2e-child.ts`, the same
 * `startGantry` as `gantry up` with this world's node settings); resolves once its first sync
 * ran and it polls.
 */
export async function startChild(world: World, dataDir: string, opts: ChildOptions = {}): Promise<ChildGantry> {
  const config = { ...e2eConfig(world, dataDir), ...opts.config };
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'e2e-child.ts')], {
    env: { ...process.env, GANTRY_E2E_CHILD: JSON.stringify({ config, node: world.node, components: opts.components }) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const [apiUrl, containerdAddress] = await new Promise<[string, string]>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`gantry child did not start in 60 s\n${stderr}`)), 60_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /^ready (\S+) (\S+) \S+$/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve([m[1]!, m[2]!]);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`gantry child exited (${code}) before it was ready\n${stderr}`));
    });
  });
  return {
    child,
    pid: child.pid!,
    apiUrl,
    ca: await readFile(pkiPaths(dataDir).caCert, 'utf8'),
    containerdAddress,
    exited,
    async kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** POSTs a GitHub-signed push event for `commit` on main to gantry's webhook; resolves with the HTTP status. */
export async function sendPushWebhook(target: string | ApiTarget, commit: string, secret = WEBHOOK_SECRET): Promise<number> {
  const body = Buffer.from(JSON.stringify({ ref: 'refs/heads/main', after: commit, repository: { full_name: 'e2e/app' } }));
  const signature = `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
  // The webhook needs no token (its HMAC is the check), only trust in the server's certificate.
  const to = typeof target === 'string' ? { apiUrl: target } : { apiUrl: target.apiUrl, ...(target.ca ? { ca: target.ca } : {}) };
  const res = await apiRequest(to, WEBHOOK_PATH, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-GitHub-Event': 'push', 'X-Hub-Signature-256': signature },
    body,
  });
  return res.status;
}

/** Polls `fn` every `intervalMs` until it returns a value other than undefined/false; fails with `what` and the last value seen. */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, opts: { timeoutMs?: number; intervalMs?: number; describe?: () => Promise<string> } = {}): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) {
      const extra = opts.describe ? `\n${await opts.describe()}` : '';
      throw new Error(`timed out after ${opts.timeoutMs ?? 60_000} ms waiting for ${what}${extra}`);
    }
    await sleep(opts.intervalMs ?? 200);
  }
}

/** The Sync object's status (revision in force, last attempt, issues). */
export async function syncStatus(store: Store): Promise<SyncObject['status']> {
  return (await store.get<SyncObject>({ kind: 'Sync', name: SYNC_NAME }))?.status ?? {};
}

/** Waits until the sync loop attempted `commit` (applied or rejected). */
export async function waitAttempted(store: Store, commit: string, timeoutMs = 30_000): Promise<SyncObject['status']> {
  return waitFor(`sync of ${commit.slice(0, 7)}`, async () => {
    const st = await syncStatus(store);
    return st?.lastAttemptedRevision === commit ? st : undefined;
  }, { timeoutMs, intervalMs: 100 });
}

/** A pod condition. */
export function podCondition(pod: Pod, type: string): Condition | undefined {
  return pod.status?.conditions?.find((c) => c.type === type);
}

/** Running, Ready and not terminating. */
export function isReady(pod: Pod): boolean {
  return !pod.metadata.deletionTimestamp && pod.status?.phase === 'Running' && podCondition(pod, 'Ready')?.status === 'True';
}

/** Pods of namespace default whose labels include `labels`. */
export async function podsWith(store: Store, labels: Record<string, string>): Promise<Pod[]> {
  const selector = Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(',');
  return (await store.list<Pod>('Pod', { namespace: 'default', labelSelector: selector })).items;
}

/** One line per pod, for failure messages. */
export function describePods(pods: Pod[]): string {
  return pods
    .map((p) => `${p.metadata.name} phase=${p.status?.phase} ready=${podCondition(p, 'Ready')?.status} node=${p.spec.nodeName ?? '-'} deleting=${Boolean(p.metadata.deletionTimestamp)} restarts=${p.status?.containerStatuses?.[0]?.restartCount ?? '-'} ${p.status?.message ?? ''}`)
    .join('\n');
}

/** What containerd holds for gantry: containers by pod uid, with whether each has a running task. */
export interface ContainerdView {
  client: ContainerdClient;
  /** pod uid → containers (id, running). */
  byPod(): Promise<Map<string, { id: string; running: boolean; pid: number }[]>>;
  close(): void;
}

/** Connects to the containerd gantry uses (namespace `gantry`). */
export async function viewContainerd(address: string): Promise<ContainerdView> {
  const client = await ContainerdClient.connect({ address, namespace: CONTAINERD_NAMESPACE });
  return {
    client,
    async byPod() {
      const [records, tasks] = await Promise.all([client.listContainerRecords(), client.listTasks()]);
      const taskById = new Map(tasks.map((t) => [t.container_id || t.id, t]));
      const out = new Map<string, { id: string; running: boolean; pid: number }[]>();
      for (const c of records) {
        const uid = c.labels?.['gantry.dev/pod-uid'];
        if (!uid) continue;
        const t = taskById.get(c.id);
        const list = out.get(uid) ?? [];
        list.push({ id: c.id, running: t?.status === 'RUNNING', pid: t?.pid ?? 0 });
        out.set(uid, list);
      }
      return out;
    },
    close: () => client.close(),
  };
}

/** Opens a data dir's store read-only (as `gantry get` does), e.g. of a child gantry. */
export function openReadonlyStore(dataDir: string): Store {
  return openSqliteStore(path.join(dataDir, 'state.db'), { readonly: true });
}

/** HTTP GET; resolves with the status code (0 on a connection error). */
export function httpGet(url: string, timeoutMs = 3000): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: timeoutMs }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ status: 0, body: '' }));
  });
}

/**
 * Removes what gantry ran for `dataDir` on `world`'s network: containers, pod networks and
 * volumes, the bridge and its iptables rules, the private containerd. Restores ip_forward.
 */
export async function takeDown(world: World, dataDir: string, ipForward?: string): Promise<void> {
  await takeDownLocalNode({ dataDir, logger: silentLogger(), network: world.node.network }).catch(() => undefined);
  if (ipForward !== undefined) await writeFile('/proc/sys/net/ipv4/ip_forward', ipForward).catch(() => undefined);
}

/** The current ip_forward setting (the CNI bridge plugin turns it on), to restore after. */
export async function readIpForward(): Promise<string> {
  return (await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8')).trim();
}
