/**
 * The composition root: builds the real parts from a configuration and starts the ones a
 * process runs (`gantry up` runs them all; `gantry sync` only the sync loop and the API).
 */
import { setMaxListeners } from 'node:events';
import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { startAuditFeed } from './audit/feed.js';
import { openRecorder } from './audit/recorder.js';
import type { Recorder } from './audit/types.js';
import { isLoopbackHost, prepareApiSecurity, writeAdminKubeconfig } from './api/auth/index.js';
import { createApiServer, listenAlso, WEBHOOK_PATH, type ExtraListener } from './api/server.js';
import { isIpv4 } from './model/cidr.js';
import { readMachine } from './node/agent/node-object.js';
import { Metrics } from './metrics/index.js';
import { builtDashboardDir, DASHBOARD_PATH } from './api/dashboard.js';
import { dataPaths, splitListen, type GantryConfig } from './config.js';

import { errorMessage, GantryError } from './errors.js';
import { openStore } from './store/open.js';
import type { Store } from './store/types.js';
import type { Pod } from './model/types.js';
import { openSource } from './sync/open-source.js';
import { formatIssue, SyncLoop, type SyncEvent } from './sync/loop.js';
import { createNotifier } from './notify/config.js';
import { HealthNotifications } from './notify/health-watch.js';
import { assessApp } from './health/app.js';
import type { AppHealth } from './health/types.js';
import { SYNC_NAME, type SyncObject } from './sync/status.js';
import type { Notifier } from './notify/notifier.js';
import { ApiServiceController, createControllerManager, ensureDefaultStorageClass, type ControllerManager } from './controllers/index.js';
import { Scheduler } from './scheduler/scheduler.js';
import { Cache } from './controllers/cache.js';
import { bundledImagesDir, NODE_VIEW_KINDS, startLocalNode, type LocalNode, type LocalNodeTuning } from './node/host.js';
import { DECLARABLE_KINDS } from './model/kinds.js';
import { EventRecorder, sweepEvents } from './events/recorder.js';
import { INGRESS_CLASS } from './ingress/routes.js';
import { IngressController } from './ingress/server.js';
import { StoreServiceView } from './node/proxy/source.js';
import { openLocalPodStreams, type OpenedPodStreams } from './node/streams.js';
import { LocalPodPorts } from './node/portforward.js';
import { CniNetworkManager } from './node/network/manager.js';
import { hostname } from 'node:os';
import { LeaderElector } from './cluster/leader.js';
import { ForwardingSyncTrigger, serveSyncRequests, type SyncTrigger } from './cluster/sync-requests.js';
import { adoptPushedTrail } from './audit/takeover.js';
import { loadKeyFile, sharedDigestKey } from './audit/digest-key.js';
import { etcdClientOf } from './store/open.js';
import type { Source } from './sync/types.js';
import { SopsDecryptor } from './sync/sops/decryptor.js';
import { CommitVerifier } from './sync/signatures/verifier.js';
import { loadTrustedKeys } from './sync/signatures/trusted-keys.js';
import { UsageStore } from './metrics-server/usage-store.js';

/** Which parts a process runs. */
export interface Components {
  sync: boolean;
  api: boolean;
  audit: boolean;
  controllers?: boolean;
  scheduler?: boolean;
  /** The local node agent (and a private containerd unless a socket is configured). */
  agent?: boolean;
  /** The ingress controller (HTTP/HTTPS on `config.ingress`). */
  ingress?: boolean;
}

/**
 * The parts only one server may run at a time: on an etcd store, servers elect a leader and only
 * it runs them; elsewhere the one process always does.
 */
interface LeaderWork {
  sync?: SyncLoop;
  recorder?: Recorder;
  /** Aborts when the term ends. */
  signal: AbortSignal;
  /** Stops every part (they also stop when the term's signal aborts) and flushes the audit trail. */
  stop(): Promise<void>;
}

/** A running gantry. */
export interface RunningGantry {
  store: Store;
  /** The audit recorder, while this process runs it (on etcd: while it leads). */
  readonly recorder?: Recorder;
  /** The sync loop, while this process runs it (on etcd: while it leads). */
  readonly sync?: SyncLoop;
  /** Whether this process leads the control plane (always true without leader election). */
  readonly leading: boolean;
  /** Resolves when this process next starts leading (at once when it leads). */
  whenLeading(): Promise<void>;
  /** Base URL of the API, when it runs (https unless plain HTTP was asked for). */
  apiUrl?: string;
  /** `<data-dir>/kubeconfig`: the API's address, CA and admin token, when the API runs. */
  kubeconfig?: string;
  /** The API's CA certificate (PEM), when it serves HTTPS. */
  ca?: string;
  /** The local node, when the agent runs. */
  node?: LocalNode;
  /** Where the ingress controller listens, when it runs. */
  ingress?: { http?: string; https?: string };
  /**
   * Starts polling the source (no-op without a sync loop). Separate from start-up so that a
   * caller can run and report the first pass itself.
   */
  startPolling(): void;
  /** Stops every part, flushing the audit trail. Containers keep running. */
  stop(): Promise<void>;
}

/** Options for {@link startGantry}. */
export interface StartOptions {
  config: GantryConfig;
  logger: Logger;
  components: Components;
  /** Called as each part comes up, for progress output. */
  onProgress?: (step: string) => void;
  /**
   * Overrides for the local node (its name, pod network, agent periods). Tests and benchmarks
   * use them to run beside a real gantry without sharing its bridge or CIDR.
   */
  node?: LocalNodeTuning;
}

/** Starts the configured parts. Sync passes run on `sync.trigger()` and, after `startPolling()`, on a timer. */
export async function startGantry(opts: StartOptions): Promise<RunningGantry> {
  const { config, logger, components } = opts;
  const progress = opts.onProgress ?? (() => undefined);
  const paths = dataPaths(config.dataDir);
  // A malformed --listen is refused before anything is opened or started.
  const listen = components.api ? splitListen(config.listen) : undefined;
  mkdirSync(config.dataDir, { recursive: true });
  // Certificates and tokens before anything starts: plain HTTP on a public address is refused here.
  const security = listen
    ? await prepareApiSecurity({ dataDir: config.dataDir, listenHost: listen[0], insecureHttp: config.insecureHttp, tlsSans: config.tlsSans, serviceCidr: config.serviceCidr })
    : undefined;
  const ac = new AbortController();
  // Every component stops on this one signal, each listening once: more than Node's default of
  // ten listeners is the design here, not a leak.
  setMaxListeners(64, ac.signal);
  const background: Promise<unknown>[] = [];
  // Checked before anything starts: a bad notification setting is refused, not half-used.
  const notifier = createNotifier(config.notifications, { repo: config.repo, logger: logger.child({ component: 'notify' }) });

  const store = await openStore(config.store, { sqlitePath: paths.store, etcdTls: config.etcdTls, logger: logger.child({ component: 'store' }) });
  const etcd = etcdClientOf(store);
  const identity = config.leaderElection?.identity ?? `${hostname()}/${process.pid}`;
  const needsLeader = components.sync || components.audit || components.controllers || components.scheduler;
  // Servers sharing an etcd store elect one leader for the parts only one may run.
  const elector = etcd && needsLeader
    ? new LeaderElector({ client: etcd, name: 'control-plane', identity, ttlSeconds: config.leaderElection?.leaseSeconds ?? 10, logger: logger.child({ component: 'leader' }) })
    : undefined;
  let work: LeaderWork | undefined;
  let leadingWaiters: Array<() => void> = [];
  let polling = false;
  let node: LocalNode | undefined;
  let api: ReturnType<typeof createApiServer> | undefined;
  let podsApi: ExtraListener | undefined;
  /** Where pods reach the API (the `kubernetes` Service's endpoint), once the API listens. */
  let apiEndpoint: { ip: string; port: number } | undefined;
  let ingress: IngressController | undefined;
  let services: StoreServiceView | undefined;
  let streams: OpenedPodStreams | undefined;
  let podPorts: LocalPodPorts | undefined;
  let live: Cache | undefined;
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    ac.abort();
    await podsApi?.close().catch((err: unknown) => logger.warn({ err: errorMessage(err) }, 'API close failed (pod bridge)'));
    await api?.close().catch((err: unknown) => logger.warn({ err: errorMessage(err) }, 'API close failed'));
    await ingress?.stop().catch((err: unknown) => logger.warn({ err: errorMessage(err) }, 'ingress close failed'));
    // With an elector the term ends through its run loop (in `background`), which stops the work.
    if (!elector) await work?.stop();
    await node?.stop();
    streams?.close();
    await services?.stop();
    await Promise.allSettled(background);
    await notifier?.stop();
    await store.close();
  };

  let apiUrl: string | undefined;
  let kubeconfig: string | undefined;
  const metrics = new Metrics({ processMetrics: components.api });
  // The pods' and nodes' resource usage, from the agents' reports: kept in memory (never in the
  // store), read by the autoscaler and served as metrics.k8s.io. Each server keeps its own: with
  // several, an agent's reports reach the one it talks to.
  const usage = components.api || components.agent || components.controllers ? new UsageStore() : undefined;
  let source: { source: Source; display: string } | undefined;
  let decryptor: SopsDecryptor | undefined;
  let verifier: CommitVerifier | undefined;

  /** Starts the leader's parts for one term, which ends when `signal` aborts. */
  const startLeaderWork = async (signal: AbortSignal): Promise<LeaderWork> => {
    const parts: Promise<unknown>[] = [];
    let recorder: Recorder | undefined;
    let sync: SyncLoop | undefined;
    let controllers: ControllerManager | undefined;
    const stopWork = async (): Promise<void> => {
      await sync?.idle();
      await controllers?.stop();
      await Promise.allSettled(parts);
      await recorder?.close();
    };
    try {
      if (components.audit) {
        if (elector && config.historyRemote) {
          // Continue the trail the last leader pushed, so the new term neither misses nor repeats a change.
          const adopted = await adoptPushedTrail({
            gitdir: paths.history, branch: 'status', logger: logger.child({ component: 'audit' }),
            remote: { url: config.historyRemote.url, auth: config.historyRemote.auth, remoteBranch: config.historyRemote.branch },
          });
          logger.info({ adopted }, 'audit: status branch brought level with the history remote');
        }
        // Servers of one etcd store share one digest key (through the store); one process keeps its own.
        const digestKey = etcd ? await sharedDigestKey({ store, file: paths.historyKey, logger: logger.child({ component: 'audit' }) }) : await loadKeyFile(paths.historyKey);
        const audit = metrics.audit;
        const opened = await openRecorder(paths.history, {
          digestKey,
          ...audit.recorderHooks(),
          logger: logger.child({ component: 'audit' }),
          watchedBranch: config.ref ?? 'main',
          push: config.historyRemote && {
            url: config.historyRemote.url,
            auth: config.historyRemote.auth,
            remoteBranch: config.historyRemote.branch,
            // A standby continues from what was pushed: push soon, so little is recorded twice locally.
            ...(elector ? { intervalMs: 2000 } : {}),
          },
        });
        recorder = opened;
        // Read at scrape time, for as long as this term's recorder runs.
        signal.addEventListener('abort', audit.countQueuedWith(() => opened.stats().queued), { once: true });
        const fromRevision = await recorder.lastStoreRevision();
        parts.push(startAuditFeed({ store, recorder, logger: logger.child({ component: 'audit' }), fromRevision, signal }));
        progress(`audit trail ready (${paths.history}, branch status)`);
      }
      const health = notifier && components.sync
        ? new HealthNotifications({
          store, notify: (n) => notifier.notify(n), logger: logger.child({ component: 'notify' }), ...(source ? { repo: source.display } : {}),
          // The sync loop's watch-fed cache holds every declarable kind: no store listing per look.
          ...(live ? { assess: assessFrom(store, live) } : {}),
        })
        : undefined;
      if (health) parts.push(health.run(signal));
      if (components.sync && source && live) {
        const display = source.display;
        sync = new SyncLoop({
          source: source.source,
          store,
          recorder,
          metrics,
          logger: logger.child({ component: 'sync' }),
          ref: config.ref,
          intervalMs: config.intervalMs,
          describe: { repo: source.display, ref: config.ref, path: config.path },
          live,
          ...(notifier ? { onEvent: (e: SyncEvent) => notifySync(e, { notifier, health, repo: display }) } : {}),
          ...(config.syncWindows?.length ? { syncWindows: config.syncWindows } : {}),
          decryptor,
          verifier,
        });
        if (elector) {
          const loop = sync;
          await loop.resumeRecord();
          parts.push(serveSyncRequests({ store, sync: loop, identity, logger: logger.child({ component: 'sync' }), signal }));
          // A new leader syncs at once: a push the old one never saw must not wait for the poll.
          if (polling) loop.start(signal, { immediate: true });
          else void loop.trigger('takeover');
        }
      }
      if (components.controllers) {
        const eventLog = logger.child({ component: 'events' });
        controllers = createControllerManager(store, {
          log: logger.child({ component: 'controllers' }),
          serviceCidr: config.serviceCidr,
          ...(security?.tls ? { rootCA: security.tls.ca } : {}),
          ...(apiEndpoint ? { apiEndpoint } : {}),
          ...config.controllers,
          ...(usage ? { resourceMetrics: usage } : {}),
          events: (name) => new EventRecorder({ store, component: `${name}-controller`, logger: eventLog }),
          metrics,
        });
        // The kubernetes Service before any pod: its containers get KUBERNETES_SERVICE_* at start.
        await new ApiServiceController({ serviceCidr: config.serviceCidr, ...(apiEndpoint ? { apiEndpoint } : {}) })
          .ensure(store, { read: (ref) => store.get(ref), origin: { actor: 'controller/apiservice' } })
          // Its controller tries again; a start is no reason to fail.
          .catch((err: unknown) => logger.warn({ err: errorMessage(err) }, 'the kubernetes Service could not be written yet'));
        await controllers.start(signal);
        // As k3s does: a default StorageClass, unless one of that name is already there.
        if (await ensureDefaultStorageClass(store)) logger.info('created the default StorageClass local-path (provisioner gantry.dev/local-path)');
        // Events are kept an hour, as the API server's default TTL.
        const sweep = setInterval(() => void sweepEvents(store).catch((err: unknown) => eventLog.warn({ err: errorMessage(err) }, 'event sweep failed')), 60_000);
        sweep.unref();
        signal.addEventListener('abort', () => clearInterval(sweep), { once: true });
        progress('controllers running (Deployment, ReplicaSet, garbage collector, …)');
      }
      if (components.scheduler) {
        const scheduler = new Scheduler({ store, logger: logger.child({ component: 'scheduler' }), events: new EventRecorder({ store, component: 'default-scheduler', logger: logger.child({ component: 'events' }) }), metrics });
        parts.push(scheduler.start(signal));
        progress('scheduler running');
      }
    } catch (err) {
      await stopWork().catch(() => undefined);
      throw err;
    }
    return { sync, recorder, signal, stop: stopWork };
  };

  const syncTrigger: SyncTrigger | undefined = components.sync
    ? {
        // The leader runs the pass; a standby (or a process still starting) asks whoever leads.
        trigger: (reason, request) => (work?.sync ? work.sync.trigger(reason, request) : new ForwardingSyncTrigger(store).trigger(reason, request)),
      }
    : undefined;

  try {
    progress(`store ready (${config.store && config.store !== 'sqlite' ? config.store : paths.store}, revision ${await store.revision()})`);

    if (components.sync) {
      // Trusted keys are read before anything else starts: a bad key file stops gantry at once.
      if (config.verifyCommits) {
        verifier = new CommitVerifier(await loadTrustedKeys(config.verifyCommits.trustedKeys));
        progress(`verifying commit signatures (${verifier.describe()} from ${config.verifyCommits.trustedKeys})`);
      }
      decryptor = new SopsDecryptor({ dataDir: config.dataDir });
      source = await openSource(config, { logger: logger.child({ component: 'source' }), metrics });
      // Kept for the process's life, so a standby that takes over plans from a warm cache.
      live = new Cache(store, DECLARABLE_KINDS, { log: logger.child({ component: 'sync-cache' }) });
      await live.start(ac.signal);
    }

    // One view of Services and Endpoints (and what else the node and the ingress read) for both.
    const ingressHttp = components.ingress ? listenOrOff(config.ingress?.http ?? DEFAULT_INGRESS_HTTP, '--ingress-listen') : undefined;
    const ingressHttps = ingressHttp ? listenOrOff(config.ingress?.https ?? DEFAULT_INGRESS_HTTPS, '--ingress-tls-listen') : undefined;
    if (components.agent || ingressHttp) {
      services = new StoreServiceView({
        store,
        logger: logger.child({ component: 'services' }),
        extraKinds: [...(components.agent ? NODE_VIEW_KINDS : []), ...(ingressHttp ? ['Ingress', 'IngressClass', 'Secret'] : [])],
      });
      await services.start();
    }

    if (components.agent) {
      node = await startLocalNode({
        serviceView: services,
        store,
        logger,
        dataDir: config.dataDir,
        containerdSocket: config.containerdSocket,
        imagesDirs: [config.imagesDir, paths.images, bundledImagesDir()].filter((d): d is string => d !== undefined),
        nodeName: config.node?.name,
        network: config.node && { bridgeName: config.node.bridge, podCidr: config.node.podCidr },
        insecureRegistries: config.node?.insecureRegistries,
        serviceCidr: config.serviceCidr,
        ...(security ? { tokens: security.serviceAccounts } : {}),
        metrics,
        ...(usage ? { usage } : {}),
        ...(config.node?.metricResolutionMs !== undefined ? { usagePeriodMs: config.node.metricResolutionMs } : {}),
        ...opts.node,
      });
      progress(`node agent running on node ${node.nodeName} (containerd ${node.containerdAddress})`);
      streams = await openLocalPodStreams({ containerdAddress: node.containerdAddress, nodeName: node.nodeName, nodeDir: join(config.dataDir, 'node') });
      // Reads the network records the agent's manager keeps (pod namespace and IP); changes nothing.
      podPorts = new LocalPodPorts({ getPod: (namespace, name) => store.get<Pod>({ kind: 'Pod', namespace, name }), network: new CniNetworkManager({ dataDir: join(config.dataDir, 'node') }), nodeName: node.nodeName });
    }

    const dashboardDir = listen ? builtDashboardDir() : undefined;
    if (listen) {
      api = createApiServer({
        store, logger, sync: syncTrigger, recorder: () => work?.recorder, webhookSecret: config.webhookSecret, branch: config.ref, metrics, repo: config.repo,
        tokens: security!.tokens, ...(security!.tls ? { tls: security!.tls } : {}), serviceAccounts: security!.serviceAccounts, kubelet: security!.kubelet,
        ...(streams ? { streams } : {}),
        ...(podPorts ? { portForward: podPorts } : {}),
        ...(source ? { source: source.source } : {}),
        ...(decryptor ? { decryptor } : {}),
        ...(dashboardDir ? { dashboardDir } : {}),
        ...(usage ? { usage } : {}),
        ...(elector ? { controlPlane: async () => ({ identity, leading: elector.isLeader, leader: (await elector.leader().catch(() => undefined))?.identity }) } : {}),
      });
      const [host, port] = listen;
      await api.listen({ host, port });
      const addr = api.server.address() as AddressInfo;
      apiUrl = `${security!.tls ? 'https' : 'http'}://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
      kubeconfig = await writeAdminKubeconfig(config.dataDir, security!, clientUrl(apiUrl));
      progress(`API listening on ${apiUrl} (kubectl --kubeconfig ${kubeconfig}); push webhook: POST ${apiUrl}${WEBHOOK_PATH}`);
      if (config.advertiseAddress) apiEndpoint = { ip: config.advertiseAddress, port: addr.port };
      else if (!isLoopbackHost(host)) {
        const ip = host === '0.0.0.0' || host === '::' || host === '' ? readMachine().internalIP : host;
        if (ip && isIpv4(ip)) apiEndpoint = { ip, port: addr.port };
      } else if (node && security!.tls) {
        // Pods cannot reach a loopback address: this node's pods get the API on their bridge, which
        // nothing off this machine reaches (plain HTTP never leaves loopback, so only with TLS).
        // The API's own port when free there, so the address is the same across restarts.
        podsApi = await listenAlso(api, { host: node.gatewayIP, port: addr.port, tls: security!.tls })
          .catch(() => listenAlso(api!, { host: node!.gatewayIP, port: 0, tls: security!.tls }));
        apiEndpoint = { ip: podsApi.address.host, port: podsApi.address.port };
      }
      if (!apiEndpoint) logger.warn({ listen: config.listen }, 'pods cannot reach the API through the kubernetes Service: it listens on loopback only; set --advertise-address, or --listen on an address pods reach');
      if (dashboardDir) progress(`dashboard on ${clientUrl(apiUrl)}${DASHBOARD_PATH} (sign in with the token in ${kubeconfig})`);
      else logger.warn('the web dashboard is not built (run `npm run build`): /dashboard/ answers 503');
    }

    if (ingressHttp && services) {
      const controller = new IngressController({ store, view: services, logger: logger.child({ component: 'ingress' }), http: ingressHttp, https: ingressHttps });
      ingress = controller;
      await controller.start();
      progress(`ingress listening on http://${controller.addresses.http}${controller.addresses.https ? ` and https://${controller.addresses.https}` : ''} (IngressClass ${INGRESS_CLASS})`);
    }

    if (!elector) {
      if (needsLeader) work = await startLeaderWork(ac.signal);
    } else {
      if (!config.historyRemote && components.audit) {
        logger.warn('several servers on one etcd keep one audit trail only through a history remote (--history-remote); without it each server records only its own terms');
      }
      const current = await elector.leader().catch(() => undefined);
      if (current && current.identity !== identity) progress(`standby: ${current.identity} leads the control plane; this server takes over when it stops`);
      let firstTerm!: () => void;
      const firstTermStarted = new Promise<void>((resolve) => (firstTerm = resolve));
      background.push(elector.run(async (leading) => {
        try {
          work = await startLeaderWork(leading);
        } finally {
          firstTerm();
        }
        progress(`leading the control plane (${identity})`);
        for (const wake of leadingWaiters) wake();
        leadingWaiters = [];
        await new Promise<void>((resolve) => (leading.aborted ? resolve() : leading.addEventListener('abort', () => resolve(), { once: true })));
        const ending = work;
        work = undefined;
        await ending.stop();
        if (!ac.signal.aborted) logger.warn({ identity }, 'no longer leading the control plane; standing by');
      }, ac.signal));
      // Lead at once when nobody else does, so `gantry server`'s first pass runs here.
      if (!current) await Promise.race([firstTermStarted, new Promise((r) => setTimeout(r, 5000))]);
    }
  } catch (err) {
    // Whatever came up before the failure (watches, the audit feed, a node agent and its
    // containerd) would otherwise keep the process alive after the error is reported.
    await stop().catch((stopErr: unknown) => logger.warn({ err: errorMessage(stopErr) }, 'stopping after a failed start failed'));
    throw err;
  }

  return {
    store,
    get recorder() {
      return work?.recorder;
    },
    get sync() {
      return work?.sync;
    },
    get leading() {
      return elector ? elector.isLeader && work !== undefined : true;
    },
    whenLeading() {
      if (!elector || (elector.isLeader && work)) return Promise.resolve();
      return new Promise<void>((resolve) => leadingWaiters.push(resolve));
    },
    apiUrl,
    ...(kubeconfig ? { kubeconfig } : {}),
    ...(security?.tls ? { ca: security.tls.ca } : {}),
    node,
    ...(ingress ? { ingress: ingress.addresses } : {}),
    startPolling() {
      if (polling) return;
      polling = true;
      work?.sync?.start(work.signal, { immediate: false });
    },
    stop,
  };
}

/** The ingress controller's default HTTP and HTTPS addresses. */
export const DEFAULT_INGRESS_HTTP = '127.0.0.1:8080';
export const DEFAULT_INGRESS_HTTPS = '127.0.0.1:8443';

/** `off` (or empty) → undefined; else host:port as {@link splitListen}, errors naming `flag`. */
export function listenOrOff(value: string, flag: string): [string, number] | undefined {
  if (value === '' || value === 'off') return undefined;
  try {
    return splitListen(value);
  } catch {
    throw new GantryError('InvalidArgument', `${flag}: "${value}" is not host:port or off`);
  }
}

/** The URL clients use: a server listening on every interface is reached on loopback. */
function clientUrl(url: string): string {
  return url.replace('//0.0.0.0:', '//127.0.0.1:').replace('//[::]:', '//[::1]:');
}

/** A sync pass's outcome as a notification; an applied revision's rollout is then watched. */
function notifySync(e: SyncEvent, to: { notifier: Notifier; health?: HealthNotifications; repo: string }): void {
  const base = { at: new Date().toISOString(), revision: e.revision.commit, repo: to.repo };
  const short = e.revision.commit.slice(0, 7);
  if (e.type === 'applied') {
    const s = e.summary;
    to.notifier.notify({ ...base, type: 'applied', message: `revision ${short} applied: ${s.created} created, ${s.updated} updated, ${s.pruned} pruned`, summary: s });
    to.health?.applied(e.revision.commit);
  } else {
    const first = e.issues[0];
    to.notifier.notify({
      ...base, type: 'rejected',
      message: `revision ${short} rejected: ${first ? formatIssue(first) : e.message}`,
      issues: e.issues.map((i) => ({ file: i.file, ...(i.line !== undefined ? { line: i.line } : {}), ...(i.object ? { object: i.object } : {}), message: i.message })),
    });
  }
}

/** The app's health from a watch-fed cache of the declarable kinds (and the Sync object from the store). */
function assessFrom(store: Store, live: Cache): () => Promise<AppHealth> {
  return async () => {
    const sync = await store.get<SyncObject>({ kind: 'Sync', name: SYNC_NAME });
    return assessApp({ sync: sync ?? undefined, objects: DECLARABLE_KINDS.flatMap((k) => live.list(k)) });
  };
}
