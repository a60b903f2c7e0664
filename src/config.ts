/**
 * gantry's configuration: command-line flags over environment variables over defaults.
 * Every setting has a flag and a `GANTRY_*` variable; the data directory holds the rest.
 */
import type { NotifyConfig } from './notify/config.js';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { GantryError } from './errors.js';
import type { SyncWindow } from './sync/windows.js';

/** Credentials for a Git remote over http(s). */
export type GitAuth = { username: string; password: string } | { token: string };

/** Everything a gantry process needs to know. */
export interface GantryConfig {
  /** Where the store, the source cache, the audit repo and containerd's state live. */
  dataDir: string;
  /** The desired-state repo: an http(s) URL or a local path. */
  repo: string;
  /** Branch to follow, or a tag or commit to pin. Default: the repo's default branch (`main`). */
  ref?: string;
  /** Subdirectory of the repo holding the manifests. */
  path?: string;
  auth?: GitAuth;
  /** Poll interval in ms; 0 disables polling. */
  intervalMs: number;
  /** host:port the API (and webhook) listens on. */
  listen: string;
  /**
   * Serve the API over plain HTTP instead of HTTPS. Only for a loopback `listen`: tokens would
   * cross the network in the clear otherwise.
   */
  insecureHttp?: boolean;
  /** Extra names (DNS or IP) the API's serving certificate covers, for clients reaching it by another address. */
  tlsSans?: string[];
  /**
   * The address pods reach the API at, through the `kubernetes` Service (its Endpoints). Default:
   * the `listen` address; this machine's first address when listening on every interface; with a
   * loopback `listen` and a local node, the pod bridge's address, where gantry also serves the API.
   */
  advertiseAddress?: string;
  webhookSecret?: string;
  /** containerd socket to use; a private containerd is started when absent. */
  containerdSocket?: string;
  /** Air-gap images directory imported at start. */
  imagesDir?: string;
  /** The ingress controller's addresses (`host:port` or `off`); default 127.0.0.1:8080 and :8443. */
  ingress?: { http?: string; https?: string };
  /** Services' cluster IPs come from this network; default 10.96.0.0/16. */
  serviceCidr?: string;
  /** Controller settings: the cluster's pod network and node failure timing. */
  controllers?: ControllerConfig;
  /** The local node: its name, pod network, and registries it may reach over plain HTTP. */
  node?: NodeConfig;
  /** Where actual state lives: `sqlite` (default, `<data-dir>/state.db`) or `etcd://host:2379[,…]` / `etcds://…`. */
  store?: string;
  /** PEM files for an `etcds://` store: CA bundle, client certificate and key. */
  etcdTls?: { ca?: string; cert?: string; key?: string };
  /** Push the audit trail's status branch to this http(s) remote (never the watched branch). */
  historyRemote?: { url: string; branch?: string; auth?: GitAuth };
  /**
   * Servers on an etcd store elect one leader, which alone runs the sync loop, controllers,
   * scheduler and audit recorder. `identity` names this server (default `<hostname>/<pid>`);
   * `leaseSeconds` is how long a dead leader holds the others back at most (default 10).
   */
  leaderElection?: { identity?: string; leaseSeconds?: number };
  /** Outbound notifications: a webhook and/or Git host commit statuses. */
  notifications?: NotifyConfig;
  /** Argo CD-style sync windows: automatic syncs wait outside allow windows and inside deny windows. */
  syncWindows?: SyncWindow[];
  /**
   * Apply only revisions whose commit is signed by one of the keys at `trustedKeys` (a file or a
   * directory of armored OpenPGP public keys and SSH allowed_signers files).
   */
  verifyCommits?: { trustedKeys: string };
}

/** Settings of the control plane's controllers (each unset one keeps its default). */
export interface ControllerConfig {
  /** Nodes get their pod CIDRs (/24s) out of this network; default 10.244.0.0/16. */
  clusterCidr?: string;
  /** Time without a node heartbeat before the node is unreachable; default 50 s. */
  nodeMonitorGracePeriodMs?: number;
  /** Time pods stay on an unreachable or NotReady node before they are evicted; default 300 s. */
  podEvictionTimeoutMs?: number;
  /**
   * The horizontal pod autoscaler controller (Kubernetes' `--horizontal-pod-autoscaler-*`):
   * how often each autoscaler is computed (default 15 s), the scale-down window of those that set
   * none (default 300 s), the tolerance (0.1), the CPU initialization period (5 min) and the
   * initial readiness delay (30 s).
   */
  horizontalPodAutoscaler?: {
    syncPeriodMs?: number;
    downscaleStabilizationMs?: number;
    tolerance?: number;
    cpuInitializationPeriodMs?: number;
    initialReadinessDelayMs?: number;
  };
}

/** Settings of the local node agent. */
export interface NodeConfig {
  /** Node name; default the machine's hostname. */
  name?: string;
  /** The node's pod CIDR; default 10.244.0.0/24. */
  podCidr?: string;
  /** Linux bridge for pods; default gantry0. Two gantries on one machine need different ones. */
  bridge?: string;
  /** Registry hosts (host[:port]) pulled from over plain HTTP; loopback registries always are. */
  insecureRegistries?: string[];
  /** How often the node reports its pods' usage (metrics-server's resolution); default 15 s. */
  metricResolutionMs?: number;
}

/** The default data directory: `GANTRY_DATA_DIR`, else /var/lib/gantry for root, else XDG. */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.GANTRY_DATA_DIR) return resolve(env.GANTRY_DATA_DIR);
  if (process.getuid?.() === 0) return '/var/lib/gantry';
  return join(env.XDG_DATA_HOME ?? join(homedir(), '.local', 'share'), 'gantry');
}

/**
 * Parses a duration as flags take it: "30s", "2m", "500ms", "1h", or a bare number of seconds.
 * Throws InvalidArgument naming the flag.
 */
export function parseDuration(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new GantryError('InvalidArgument', `${flag}: "${text}" is not a duration (examples: 30s, 2m, 500ms)`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  return Math.round(n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit]!);
}

/** Git credentials from the environment, if any. */
export function authFromEnv(env: NodeJS.ProcessEnv = process.env): GitAuth | undefined {
  return credentialsFromEnv('GANTRY_GIT', env);
}

/** Credentials for pushing the audit trail, from `GANTRY_HISTORY_TOKEN` or `GANTRY_HISTORY_USERNAME`/`_PASSWORD`. */
export function historyAuthFromEnv(env: NodeJS.ProcessEnv = process.env): GitAuth | undefined {
  return credentialsFromEnv('GANTRY_HISTORY', env);
}

/** `<prefix>_TOKEN`, else `<prefix>_USERNAME` and `<prefix>_PASSWORD`. */
function credentialsFromEnv(prefix: string, env: NodeJS.ProcessEnv): GitAuth | undefined {
  const token = env[`${prefix}_TOKEN`];
  if (token) return { token };
  const username = env[`${prefix}_USERNAME`];
  if (username) return { username, password: env[`${prefix}_PASSWORD`] ?? '' };
  return undefined;
}

/** Files inside the data directory. */
export function dataPaths(dataDir: string) {
  return {
    store: join(dataDir, 'state.db'),
    history: join(dataDir, 'history.git'),
    /** The audit trail's Secret digest key (mode 0600). */
    historyKey: join(dataDir, 'history.key'),
    sourceCache: join(dataDir, 'source'),
    sampleRepo: join(dataDir, 'sample-repo'),
    containerd: join(dataDir, 'containerd'),
    images: join(dataDir, 'images'),
    logs: join(dataDir, 'logs'),
    kubeconfig: join(dataDir, 'kubeconfig'),
    tokens: join(dataDir, 'tokens.json'),
    /** The age identity `gantry secret keygen` writes and the sync loop decrypts SOPS files with. */
    ageKey: join(dataDir, 'age.key'),
    /** Where `--verify-commits` looks for trusted keys when `--trusted-keys` is not given. */
    trustedKeys: join(dataDir, 'trusted-keys'),
  };
}

/** "127.0.0.1:7480" → ["127.0.0.1", 7480]; ":7480" listens on all interfaces. Errors name `flag`. */
export function splitListen(listen: string, flag = '--listen'): [string, number] {
  const i = listen.lastIndexOf(':');
  const host = i <= 0 ? '0.0.0.0' : listen.slice(0, i).replace(/^\[|\]$/g, '');
  const port = Number(i < 0 ? listen : listen.slice(i + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new GantryError('InvalidArgument', `${flag}: "${listen}" is not host:port`);
  return [host, port];
}
