/**
 * What service-account authentication and RBAC cost a request:
 * - the authorizer alone (pure) against a cluster of 200 namespaces with 10 RoleBindings each and
 *   200 ClusterRoleBindings beside the bootstrap policy, for a request allowed by the last
 *   RoleBinding of its namespace and one refused (every binding visited);
 * - token verification alone: a token's first (its ES256 signature and claims) and a later one
 *   (the signature remembered; lifetime, account and pod checked), the objects looked up in memory;
 * - a list of 100 pods over HTTPS from a real SQLite store, with a pod's token (verify, pod read,
 *   RBAC) beside the same list with gantry's admin token.
 */
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { prepareApiSecurity } from '../src/api/auth/index.js';
import { authorize, type RbacPolicySource } from '../src/api/auth/rbac.js';
import { requestInfo } from '../src/api/auth/request-info.js';
import { createApiServer } from '../src/api/server.js';
import { aggregateRules } from '../src/controllers/rbac.js';
import { silentLogger } from '../src/log.js';
import { BOOTSTRAP_CLUSTER_ROLE_BINDINGS, BOOTSTRAP_CLUSTER_ROLES } from '../src/model/bootstrap-policy.js';
import { serviceAccountGroups, serviceAccountUser } from '../src/model/serviceaccount.js';
import type { ClusterRole, ClusterRoleBinding, Pod, RoleBinding, ServiceAccount } from '../src/model/types.js';
import { openSqliteStore } from '../src/store/sqlite.js';
import { percentile } from './stats.js';

const NAMESPACES = 200;
const BINDINGS_PER_NAMESPACE = 10;
const CLUSTER_BINDINGS = 200;
const DECISIONS = 20_000;
const VERIFICATIONS = 2_000;
const LISTS = 200;

function policyOf(): RbacPolicySource {
  const roles: ClusterRole[] = BOOTSTRAP_CLUSTER_ROLES.map((r) => structuredClone(r));
  for (const name of ['view', 'edit', 'admin']) {
    const r = roles.find((x) => x.metadata.name === name)!;
    r.rules = aggregateRules(r, roles);
  }
  const byName = new Map(roles.map((r) => [r.metadata.name, r]));
  const byNamespace = new Map<string, RoleBinding[]>();
  for (let n = 0; n < NAMESPACES; n++) {
    const ns = `team-${n}`;
    byNamespace.set(ns, Array.from({ length: BINDINGS_PER_NAMESPACE }, (_, i) => ({
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: `b${i}`, namespace: ns },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: i % 2 ? 'edit' : 'view' },
      subjects: [{ kind: 'ServiceAccount', name: `sa-${i}` }],
    })));
  }
  const cluster: ClusterRoleBinding[] = [...BOOTSTRAP_CLUSTER_ROLE_BINDINGS, ...Array.from({ length: CLUSTER_BINDINGS }, (_, i) => ({
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: `c${i}` },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole' as const, name: 'view' },
    subjects: [{ kind: 'ServiceAccount' as const, name: `ops-${i}`, namespace: 'ops' }],
  }))];
  return {
    clusterRoleBindings: () => cluster,
    roleBindings: (ns) => byNamespace.get(ns) ?? [],
    clusterRole: (name) => byName.get(name),
    role: () => undefined,
  };
}

function timePer(n: number, fn: () => void): number {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) fn();
  return ((performance.now() - t0) / n) * 1000;
}

function list(url: string, token: string, agent: https.Agent): Promise<void> {
  return new Promise((resolve, reject) => {
    https.get(url, { agent, headers: { authorization: `Bearer ${token}`, accept: 'application/json' } }, (res) => {
      if (res.statusCode !== 200) reject(new Error(`HTTP ${res.statusCode}`));
      res.on('data', () => undefined);
      res.on('end', () => resolve());
    }).on('error', reject);
  });
}

/** Runs the figures; see the module comment. */
export async function benchRbac(): Promise<Record<string, number | string>> {
  const policy = policyOf();
  const last = { name: serviceAccountUser('team-77', 'sa-9'), groups: serviceAccountGroups('team-77') };
  const allowed = requestInfo('GET', '/api/v1/namespaces/team-77/pods');
  const refused = requestInfo('GET', '/apis/rbac.authorization.k8s.io/v1/namespaces/team-77/roles');
  if (!authorize(policy, last, allowed).allowed || authorize(policy, last, refused).allowed) throw new Error('the bench policy does not decide as expected');
  // Warm up first: the figures are for a running server.
  timePer(DECISIONS, () => authorize(policy, last, allowed));
  timePer(DECISIONS, () => authorize(policy, last, refused));
  const allowUs = timePer(DECISIONS, () => authorize(policy, last, allowed));
  const refuseUs = timePer(DECISIONS, () => authorize(policy, last, refused));

  const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-bench-rbac-'));
  const store = openSqliteStore(path.join(dir, 'state.db'), { logger: silentLogger() });
  const security = await prepareApiSecurity({ dataDir: dir, listenHost: '127.0.0.1' });
  const api = createApiServer({ store, logger: silentLogger(), tokens: security.tokens, tls: security.tls, serviceAccounts: security.serviceAccounts });
  const agent = new https.Agent({ keepAlive: true, ca: security.tls!.ca });
  try {
    const sa = await store.create<ServiceAccount>({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'reader', namespace: 'default' } });
    for (const o of [...BOOTSTRAP_CLUSTER_ROLES, ...BOOTSTRAP_CLUSTER_ROLE_BINDINGS]) await store.create(structuredClone(o));
    await store.create<ClusterRole>({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'pods' }, rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['list'] }] });
    await store.create<RoleBinding>({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'reader', namespace: 'default' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'pods' }, subjects: [{ kind: 'ServiceAccount', name: 'reader' }] });
    let holder: Pod | undefined;
    for (let i = 0; i < 100; i++) {
      const p = await store.create<Pod>({ apiVersion: 'v1', kind: 'Pod', metadata: { name: `web-${i}`, namespace: 'default' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } });
      holder ??= p;
    }
    const issued = await security.serviceAccounts.issue({ namespace: 'default', serviceAccount: { name: 'reader', uid: sa.metadata.uid! }, pod: { name: holder!.metadata.name, uid: holder!.metadata.uid! }, expirationSeconds: 3600 });
    const lookup = { serviceAccount: async () => sa, pod: async () => holder };
    const fresh: string[] = [];
    for (let i = 0; i < VERIFICATIONS; i++) fresh.push((await security.serviceAccounts.issue({ namespace: 'default', serviceAccount: { name: 'reader', uid: sa.metadata.uid! }, pod: { name: holder!.metadata.name, uid: holder!.metadata.uid! }, expirationSeconds: 3600 })).token);
    let v0 = performance.now();
    for (const token of fresh) await security.serviceAccounts.verify(token, lookup);
    const firstUs = ((performance.now() - v0) / VERIFICATIONS) * 1000;
    v0 = performance.now();
    for (const token of fresh) await security.serviceAccounts.verify(token, lookup);
    const againUs = ((performance.now() - v0) / VERIFICATIONS) * 1000;

    await api.listen({ host: '127.0.0.1', port: 0 });
    const url = `https://127.0.0.1:${(api.server.address() as AddressInfo).port}/api/v1/namespaces/default/pods`;
    // Warmed up, then taken in turns, so both see the same machine.
    for (let i = 0; i < 20; i++) {
      await list(url, issued.token, agent);
      await list(url, security.adminToken, agent);
    }
    const withSa: number[] = [];
    const withAdmin: number[] = [];
    const once = async (token: string, into: number[]): Promise<void> => {
      const t0 = performance.now();
      await list(url, token, agent);
      into.push(performance.now() - t0);
    };
    for (let i = 0; i < LISTS; i++) {
      await once(issued.token, withSa);
      await once(security.adminToken, withAdmin);
    }
    return {
      'authorize, allowed by the 10th RoleBinding (µs)': allowUs.toFixed(1),
      'authorize, refused after every binding (µs)': refuseUs.toFixed(1),
      'verify a token, first time: signature (µs)': firstUs.toFixed(0),
      'verify it again: lifetime and bound objects (µs)': againUs.toFixed(1),
      'list 100 pods, pod token, p50 (ms)': percentile(withSa, 50).toFixed(2),
      'list 100 pods, admin token, p50 (ms)': percentile(withAdmin, 50).toFixed(2),
      'list 100 pods, pod token, p99 (ms)': percentile(withSa, 99).toFixed(2),
      'list 100 pods, admin token, p99 (ms)': percentile(withAdmin, 99).toFixed(2),
    };
  } finally {
    agent.destroy();
    await api.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}
