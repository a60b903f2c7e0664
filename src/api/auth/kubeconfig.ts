/**
 * `<data-dir>/kubeconfig`: the server's address, its CA and the admin token, written at every
 * start (the port may change) so `kubectl --kubeconfig <data-dir>/kubeconfig` works at once. It
 * is the one place the admin token's secret lives; the token file holds only its hash.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { GantryError } from '../../errors.js';
import { writeSecret } from './pki.js';

/** What a kubeconfig says about the one cluster gantry writes. */
export interface KubeconfigEntry {
  server: string;
  /** CA certificate (PEM); absent for plain HTTP. */
  ca?: string;
  token: string;
  user: string;
}

/** The YAML text of a kubeconfig for one cluster, user and context, all named gantry/the user. */
export function renderKubeconfig(e: KubeconfigEntry): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'gantry', cluster: { server: e.server, ...(e.ca ? { 'certificate-authority-data': Buffer.from(e.ca).toString('base64') } : {}) } }],
    users: [{ name: e.user, user: { token: e.token } }],
    contexts: [{ name: 'gantry', context: { cluster: 'gantry', user: e.user, namespace: 'default' } }],
    'current-context': 'gantry',
    preferences: {},
  });
}

/** Writes a kubeconfig readable by its owner only. */
export async function writeKubeconfig(file: string, e: KubeconfigEntry): Promise<void> {
  await writeSecret(file, renderKubeconfig(e));
}

/**
 * Reads the current context's server, CA and token from a kubeconfig (as kubectl would).
 * @throws GantryError NotFound when the file is missing, InvalidArgument when it names no usable context.
 */
export async function readKubeconfig(file: string): Promise<KubeconfigEntry> {
  if (!existsSync(file)) throw new GantryError('NotFound', `no kubeconfig at ${file}`);
  let doc: Record<string, unknown>;
  try {
    doc = (parse(await readFile(file, 'utf8')) ?? {}) as Record<string, unknown>;
  } catch (err) {
    throw new GantryError('InvalidArgument', `${file}: not YAML (${(err as Error).message})`);
  }
  type Named<T> = { name?: string } & T;
  const find = <T>(list: unknown, name: string | undefined): T | undefined =>
    (Array.isArray(list) ? (list as Named<T>[]) : []).find((x) => x.name === name);
  const ctx = find<{ context?: { cluster?: string; user?: string } }>(doc.contexts, doc['current-context'] as string | undefined)?.context;
  if (!ctx) throw new GantryError('InvalidArgument', `${file}: current-context "${String(doc['current-context'] ?? '')}" is not among its contexts`, { field: 'current-context' });
  const cluster = find<{ cluster?: { server?: string; 'certificate-authority-data'?: string; 'certificate-authority'?: string } }>(doc.clusters, ctx.cluster)?.cluster;
  const user = find<{ user?: { token?: string; tokenFile?: string } }>(doc.users, ctx.user)?.user;
  if (!cluster?.server) throw new GantryError('InvalidArgument', `${file}: cluster "${ctx.cluster ?? ''}" has no server`, { field: 'clusters' });
  let ca: string | undefined;
  if (cluster['certificate-authority-data']) ca = Buffer.from(cluster['certificate-authority-data'], 'base64').toString('utf8');
  else if (cluster['certificate-authority']) ca = await readFile(path.resolve(path.dirname(file), cluster['certificate-authority']), 'utf8');
  let token = user?.token;
  if (!token && user?.tokenFile) token = (await readFile(path.resolve(path.dirname(file), user.tokenFile), 'utf8')).trim();
  if (!token) throw new GantryError('InvalidArgument', `${file}: user "${ctx.user ?? ''}" has no token`, { field: 'users' });
  return { server: cluster.server, ...(ca ? { ca } : {}), token, user: ctx.user ?? 'gantry' };
}
