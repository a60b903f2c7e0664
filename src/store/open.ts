/**
 * Opens the Store a `--store` spec names: `sqlite` (the embedded default, `<data-dir>/state.db`),
 * `etcd://host:2379[,host2:2379]` or `etcds://…` (TLS, with `--etcd-ca`, `--etcd-cert`,
 * `--etcd-key`). A spec that is neither is refused naming the flag and what is accepted.
 */
import { readFileSync } from 'node:fs';
import { GantryError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { EtcdClient, EtcdTls } from './etcd-client.js';
import { EtcdStore, openEtcdStore } from './etcd.js';
import { openSqliteStore } from './sqlite.js';
import type { Store } from './types.js';

/** A parsed `--store` spec. */
export type StoreSpec =
  | { backend: 'sqlite' }
  | { backend: 'etcd'; endpoints: string[]; tls: boolean; prefix?: string };

/** Files of TLS material for etcd (paths; read when the store opens). */
export interface EtcdTlsFiles {
  ca?: string;
  cert?: string;
  key?: string;
}

/** Options for {@link openStore}. */
export interface OpenStoreOptions {
  /** The SQLite file for the `sqlite` backend (`dataPaths(dataDir).store`). */
  sqlitePath: string;
  etcdTls?: EtcdTlsFiles;
  logger?: Logger;
}

const SPEC_HELP = 'expected "sqlite", "etcd://host:2379[,host2:2379][/prefix]" or "etcds://…" for TLS';

/**
 * Parses a `--store` spec. Undefined or empty means `sqlite`. Throws `InvalidArgument` naming
 * `--store` for anything else. A path after the hosts (`etcd://h:2379/team-a`) is the key prefix.
 */
export function parseStoreSpec(spec: string | undefined): StoreSpec {
  const text = (spec ?? '').trim();
  if (text === '' || text === 'sqlite') return { backend: 'sqlite' };
  const m = /^(etcds?):\/\/([^/]*)(\/.*)?$/.exec(text);
  if (!m) throw new GantryError('InvalidArgument', `--store: "${text}" is not a store (${SPEC_HELP})`, { disposition: 'stalled' });
  const tls = m[1] === 'etcds';
  const endpoints = m[2]!.split(',').map((e) => e.trim());
  for (const endpoint of endpoints) {
    const hp = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(endpoint);
    if (!hp || Number(hp[2]) < 1 || Number(hp[2]) > 65535) {
      throw new GantryError(
        'InvalidArgument',
        `--store: "${endpoint || '(empty)'}" in "${text}" is not host:port (${SPEC_HELP})`,
        { disposition: 'stalled' },
      );
    }
  }
  const path = m[3] && m[3] !== '/' ? m[3] : undefined;
  return { backend: 'etcd', endpoints, tls, ...(path ? { prefix: path.endsWith('/') ? path : `${path}/` } : {}) };
}

function readPem(file: string | undefined, flag: string): Buffer | undefined {
  if (!file) return undefined;
  try {
    return readFileSync(file);
  } catch (err) {
    throw new GantryError('InvalidArgument', `${flag}: cannot read ${file}: ${errorMessage(err)}`, { disposition: 'stalled' });
  }
}

/** Opens the store `spec` names; see the module comment. */
export async function openStore(spec: string | undefined, opts: OpenStoreOptions): Promise<Store> {
  const parsed = parseStoreSpec(spec);
  const tlsFiles = opts.etcdTls ?? {};
  if (parsed.backend === 'sqlite') {
    if (tlsFiles.ca || tlsFiles.cert || tlsFiles.key) {
      throw new GantryError('InvalidArgument', '--etcd-ca, --etcd-cert and --etcd-key need an etcd --store (etcds://host:2379)', {
        disposition: 'stalled',
      });
    }
    return openSqliteStore(opts.sqlitePath, { logger: opts.logger });
  }
  if (!parsed.tls && (tlsFiles.ca || tlsFiles.cert || tlsFiles.key)) {
    throw new GantryError('InvalidArgument', `--etcd-ca, --etcd-cert and --etcd-key need TLS: use etcds:// in --store`, { disposition: 'stalled' });
  }
  if (Boolean(tlsFiles.cert) !== Boolean(tlsFiles.key)) {
    throw new GantryError('InvalidArgument', '--etcd-cert and --etcd-key go together (a client certificate and its key)', { disposition: 'stalled' });
  }
  let tls: EtcdTls | boolean = false;
  if (parsed.tls) {
    tls = {
      ca: readPem(tlsFiles.ca, '--etcd-ca'),
      cert: readPem(tlsFiles.cert, '--etcd-cert'),
      key: readPem(tlsFiles.key, '--etcd-key'),
    };
  }
  return openEtcdStore({ endpoints: parsed.endpoints, tls, prefix: parsed.prefix, logger: opts.logger });
}

/**
 * The etcd client of an etcd-backed store (for a `LeaderElector` from `src/cluster/leader.ts` on the same etcd, with the
 * same TLS), or undefined for SQLite: one process on SQLite needs no election.
 */
export function etcdClientOf(store: Store): EtcdClient | undefined {
  return store instanceof EtcdStore ? store.client : undefined;
}
