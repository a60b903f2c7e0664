/**
 * The API's security at start: the certificates (the API's, and the kubelet CA's for the agents'
 * endpoints), the token file, and an admin token handed out through `<data-dir>/kubeconfig`.
 */
import { existsSync } from 'node:fs';
import { dataPaths } from '../../config.js';
import { GantryError } from '../../errors.js';
import { readKubeconfig, writeKubeconfig } from './kubeconfig.js';
import { ensureServingPki, servingNames, type ServingPki } from './pki.js';
import { ADMIN_TOKEN_NAME, TokenFile } from './tokens.js';
import { apiServiceIp, DEFAULT_SERVICE_CIDR } from '../../model/cidr.js';
import { ServiceAccountTokens } from './sa-tokens.js';
import { ensureKubeletPki, type KubeletPki } from '../kubelet/pki.js';

export { installGuard } from './guard.js';
export { TokenFile, type Identity, type TokenRole } from './tokens.js';
export { readKubeconfig, writeKubeconfig, type KubeconfigEntry } from './kubeconfig.js';
export { ServiceAccountTokens } from './sa-tokens.js';

/** What the API server needs to serve securely. */
export interface ApiSecurity {
  tokens: TokenFile;
  /** Certificates for HTTPS; absent when serving plain HTTP (loopback opt-in). */
  tls?: ServingPki;
  /** The admin token's secret (kept only in the kubeconfig). */
  adminToken: string;
  /** Signs and checks service-account tokens (`<data-dir>/pki/sa.key`). */
  serviceAccounts: ServiceAccountTokens;
  /** The kubelet CA and the server's client certificate for its agents' kubelet endpoints. */
  kubelet: KubeletPki;
}

/** Options of {@link prepareApiSecurity}. */
export interface PrepareSecurityOptions {
  dataDir: string;
  /** The host the API listens on (its name goes into the serving certificate). */
  listenHost: string;
  insecureHttp?: boolean;
  tlsSans?: readonly string[];
  /** The service CIDR: the `kubernetes` Service's address goes into the serving certificate. */
  serviceCidr?: string;
}

/** The names pods use for the API (the `kubernetes` Service), which its certificate must cover. */
export function apiServiceNames(serviceCidr = DEFAULT_SERVICE_CIDR): string[] {
  return ['kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local', apiServiceIp(serviceCidr)];
}

/** Whether `host` is a loopback address, where plain HTTP never leaves the machine. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * Makes (first start) or loads the CA, the serving certificate and the admin token.
 * @throws GantryError InvalidArgument for plain HTTP on a non-loopback address.
 */
export async function prepareApiSecurity(o: PrepareSecurityOptions): Promise<ApiSecurity> {
  if (o.insecureHttp && !isLoopbackHost(o.listenHost)) {
    throw new GantryError('InvalidArgument', `--insecure-http: the API would listen on ${o.listenHost || 'every interface'} in plain HTTP, and tokens would cross the network in the clear; use it only with a loopback --listen (127.0.0.1:PORT), or drop it to serve HTTPS`, { field: 'insecureHttp' });
  }
  const paths = dataPaths(o.dataDir);
  const tls = o.insecureHttp ? undefined : await ensureServingPki(o.dataDir, servingNames(o.listenHost, [...(o.tlsSans ?? []), ...apiServiceNames(o.serviceCidr)]));
  const tokens = new TokenFile(paths.tokens);
  const adminToken = await adminSecret(tokens, paths.kubeconfig);
  const serviceAccounts = await ServiceAccountTokens.open(o.dataDir);
  const kubelet = await ensureKubeletPki(o.dataDir);
  return { tokens, ...(tls ? { tls } : {}), adminToken, serviceAccounts, kubelet };
}

/** The admin token from the last kubeconfig when it still works, else a new one. */
async function adminSecret(tokens: TokenFile, kubeconfig: string): Promise<string> {
  if (existsSync(kubeconfig)) {
    const previous = await readKubeconfig(kubeconfig).catch(() => undefined);
    if (previous && tokens.authenticate(previous.token)?.role === 'admin') return previous.token;
  }
  // First start, or the kubeconfig was lost or its token revoked: a new admin token replaces the old.
  await tokens.revoke(ADMIN_TOKEN_NAME);
  return tokens.create(ADMIN_TOKEN_NAME, 'admin');
}

/** Writes `<data-dir>/kubeconfig` for the admin token and the server's address. */
export async function writeAdminKubeconfig(dataDir: string, sec: ApiSecurity, server: string): Promise<string> {
  const file = dataPaths(dataDir).kubeconfig;
  await writeKubeconfig(file, { server, ...(sec.tls ? { ca: sec.tls.ca } : {}), token: sec.adminToken, user: ADMIN_TOKEN_NAME });
  return file;
}
