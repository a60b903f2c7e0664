/**
 * Role-based access control, decided as Kubernetes' RBAC authorizer decides (pure): a request is
 * allowed when a rule of a role bound to the user allows it, and denied otherwise (there are no
 * deny rules).
 *
 * - ClusterRoleBindings grant their ClusterRole everywhere; RoleBindings grant their Role or
 *   ClusterRole in their own namespace only.
 * - A subject matches a User by name, a Group by membership, a ServiceAccount by its user name
 *   `system:serviceaccount:<ns>:<name>` (the binding's namespace when the subject names none).
 * - A rule matches on verb (`*` for all), API group (`*`), resource (`*`, `pods/log` for a
 *   subresource, `* /log` for that subresource of anything), resource name (none listed: any)
 *   — or, for non-resource requests, on the path (`/apis/*` matches by prefix).
 * - A binding whose role does not exist grants nothing; a denial then gives the reason, as
 *   Kubernetes does (`RBAC: clusterrole.rbac.authorization.k8s.io "x" not found`); an allowed
 *   request names the binding (`RBAC: allowed by ClusterRoleBinding "x" of ClusterRole "view" to …`).
 *
 * Aggregated ClusterRoles contribute the rules stored in them (the aggregation controller fills
 * them), as on Kubernetes.
 */
import type { ClusterRole, ClusterRoleBinding, PolicyRule, RbacSubject, Role, RoleBinding, RoleRef } from '../../model/types.js';
import { serviceAccountUser } from '../../model/serviceaccount.js';
import type { RequestInfo } from './request-info.js';

/** Who asks. */
export interface UserInfo {
  name: string;
  groups: readonly string[];
}

/** Where the authorizer reads roles and bindings (a watch-backed cache in the API). */
export interface RbacPolicySource {
  clusterRoleBindings(): readonly ClusterRoleBinding[];
  roleBindings(namespace: string): readonly RoleBinding[];
  clusterRole(name: string): ClusterRole | undefined;
  role(namespace: string, name: string): Role | undefined;
}

/** A decision and why: the binding that allowed it, or the broken bindings met on a denial (empty when none). */
export interface Decision {
  allowed: boolean;
  reason: string;
}

/** Whether `user` may do what `req` asks. */
export function authorize(policy: RbacPolicySource, user: UserInfo, req: RequestInfo): Decision {
  const errors: string[] = [];
  let allowedBy: string | undefined;
  visitRules(policy, user, req.namespace, errors, (rule, source) => {
    if (ruleAllows(rule, req)) allowedBy = source();
    return allowedBy !== undefined;
  });
  // Worded as Kubernetes' RBAC authorizer reports its reasons (`kubectl auth can-i -v`).
  if (allowedBy !== undefined) return { allowed: true, reason: `RBAC: allowed by ${allowedBy}` };
  return { allowed: false, reason: errors.length === 0 ? '' : `RBAC: ${errors.length === 1 ? errors[0] : `[${errors.join(', ')}]`}` };
}

/** Every rule that applies to `user` in `namespace` (cluster-wide rules included), and the broken bindings met. */
export function rulesFor(policy: RbacPolicySource, user: UserInfo, namespace: string): { rules: PolicyRule[]; errors: string[] } {
  const rules: PolicyRule[] = [];
  const errors: string[] = [];
  visitRules(policy, user, namespace, errors, (rule) => {
    rules.push(rule);
    return false;
  });
  return { rules, errors };
}

/** Calls `visit` for each rule granted to `user` in `namespace` (with what granted it) until it returns true. */
function visitRules(policy: RbacPolicySource, user: UserInfo, namespace: string, errors: string[], visit: (rule: PolicyRule, source: () => string) => boolean): void {
  for (const b of policy.clusterRoleBindings()) {
    const subject = matchingSubject(user, b.subjects, '');
    if (!subject) continue;
    const source = (): string => `ClusterRoleBinding "${b.metadata.name}" of ${b.roleRef.kind} "${b.roleRef.name}" to ${describeSubject(subject)}`;
    for (const r of roleRules(policy, b.roleRef, '', errors)) if (visit(r, source)) return;
  }
  if (!namespace) return;
  for (const b of policy.roleBindings(namespace)) {
    const subject = matchingSubject(user, b.subjects, namespace);
    if (!subject) continue;
    const source = (): string => `RoleBinding "${b.metadata.name}/${namespace}" of ${b.roleRef.kind} "${b.roleRef.name}" to ${describeSubject(subject)}`;
    for (const r of roleRules(policy, b.roleRef, namespace, errors)) if (visit(r, source)) return;
  }
}

function describeSubject(s: RbacSubject): string {
  return s.kind === 'ServiceAccount' ? `ServiceAccount "${s.name}/${s.namespace ?? ''}"` : `${s.kind} "${s.name}"`;
}

function roleRules(policy: RbacPolicySource, ref: RoleRef, namespace: string, errors: string[]): readonly PolicyRule[] {
  if (ref.kind === 'ClusterRole') {
    const role = policy.clusterRole(ref.name);
    if (!role) errors.push(`clusterrole.rbac.authorization.k8s.io "${ref.name}" not found`);
    return role?.rules ?? [];
  }
  if (ref.kind === 'Role' && namespace) {
    const role = policy.role(namespace, ref.name);
    if (!role) errors.push(`role.rbac.authorization.k8s.io "${ref.name}" not found`);
    return role?.rules ?? [];
  }
  return [];
}

/** The first of `subjects` that is `user` (a ServiceAccount's namespace filled in). */
function matchingSubject(user: UserInfo, subjects: readonly RbacSubject[] | undefined, namespace: string): RbacSubject | undefined {
  for (const s of subjects ?? []) {
    switch (s.kind) {
      case 'User':
        if (s.name === user.name) return s;
        break;
      case 'Group':
        if (user.groups.includes(s.name)) return s;
        break;
      case 'ServiceAccount': {
        const ns = s.namespace || namespace;
        if (ns && serviceAccountUser(ns, s.name) === user.name) return { ...s, namespace: ns };
        break;
      }
      default:
        break;
    }
  }
  return undefined;
}

/** Whether one rule allows a request (Kubernetes' RuleAllows). */
export function ruleAllows(rule: PolicyRule, req: RequestInfo): boolean {
  if (!verbMatches(rule, req.verb)) return false;
  if (!req.resourceRequest) return nonResourceUrlMatches(rule, req.path);
  const combined = req.subresource ? `${req.resource}/${req.subresource}` : req.resource;
  return apiGroupMatches(rule, req.apiGroup) && resourceMatches(rule, combined, req.subresource) && resourceNameMatches(rule, req.name);
}

function verbMatches(rule: PolicyRule, verb: string): boolean {
  return rule.verbs.some((v) => v === '*' || v === verb);
}

function apiGroupMatches(rule: PolicyRule, group: string): boolean {
  return (rule.apiGroups ?? []).some((g) => g === '*' || g === group);
}

function resourceMatches(rule: PolicyRule, combined: string, subresource: string): boolean {
  return (rule.resources ?? []).some((r) => r === '*' || r === combined || (subresource !== '' && r === `*/${subresource}`));
}

function resourceNameMatches(rule: PolicyRule, name: string): boolean {
  const names = rule.resourceNames ?? [];
  return names.length === 0 || names.includes(name);
}

function nonResourceUrlMatches(rule: PolicyRule, path: string): boolean {
  return (rule.nonResourceURLs ?? []).some((u) => u === '*' || u === path || (u.endsWith('*') && path.startsWith(u.slice(0, -1))));
}

/**
 * The message of a refused request, worded as the API server words it:
 * `pods is forbidden: User "…" cannot list resource "pods" in API group "" in the namespace "default"`.
 */
export function forbiddenMessage(user: string, req: RequestInfo, reason = ''): string {
  let msg: string;
  if (!req.resourceRequest) {
    msg = `forbidden: User "${user}" cannot ${req.verb} path "${req.path}"`;
  } else {
    const resource = req.subresource ? `${req.resource}/${req.subresource}` : req.resource;
    const scope = req.namespace ? `in the namespace "${req.namespace}"` : 'at the cluster scope';
    const what = `User "${user}" cannot ${req.verb} resource "${resource}" in API group "${req.apiGroup}" ${scope}`;
    const qualified = req.apiGroup ? `${req.resource}.${req.apiGroup}` : req.resource;
    msg = req.name ? `${qualified} "${req.name}" is forbidden: ${what}` : `${qualified} is forbidden: ${what}`;
  }
  return reason ? `${msg}: ${reason}` : msg;
}
