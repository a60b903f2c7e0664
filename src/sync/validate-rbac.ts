/**
 * Semantic checks of ServiceAccounts and RBAC objects, as the API server's RBAC validation makes
 * them: rules name verbs and either resources (with API groups) or non-resource URLs, never both;
 * a namespaced Role has no non-resource URLs; a binding refers to a Role or ClusterRole of
 * rbac.authorization.k8s.io (a ClusterRoleBinding to a ClusterRole only); subjects are
 * ServiceAccounts (no API group; a namespace in a ClusterRoleBinding), Users or Groups (API
 * group rbac.authorization.k8s.io).
 */
import { validateDns1123Subdomain } from '../model/names.js';
import type { ClusterRole, ClusterRoleBinding, KubeObject, PolicyRule, Role, RoleBinding } from '../model/types.js';
import type { RuleProblem } from './validate-rules.js';

/** The API group of RBAC, which roleRefs and User/Group subjects name. */
export const RBAC_GROUP = 'rbac.authorization.k8s.io';

/** The problems of an RBAC object (Role, ClusterRole, RoleBinding, ClusterRoleBinding); none for other kinds. */
export function rbacProblems(obj: KubeObject): RuleProblem[] {
  const out: RuleProblem[] = [];
  const say = (field: string, message: string): void => void out.push({ field, message: `${field}${message}` });
  switch (obj.kind) {
    case 'Role':
      (obj as Role).rules?.forEach((r, i) => checkRule(say, `rules[${i}]`, r, true));
      break;
    case 'ClusterRole':
      (obj as ClusterRole).rules?.forEach((r, i) => checkRule(say, `rules[${i}]`, r, false));
      break;
    case 'RoleBinding':
    case 'ClusterRoleBinding':
      checkBinding(say, obj as RoleBinding | ClusterRoleBinding);
      break;
    default:
      break;
  }
  return out;
}

type Say = (field: string, message: string) => void;

function checkRule(say: Say, at: string, r: PolicyRule, namespaced: boolean): void {
  if (r.verbs.length === 0) say(`${at}.verbs`, ' is required: verbs must contain at least one value');
  const urls = r.nonResourceURLs ?? [];
  if (urls.length > 0) {
    if (namespaced) say(`${at}.nonResourceURLs`, `: invalid value ${JSON.stringify(urls)}: namespaced rules cannot apply to non-resource URLs`);
    if ((r.apiGroups?.length ?? 0) > 0 || (r.resources?.length ?? 0) > 0) {
      say(`${at}.nonResourceURLs`, `: invalid value ${JSON.stringify(urls)}: rules cannot apply to both regular resources and non-resource URLs`);
    }
    return;
  }
  if ((r.apiGroups?.length ?? 0) === 0) say(`${at}.apiGroups`, ' is required: resource rules must supply at least one api group ("" is the core group)');
  if ((r.resources?.length ?? 0) === 0) say(`${at}.resources`, ' is required: resource rules must supply at least one resource');
}

function checkBinding(say: Say, b: RoleBinding | ClusterRoleBinding): void {
  const cluster = b.kind === 'ClusterRoleBinding';
  if (b.roleRef.apiGroup !== RBAC_GROUP) say('roleRef.apiGroup', `: unsupported value ${JSON.stringify(b.roleRef.apiGroup)}: supported values: "${RBAC_GROUP}"`);
  if (cluster && b.roleRef.kind !== 'ClusterRole') say('roleRef.kind', `: unsupported value ${JSON.stringify(b.roleRef.kind)}: supported values: "ClusterRole"`);
  b.subjects?.forEach((s, i) => {
    const at = `subjects[${i}]`;
    if (s.kind === 'ServiceAccount') {
      const bad = validateDns1123Subdomain(s.name);
      if (bad) say(`${at}.name`, `: invalid value ${JSON.stringify(s.name)}: ${bad}`);
      if (s.apiGroup) say(`${at}.apiGroup`, `: unsupported value ${JSON.stringify(s.apiGroup)}: supported values: "" (a ServiceAccount is in the core group)`);
      if (cluster && !s.namespace) say(`${at}.namespace`, ' is required: a ServiceAccount subject of a ClusterRoleBinding names its namespace');
    } else if (s.apiGroup !== RBAC_GROUP) {
      say(`${at}.apiGroup`, `: unsupported value ${JSON.stringify(s.apiGroup ?? '')}: supported values: "${RBAC_GROUP}"`);
    }
  });
}
