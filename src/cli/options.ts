/**
 * Shared command-line options and their mapping to a {@link GantryConfig}.
 *
 * commander parses the command line: it is small, well kept, typed, and gives subcommands,
 * help and option defaults from the environment without hand-written parsing.
 */
import { Option, type Command } from 'commander';
import { authFromEnv, dataPaths, defaultDataDir, historyAuthFromEnv, parseDuration, type ControllerConfig, type GantryConfig } from '../config.js';
import { GantryError } from '../errors.js';
import { isIpv4, parseCidr } from '../model/cidr.js';
import { checkNotifyUrl, type NotifyConfig } from '../notify/config.js';
import { parseSyncWindow, type SyncWindow } from '../sync/windows.js';

/** Options every command that touches the data directory takes. */
export interface DataDirOptions {
  dataDir: string;
}

/** Options of commands that follow a repo (up, server, sync). */
export interface SourceOptions extends DataDirOptions {
  repo?: string;
  ref?: string;
  path?: string;
  interval: string;
  listen: string;
  insecureHttp?: boolean;
  tlsSan?: string;
  advertiseAddress?: string;
  webhookSecret?: string;
  containerdSocket?: string;
  imagesDir?: string;
  historyRemote?: string;
  historyBranch?: string;
  nodeName?: string;
  podCidr?: string;
  serviceCidr?: string;
  clusterCidr?: string;
  nodeMonitorGracePeriod?: string;
  podEvictionTimeout?: string;
  metricResolution?: string;
  horizontalPodAutoscalerSyncPeriod?: string;
  horizontalPodAutoscalerDownscaleStabilization?: string;
  ingressListen?: string;
  ingressTlsListen?: string;
  bridge?: string;
  insecureRegistries?: string;
  logLevel?: string;
  store?: string;
  etcdCa?: string;
  etcdCert?: string;
  etcdKey?: string;
  leaderIdentity?: string;
  leaderLease?: string;
  notifyWebhook?: string;
  notifyWebhookSecret?: string;
  commitStatus?: 'github' | 'gitlab';
  commitStatusUrl?: string;
  commitStatusRepo?: string;
  syncWindow?: string[];
  verifyCommits?: boolean;
  trustedKeys?: string;
}

/** Adds `--data-dir`. */
export function withDataDir(cmd: Command): Command {
  return cmd.addOption(
    new Option('--data-dir <dir>', 'where gantry keeps its state').env('GANTRY_DATA_DIR').default(defaultDataDir()),
  );
}

/** Adds the options of commands that follow a repo. */
export function withSourceOptions(cmd: Command, opts: { repoDescription: string }): Command {
  return withDataDir(cmd)
    .addOption(new Option('--repo <url-or-path>', opts.repoDescription).env('GANTRY_REPO'))
    .addOption(new Option('--ref <ref>', 'branch to follow, or tag or commit to pin (default: main)').env('GANTRY_REF'))
    .addOption(new Option('--path <dir>', 'subdirectory of the repo holding the manifests').env('GANTRY_PATH'))
    .addOption(new Option('--interval <duration>', 'poll interval (0 disables polling)').env('GANTRY_INTERVAL').default('30s'))
    .addOption(new Option('--listen <host:port>', 'API and webhook address').env('GANTRY_LISTEN').default('127.0.0.1:7480'))
    .addOption(new Option('--insecure-http', 'serve the API over plain HTTP (loopback --listen only; tokens are still required)').env('GANTRY_INSECURE_HTTP'))
    .addOption(new Option('--tls-san <names>', 'comma-separated extra DNS names or IPs for the API\'s serving certificate').env('GANTRY_TLS_SAN'))
    .addOption(new Option('--advertise-address <ip>', 'where pods reach the API through the kubernetes Service (default: the --listen address, or this machine\'s when listening on all)').env('GANTRY_ADVERTISE_ADDRESS'))
    .addOption(new Option('--webhook-secret <secret>', 'shared secret for push webhooks (GitHub HMAC or GitLab token)').env('GANTRY_WEBHOOK_SECRET'))
    .addOption(new Option('--containerd-socket <path>', 'use this containerd instead of starting a private one').env('GANTRY_CONTAINERD_SOCKET'))
    .addOption(new Option('--images-dir <dir>', 'air-gap images (OCI layouts or tarballs) imported at start').env('GANTRY_IMAGES_DIR'))
    .addOption(new Option('--node-name <name>', 'this node\'s name (default: the hostname)').env('GANTRY_NODE_NAME'))
    .addOption(new Option('--pod-cidr <cidr>', 'the node\'s pod network (default 10.244.0.0/24)').env('GANTRY_POD_CIDR'))
    .addOption(new Option('--service-cidr <cidr>', 'where Services get their cluster IPs (default 10.96.0.0/16)').env('GANTRY_SERVICE_CIDR'))
    .addOption(new Option('--cluster-cidr <cidr>', 'nodes get their pod networks (/24s) out of this one (default 10.244.0.0/16)').env('GANTRY_CLUSTER_CIDR'))
    .addOption(new Option('--node-monitor-grace-period <seconds>', 'a node silent this long is marked unreachable (default 50)').env('GANTRY_NODE_MONITOR_GRACE_PERIOD'))
    .addOption(new Option('--pod-eviction-timeout <seconds>', 'pods on an unreachable or NotReady node are replaced elsewhere after this long (default 300)').env('GANTRY_POD_EVICTION_TIMEOUT'))
    .addOption(new Option('--metric-resolution <duration>', 'how often the node reports its pods\' CPU and memory use, for autoscalers and kubectl top (default 15s)').env('GANTRY_METRIC_RESOLUTION'))
    .addOption(new Option('--horizontal-pod-autoscaler-sync-period <duration>', 'how often each HorizontalPodAutoscaler is computed (default 15s)').env('GANTRY_HORIZONTAL_POD_AUTOSCALER_SYNC_PERIOD'))
    .addOption(new Option('--horizontal-pod-autoscaler-downscale-stabilization <duration>', 'how far back a scale-down looks for higher recommendations, for autoscalers that set no window (default 5m)').env('GANTRY_HORIZONTAL_POD_AUTOSCALER_DOWNSCALE_STABILIZATION'))
    .addOption(new Option('--ingress-listen <host:port>', 'the ingress controller\'s HTTP address, or off (default 127.0.0.1:8080)').env('GANTRY_INGRESS_LISTEN'))
    .addOption(new Option('--ingress-tls-listen <host:port>', 'the ingress controller\'s HTTPS address, or off (default 127.0.0.1:8443)').env('GANTRY_INGRESS_TLS_LISTEN'))
    .addOption(new Option('--bridge <name>', 'the pods\' Linux bridge (default gantry0)').env('GANTRY_BRIDGE'))
    .addOption(new Option('--insecure-registries <hosts>', 'comma-separated registries pulled over plain HTTP').env('GANTRY_INSECURE_REGISTRIES'))
    .addOption(new Option('--history-remote <url>', 'push the audit trail (status branch) to this http(s) Git remote').env('GANTRY_HISTORY_REMOTE'))
    .addOption(new Option('--history-branch <branch>', 'branch on the history remote (default: status)').env('GANTRY_HISTORY_BRANCH'))
    .addOption(new Option('--store <spec>', 'where actual state lives: sqlite (default, in the data dir) or etcd://host:2379[,host:2379] (etcds:// for TLS)').env('GANTRY_STORE'))
    .addOption(new Option('--etcd-ca <file>', 'CA bundle (PEM) that signed the etcd servers\' certificates').env('GANTRY_ETCD_CA'))
    .addOption(new Option('--etcd-cert <file>', 'client certificate (PEM) for etcd').env('GANTRY_ETCD_CERT'))
    .addOption(new Option('--etcd-key <file>', 'client key (PEM) for etcd').env('GANTRY_ETCD_KEY'))
    .addOption(new Option('--leader-identity <name>', 'this server in the leader election of servers on one etcd (default: hostname/pid)').env('GANTRY_LEADER_IDENTITY'))
    .addOption(new Option('--leader-lease <duration>', 'how long a dead leader holds the standbys back at most (default 10s)').env('GANTRY_LEADER_LEASE'))
    .addOption(new Option('--notify-webhook <url>', 'POST a JSON notification here on each revision applied or rejected and when the app degrades or recovers').env('GANTRY_NOTIFY_WEBHOOK'))
    .addOption(new Option('--notify-webhook-secret <secret>', 'sign notifications: X-Gantry-Signature-256: sha256=<HMAC of the body>').env('GANTRY_NOTIFY_WEBHOOK_SECRET'))
    .addOption(new Option('--commit-status <host>', 'set a commit status on each revision (token in GANTRY_COMMIT_STATUS_TOKEN)').choices(['github', 'gitlab']).env('GANTRY_COMMIT_STATUS'))
    .addOption(new Option('--commit-status-url <url>', 'the Git host\'s API (default https://api.github.com or https://gitlab.com/api/v4)').env('GANTRY_COMMIT_STATUS_URL'))
    .addOption(new Option('--commit-status-repo <repo>', 'owner/name (GitLab: project id or path); default: from --repo').env('GANTRY_COMMIT_STATUS_REPO'))
    .addOption(new Option('--sync-window <window>', 'a sync window, repeatable: \'deny 0 22 * * * 8h\' or \'allow 0 9 * * 1-5 8h\' (cron in UTC, then a duration; add manual to let gantry sync --now --force through, tz=ZONE for another zone); GANTRY_SYNC_WINDOWS takes several separated by ;')
      .argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]))
    .addOption(new Option('--verify-commits', 'apply only commits signed by a trusted key (see --trusted-keys)').env('GANTRY_VERIFY_COMMITS'))
    .addOption(new Option('--trusted-keys <file-or-dir>', 'armored OpenPGP public keys and SSH allowed_signers files (default <data-dir>/trusted-keys)').env('GANTRY_TRUSTED_KEYS'))
    .addOption(new Option('--log-level <level>', 'trace, debug, info, warn, error').env('GANTRY_LOG_LEVEL').default('info'));
}

/** `--notify-webhook…` and `--commit-status…` as a {@link NotifyConfig}, checked. */
function notifyConfig(o: SourceOptions): { notifications?: NotifyConfig } {
  if (o.notifyWebhookSecret && !o.notifyWebhook) throw new GantryError('InvalidArgument', '--notify-webhook-secret needs --notify-webhook', { field: '--notify-webhook' });
  if ((o.commitStatusUrl || o.commitStatusRepo) && !o.commitStatus) throw new GantryError('InvalidArgument', '--commit-status-url and --commit-status-repo need --commit-status github|gitlab', { field: '--commit-status' });
  const n: NotifyConfig = {};
  if (o.notifyWebhook) n.webhook = { url: checkNotifyUrl(o.notifyWebhook, '--notify-webhook'), ...(o.notifyWebhookSecret ? { secret: o.notifyWebhookSecret } : {}) };
  if (o.commitStatus) {
    const token = process.env.GANTRY_COMMIT_STATUS_TOKEN ?? '';
    if (!token) throw new GantryError('InvalidArgument', `--commit-status ${o.commitStatus} needs a token in GANTRY_COMMIT_STATUS_TOKEN`, { field: 'GANTRY_COMMIT_STATUS_TOKEN' });
    n.commitStatus = {
      provider: o.commitStatus, token,
      ...(o.commitStatusUrl ? { apiUrl: checkNotifyUrl(o.commitStatusUrl, '--commit-status-url') } : {}),
      ...(o.commitStatusRepo ? { repo: o.commitStatusRepo } : {}),
    };
  }
  return n.webhook || n.commitStatus ? { notifications: n } : {};
}

/** `--sync-window` flags, else `GANTRY_SYNC_WINDOWS` (`;`-separated), parsed; bad ones are refused naming the window. */
function syncWindows(o: SourceOptions): { syncWindows?: SyncWindow[] } {
  const texts = o.syncWindow?.length ? o.syncWindow : (process.env.GANTRY_SYNC_WINDOWS ?? '').split(';').map((t) => t.trim()).filter((t) => t !== '');
  const where = o.syncWindow?.length ? '--sync-window' : 'GANTRY_SYNC_WINDOWS';
  return texts.length ? { syncWindows: texts.map((t) => parseSyncWindow(t, where)) } : {};
}

/** The configuration for a command that follows `repo`. */
export function configFrom(o: SourceOptions, repo: string): GantryConfig {
  return {
    dataDir: o.dataDir,
    repo,
    ref: o.ref,
    path: o.path,
    auth: authFromEnv(),
    intervalMs: parseDuration(o.interval, '--interval'),
    listen: o.listen,
    ...(o.insecureHttp ? { insecureHttp: true } : {}),
    ...(o.tlsSan ? { tlsSans: o.tlsSan.split(',').map((n) => n.trim()).filter((n) => n !== '') } : {}),
    ...(o.advertiseAddress ? { advertiseAddress: advertiseAddress(o.advertiseAddress) } : {}),
    webhookSecret: o.webhookSecret,
    containerdSocket: o.containerdSocket,
    imagesDir: o.imagesDir,
    serviceCidr: o.serviceCidr,
    ...controllerConfig(o),
    ...(o.ingressListen !== undefined || o.ingressTlsListen !== undefined ? { ingress: { http: o.ingressListen, https: o.ingressTlsListen } } : {}),
    node: {
      name: o.nodeName,
      podCidr: o.podCidr,
      bridge: o.bridge,
      insecureRegistries: o.insecureRegistries?.split(',').map((h) => h.trim()).filter((h) => h !== ''),
      ...(o.metricResolution !== undefined ? { metricResolutionMs: positiveDuration(o.metricResolution, '--metric-resolution') } : {}),
    },
    historyRemote: o.historyRemote ? { url: o.historyRemote, branch: o.historyBranch, auth: historyAuthFromEnv() } : undefined,
    ...(o.store ? { store: o.store } : {}),
    ...(o.etcdCa || o.etcdCert || o.etcdKey ? { etcdTls: { ca: o.etcdCa, cert: o.etcdCert, key: o.etcdKey } } : {}),
    ...notifyConfig(o),
    ...syncWindows(o),
    ...(o.leaderIdentity || o.leaderLease ? { leaderElection: { identity: o.leaderIdentity, leaseSeconds: o.leaderLease ? leaseSeconds(o.leaderLease) : undefined } } : {}),
    ...verifyConfig(o),
  };
}

/** `--advertise-address`: an IPv4 address (the `kubernetes` Endpoints hold it). */
function advertiseAddress(text: string): string {
  const ip = text.trim();
  if (!isIpv4(ip)) throw new GantryError('InvalidArgument', `--advertise-address: "${text}" is not an IPv4 address`);
  return ip;
}

/** `--verify-commits` and `--trusted-keys`; keys without verification would protect nothing, so that is refused. */
function verifyConfig(o: SourceOptions): Pick<GantryConfig, 'verifyCommits'> {
  if (!o.verifyCommits) {
    if (o.trustedKeys) throw new GantryError('InvalidArgument', '--trusted-keys has no effect without --verify-commits');
    return {};
  }
  return { verifyCommits: { trustedKeys: o.trustedKeys ?? dataPaths(o.dataDir).trustedKeys } };
}

/** `--leader-lease`: a duration of whole seconds, at least 2 (etcd's lease TTLs are whole seconds). */
function leaseSeconds(text: string): number {
  const ms = parseDuration(text, '--leader-lease');
  if (ms < 2000 || ms % 1000 !== 0) throw new GantryError('InvalidArgument', `--leader-lease: "${text}" must be whole seconds, at least 2s`);
  return ms / 1000;
}

/** `--cluster-cidr`, `--node-monitor-grace-period` and `--pod-eviction-timeout`, checked. */
function controllerConfig(o: SourceOptions): { controllers?: ControllerConfig } {
  const c: ControllerConfig = {};
  if (o.clusterCidr !== undefined) {
    parseCidr(o.clusterCidr, '--cluster-cidr');
    c.clusterCidr = o.clusterCidr;
  }
  if (o.nodeMonitorGracePeriod !== undefined) c.nodeMonitorGracePeriodMs = seconds(o.nodeMonitorGracePeriod, '--node-monitor-grace-period');
  if (o.podEvictionTimeout !== undefined) c.podEvictionTimeoutMs = seconds(o.podEvictionTimeout, '--pod-eviction-timeout');
  const hpa: NonNullable<ControllerConfig['horizontalPodAutoscaler']> = {};
  if (o.horizontalPodAutoscalerSyncPeriod !== undefined) hpa.syncPeriodMs = positiveDuration(o.horizontalPodAutoscalerSyncPeriod, '--horizontal-pod-autoscaler-sync-period');
  if (o.horizontalPodAutoscalerDownscaleStabilization !== undefined) {
    hpa.downscaleStabilizationMs = parseDuration(o.horizontalPodAutoscalerDownscaleStabilization, '--horizontal-pod-autoscaler-downscale-stabilization');
  }
  if (Object.keys(hpa).length > 0) c.horizontalPodAutoscaler = hpa;
  return Object.keys(c).length > 0 ? { controllers: c } : {};
}

/** A duration flag that must be more than zero. */
export function positiveDuration(text: string, flag: string): number {
  const ms = parseDuration(text, flag);
  if (ms <= 0) throw new GantryError('InvalidArgument', `${flag}: "${text}" must be more than zero`);
  return ms;
}

function seconds(text: string, flag: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n <= 0) throw new GantryError('InvalidArgument', `${flag} "${text}" is not a positive number of seconds`);
  return Math.round(n * 1000);
}
