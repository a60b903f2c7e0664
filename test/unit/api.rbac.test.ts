import assert from 'node:assert/strict';
import { authorize, forbiddenMessage, rulesFor, type RbacPolicySource, type UserInfo } from '../../src/api/auth/rbac.js';
import { requestInfo } from '../../src/api/auth/request-info.js';
import { aggregateRules } from '../../src/controllers/rbac.js';
import { BOOTSTRAP_CLUSTER_ROLE_BINDINGS, BOOTSTRAP_CLUSTER_ROLES } from '../../src/model/bootstrap-policy.js';
import { serviceAccountGroups, serviceAccountUser } from '../../src/model/serviceaccount.js';
import type { ClusterRole, ClusterRoleBinding, PolicyRule, RbacSubject, Role, RoleBinding } from '../../src/model/types.js';

const RBAC = 'rbac.authorization.k8s.io/v1';

function clusterRole(name: string, rules: PolicyRule[], labels?: Record<string, string>): ClusterRole {
  return { apiVersion: RBAC, kind: 'ClusterRole', metadata: { name, ...(labels ? { labels } : {}) }, rules };
}
function role(namespace: string, name: string, rules: PolicyRule[]): Role {
  return { apiVersion: RBAC, kind: 'Role', metadata: { name, namespace }, rules };
}
function roleBinding(namespace: string, name: string, ref: { kind: 'Role' | 'ClusterRole'; name: string }, subjects: RbacSubject[]): RoleBinding {
  return { apiVersion: RBAC, kind: 'RoleBinding', metadata: { name, namespace }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', ...ref }, subjects };
}
function clusterBinding(name: string, roleName: string, subjects: RbacSubject[]): ClusterRoleBinding {
  return { apiVersion: RBAC, kind: 'ClusterRoleBinding', metadata: { name }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: roleName }, subjects };
}

/** A policy over plain lists, as the API's cache serves them. */
function policy(objects: { roles?: Role[]; clusterRoles?: ClusterRole[]; bindings?: RoleBinding[]; clusterBindings?: ClusterRoleBinding[] }): RbacPolicySource {
  return {
    clusterRoleBindings: () => objects.clusterBindings ?? [],
    roleBindings: (ns) => (objects.bindings ?? []).filter((b) => b.metadata.namespace === ns),
    clusterRole: (name) => objects.clusterRoles?.find((r) => r.metadata.name === name),
    role: (ns, name) => objects.roles?.find((r) => r.metadata.namespace === ns && r.metadata.name === name),
  };
}

const sa = (ns: string, name: string): UserInfo => ({ name: serviceAccountUser(ns, name), groups: serviceAccountGroups(ns) });
const saSubject = (name: string, namespace?: string): RbacSubject => ({ kind: 'ServiceAccount', name, ...(namespace ? { namespace } : {}) });
const group = (name: string): RbacSubject => ({ kind: 'Group', name, apiGroup: 'rbac.authorization.k8s.io' });
const user = (name: string): RbacSubject => ({ kind: 'User', name, apiGroup: 'rbac.authorization.k8s.io' });

/** The cluster as it starts, with the aggregated roles filled as the controller fills them. */
function bootstrapRoles(): ClusterRole[] {
  const roles = BOOTSTRAP_CLUSTER_ROLES.map((r) => structuredClone(r));
  // view feeds edit, edit feeds admin: fill in that order, as repeated controller passes converge.
  for (const name of ['view', 'edit', 'admin']) {
    const r = roles.find((x) => x.metadata.name === name)!;
    r.rules = aggregateRules(r, roles);
  }
  return roles;
}

describe('RBAC authorizer', () => {
  const podReader = role('shop', 'pod-reader', [
    { apiGroups: [''], resources: ['pods', 'pods/log'], verbs: ['get', 'list', 'watch'] },
    { apiGroups: [''], resources: ['configmaps'], resourceNames: ['web-config'], verbs: ['get', 'list'] },
  ]);
  const wildcard = clusterRole('logs-everywhere', [{ apiGroups: ['*'], resources: ['*/log'], verbs: ['*'] }]);
  const deployer = clusterRole('deployer', [{ apiGroups: ['apps'], resources: ['deployments', 'deployments/scale'], verbs: ['get', 'patch'] }]);
  const metrics = clusterRole('metrics', [{ nonResourceURLs: ['/metrics', '/debug/*'], verbs: ['get'] }]);
  const world = policy({
    roles: [podReader],
    clusterRoles: [wildcard, deployer, metrics],
    bindings: [
      roleBinding('shop', 'read-pods', { kind: 'Role', name: 'pod-reader' }, [saSubject('reader')]),
      roleBinding('shop', 'deployers', { kind: 'ClusterRole', name: 'deployer' }, [group('system:serviceaccounts:ci')]),
      roleBinding('other', 'jane-deploys', { kind: 'ClusterRole', name: 'deployer' }, [user('system:serviceaccount:ci:builder')]),
    ],
    clusterBindings: [
      clusterBinding('log-readers', 'logs-everywhere', [saSubject('tail', 'ops')]),
      clusterBinding('scrapers', 'metrics', [group('system:serviceaccounts')]),
    ],
  });

  const cases: { name: string; who: UserInfo; method: string; url: string; allowed: boolean }[] = [
    // rules and bindings
    { name: 'a Role bound in its namespace allows its verbs', who: sa('shop', 'reader'), method: 'GET', url: '/api/v1/namespaces/shop/pods', allowed: true },
    { name: 'a watch is its own verb, allowed when listed', who: sa('shop', 'reader'), method: 'GET', url: '/api/v1/namespaces/shop/pods?watch=true', allowed: true },
    { name: 'a verb the rule does not list is refused', who: sa('shop', 'reader'), method: 'DELETE', url: '/api/v1/namespaces/shop/pods/web-1', allowed: false },
    { name: 'a RoleBinding grants nothing in another namespace', who: sa('shop', 'reader'), method: 'GET', url: '/api/v1/namespaces/other/pods', allowed: false },
    { name: 'a RoleBinding grants nothing cluster-wide (all namespaces)', who: sa('shop', 'reader'), method: 'GET', url: '/api/v1/pods', allowed: false },
    { name: 'another resource of the same group is refused', who: sa('shop', 'reader'), method: 'GET', url: '/api/v1/namespaces/shop/secrets', allowed: false },
    { name: 'another account of the namespace is not the subject', who: sa('shop', 'writer'), method: 'GET', url: '/api/v1/namespaces/shop/pods', allowed: false },
    { name: 'the same account name in another namespace is not the subject', who: sa('other', 'reader'), method: 'GET', url: '/api/v1/namespaces/other/pods', allowed: false },
    // subresources
    { name: 'a listed subresource is allowed (pods/log)', who: sa('shop', 'reader'), method: 'GET', url: '/api/v1/namespaces/shop/pods/web-1/log', allowed: true },
    { name: 'an unlisted subresource is refused (pods/exec)', who: sa('shop', 'reader'), method: 'GET', url: '/api/v1/namespaces/shop/pods/web-1/exec?command=sh', allowed: false },
    { name: '*/log allows the log of anything, anywhere', who: sa('ops', 'tail'), method: 'GET', url: '/api/v1/namespaces/shop/pods/web-1/log', allowed: true },
    { name: '*/log does not allow the resource itself', who: sa('ops', 'tail'), method: 'GET', url: '/api/v1/namespaces/shop/pods/web-1', allowed: false },
    { name: 'a subresource in another group (deployments/scale)', who: sa('ci', 'builder'), method: 'PATCH', url: '/apis/apps/v1/namespaces/shop/deployments/web/scale', allowed: true },
    // resource names
    { name: 'resourceNames allow the named object', who: sa('shop', 'reader'), method: 'GET', url: '/api/v1/namespaces/shop/configmaps/web-config', allowed: true },
    { name: 'resourceNames refuse another object', who: sa('shop', 'reader'), method: 'GET', url: '/api/v1/namespaces/shop/configmaps/db-config', allowed: false },
    { name: 'resourceNames refuse a list', who: sa('shop', 'reader'), method: 'GET', url: '/api/v1/namespaces/shop/configmaps', allowed: false },
    { name: 'resourceNames allow a list narrowed to the name by field selector', who: sa('shop', 'reader'), method: 'GET', url: '/api/v1/namespaces/shop/configmaps?fieldSelector=metadata.name%3Dweb-config', allowed: true },
    // groups and users
    { name: 'a Group subject matches every account of the namespace', who: sa('ci', 'builder'), method: 'GET', url: '/apis/apps/v1/namespaces/shop/deployments/web', allowed: true },
    { name: 'the API group must match', who: sa('ci', 'builder'), method: 'GET', url: '/apis/extensions/v1beta1/namespaces/shop/deployments/web', allowed: false },
    { name: 'a User subject matches the account\'s user name', who: sa('ci', 'builder'), method: 'PATCH', url: '/apis/apps/v1/namespaces/other/deployments/web', allowed: true },
    { name: 'system:serviceaccounts matches every account', who: sa('anywhere', 'x'), method: 'GET', url: '/metrics', allowed: true },
    // non-resource URLs
    { name: 'a non-resource URL prefix (/debug/*) matches below it', who: sa('anywhere', 'x'), method: 'GET', url: '/debug/pprof/heap', allowed: true },
    { name: 'a non-resource URL rule is about its verb too', who: sa('anywhere', 'x'), method: 'POST', url: '/metrics', allowed: false },
    { name: 'a path no rule names is refused', who: sa('anywhere', 'x'), method: 'GET', url: '/version', allowed: false },
  ];
  for (const c of cases) {
    it(`${c.allowed ? 'allows' : 'refuses'}: ${c.name}`, () => {
      const d = authorize(world, c.who, requestInfo(c.method, c.url));
      assert.equal(d.allowed, c.allowed, `${c.method} ${c.url} as ${c.who.name}: ${d.reason}`);
    });
  }

  it('names the binding that allowed a request, as Kubernetes\' RBAC reasons do', () => {
    const d = authorize(world, sa('shop', 'reader'), requestInfo('GET', '/api/v1/namespaces/shop/pods'));
    assert.equal(d.reason, 'RBAC: allowed by RoleBinding "read-pods/shop" of Role "pod-reader" to ServiceAccount "reader/shop"');
  });

  it('says which roles are missing when it refuses, and a binding to a missing role grants nothing', () => {
    const broken = policy({ bindings: [roleBinding('shop', 'b', { kind: 'ClusterRole', name: 'gone' }, [saSubject('reader')]), roleBinding('shop', 'c', { kind: 'Role', name: 'also-gone' }, [saSubject('reader')])] });
    const d = authorize(broken, sa('shop', 'reader'), requestInfo('GET', '/api/v1/namespaces/shop/pods'));
    assert.equal(d.allowed, false);
    assert.equal(d.reason, 'RBAC: [clusterrole.rbac.authorization.k8s.io "gone" not found, role.rbac.authorization.k8s.io "also-gone" not found]');
  });

  it('words a refusal as the API server does, by scope, name, group and subresource', () => {
    const who = 'system:serviceaccount:default:reader';
    assert.equal(forbiddenMessage(who, requestInfo('GET', '/api/v1/namespaces/default/pods')), 'pods is forbidden: User "system:serviceaccount:default:reader" cannot list resource "pods" in API group "" in the namespace "default"');
    assert.equal(forbiddenMessage(who, requestInfo('GET', '/api/v1/namespaces/default/secrets/db')), 'secrets "db" is forbidden: User "system:serviceaccount:default:reader" cannot get resource "secrets" in API group "" in the namespace "default"');
    assert.equal(forbiddenMessage(who, requestInfo('GET', '/api/v1/nodes')), 'nodes is forbidden: User "system:serviceaccount:default:reader" cannot list resource "nodes" in API group "" at the cluster scope');
    assert.equal(forbiddenMessage(who, requestInfo('GET', '/apis/apps/v1/namespaces/default/deployments?watch=1')), 'deployments.apps is forbidden: User "system:serviceaccount:default:reader" cannot watch resource "deployments" in API group "apps" in the namespace "default"');
    assert.equal(forbiddenMessage(who, requestInfo('GET', '/api/v1/namespaces/default/pods/web/log')), 'pods "web" is forbidden: User "system:serviceaccount:default:reader" cannot get resource "pods/log" in API group "" in the namespace "default"');
    assert.equal(forbiddenMessage(who, requestInfo('GET', '/metrics')), 'forbidden: User "system:serviceaccount:default:reader" cannot get path "/metrics"');
    assert.equal(forbiddenMessage(who, requestInfo('GET', '/api/v1/namespaces/default/pods'), 'RBAC: role.rbac.authorization.k8s.io "x" not found'), 'pods is forbidden: User "system:serviceaccount:default:reader" cannot list resource "pods" in API group "" in the namespace "default": RBAC: role.rbac.authorization.k8s.io "x" not found');
  });

  it('reads requests as the API server does: verbs by method and collection, namespaces, names, exec as create', () => {
    const pick = (m: string, u: string) => {
      const r = requestInfo(m, u);
      return [r.resourceRequest, r.verb, r.apiGroup, r.namespace, r.resource, r.subresource, r.name];
    };
    assert.deepEqual(pick('GET', '/api/v1/namespaces/shop/pods'), [true, 'list', '', 'shop', 'pods', '', '']);
    assert.deepEqual(pick('GET', '/api/v1/namespaces/shop'), [true, 'get', '', 'shop', 'namespaces', '', 'shop']);
    assert.deepEqual(pick('DELETE', '/apis/apps/v1/namespaces/shop/deployments'), [true, 'deletecollection', 'apps', 'shop', 'deployments', '', '']);
    assert.deepEqual(pick('POST', '/api/v1/namespaces/shop/pods/web/eviction'), [true, 'create', '', 'shop', 'pods', 'eviction', 'web']);
    assert.deepEqual(pick('GET', '/api/v1/namespaces/shop/pods/web/exec?command=sh'), [true, 'create', '', 'shop', 'pods', 'exec', 'web']);
    assert.deepEqual(pick('GET', '/api/v1/nodes/n1?watch=true'), [true, 'get', '', '', 'nodes', '', 'n1']);
    assert.deepEqual(pick('GET', '/apis/apps/v1'), [false, 'get', '', '', '', '', '']);
    assert.deepEqual(pick('GET', '/api'), [false, 'get', '', '', '', '', '']);
  });

  describe('built-in roles', () => {
    const roles = bootstrapRoles();
    const bound = (ns: string, name: string, roleName: string): RbacPolicySource => policy({
      clusterRoles: roles,
      clusterBindings: [...BOOTSTRAP_CLUSTER_ROLE_BINDINGS],
      bindings: [roleBinding(ns, `${name}-${roleName}`, { kind: 'ClusterRole', name: roleName }, [saSubject(name)])],
    });
    const table: { role: string; method: string; url: string; allowed: boolean }[] = [
      { role: 'view', method: 'GET', url: '/api/v1/namespaces/team/pods', allowed: true },
      { role: 'view', method: 'GET', url: '/api/v1/namespaces/team/pods/web/log', allowed: true },
      { role: 'view', method: 'GET', url: '/apis/apps/v1/namespaces/team/deployments?watch=true', allowed: true },
      { role: 'view', method: 'GET', url: '/apis/networking.k8s.io/v1/namespaces/team/ingresses', allowed: true },
      { role: 'view', method: 'GET', url: '/api/v1/namespaces/team/serviceaccounts', allowed: true },
      { role: 'view', method: 'GET', url: '/api/v1/namespaces/team/secrets', allowed: false },
      { role: 'view', method: 'GET', url: '/apis/rbac.authorization.k8s.io/v1/namespaces/team/roles', allowed: false },
      { role: 'view', method: 'POST', url: '/api/v1/namespaces/team/pods/web/exec', allowed: false },
      { role: 'view', method: 'PATCH', url: '/apis/apps/v1/namespaces/team/deployments/web', allowed: false },
      { role: 'edit', method: 'GET', url: '/api/v1/namespaces/team/secrets', allowed: true },
      { role: 'edit', method: 'PATCH', url: '/apis/apps/v1/namespaces/team/deployments/web', allowed: true },
      { role: 'edit', method: 'POST', url: '/api/v1/namespaces/team/pods/web/exec', allowed: true },
      { role: 'edit', method: 'POST', url: '/api/v1/namespaces/team/pods/web/eviction', allowed: true },
      { role: 'edit', method: 'GET', url: '/apis/rbac.authorization.k8s.io/v1/namespaces/team/roles', allowed: false },
      { role: 'admin', method: 'POST', url: '/apis/rbac.authorization.k8s.io/v1/namespaces/team/rolebindings', allowed: true },
      { role: 'admin', method: 'GET', url: '/api/v1/namespaces/team/pods', allowed: true },
      { role: 'admin', method: 'GET', url: '/api/v1/nodes', allowed: false },
      { role: 'cluster-admin', method: 'GET', url: '/api/v1/nodes', allowed: false },
      { role: 'cluster-admin', method: 'DELETE', url: '/api/v1/namespaces/team/secrets/db', allowed: true },
    ];
    for (const c of table) {
      it(`${c.role} bound in a namespace ${c.allowed ? 'allows' : 'refuses'} ${c.method} ${c.url}`, () => {
        assert.equal(authorize(bound('team', 'bot', c.role), sa('team', 'bot'), requestInfo(c.method, c.url)).allowed, c.allowed);
      });
    }

    it('every account may discover the API and ask what it may do, but reads nothing by that alone', () => {
      const p = policy({ clusterRoles: roles, clusterBindings: [...BOOTSTRAP_CLUSTER_ROLE_BINDINGS] });
      const who = sa('team', 'nobody');
      for (const url of ['/api', '/api/v1', '/apis', '/apis/apps/v1', '/version', '/openapi/v2', '/healthz']) assert.ok(authorize(p, who, requestInfo('GET', url)).allowed, url);
      assert.ok(authorize(p, who, requestInfo('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews')).allowed);
      assert.ok(!authorize(p, who, requestInfo('GET', '/api/v1/namespaces/team/pods')).allowed);
    });

    it('cluster-admin through a ClusterRoleBinding may do anything anywhere', () => {
      const p = policy({ clusterRoles: roles, clusterBindings: [clusterBinding('root', 'cluster-admin', [saSubject('root', 'kube-system')])] });
      for (const [m, u] of [['GET', '/api/v1/nodes'], ['DELETE', '/api/v1/namespaces/x/secrets/y'], ['GET', '/metrics']] as const) {
        assert.ok(authorize(p, sa('kube-system', 'root'), requestInfo(m, u)).allowed, `${m} ${u}`);
      }
    });

    it('aggregation: a ClusterRole labelled aggregate-to-view extends view, edit and admin', () => {
      const extra = clusterRole('crontabs-view', [{ apiGroups: ['stable.example.com'], resources: ['crontabs'], verbs: ['get'] }], { 'rbac.authorization.k8s.io/aggregate-to-view': 'true' });
      const all = [...roles, extra];
      for (const name of ['view', 'edit', 'admin']) {
        const r = all.find((x) => x.metadata.name === name)!;
        r.rules = aggregateRules(r, all);
        assert.ok(r.rules.some((rule) => rule.resources?.includes('crontabs')), `${name} gathers the new rule`);
      }
      assert.equal(new Set(all.find((x) => x.metadata.name === 'admin')!.rules!.map((r) => JSON.stringify(r))).size, all.find((x) => x.metadata.name === 'admin')!.rules!.length, 'each rule once');
    });
  });

  it('lists the rules that apply in a namespace, cluster-wide ones included (kubectl auth can-i --list)', () => {
    const { rules, errors } = rulesFor(world, sa('shop', 'reader'), 'shop');
    assert.deepEqual(errors, []);
    assert.deepEqual(rules.map((r) => r.resources ?? r.nonResourceURLs), [['/metrics', '/debug/*'], ['pods', 'pods/log'], ['configmaps']]);
  });
});
