/**
 * Admission of a plan's new Pods, as the API server's ServiceAccount plugin admits a pod a client
 * creates (src/model/serviceaccount.ts): each gets its account name, the account's image pull
 * secrets and the token volume. A Pod naming an account that neither the revision nor the cluster
 * has is refused, and with it the revision, naming the file, the object and the field (as
 * `kubectl apply` would fail). `default` is never missing: gantry's service-account controller
 * makes it in every namespace in use.
 */
import type { Plan } from '../diff/types.js';
import { admitPod, DEFAULT_SERVICE_ACCOUNT, podServiceAccount } from '../model/serviceaccount.js';
import type { KubeObject, Pod, ServiceAccount } from '../model/types.js';
import type { ManifestIssue } from './types.js';

/**
 * Admits the Pods `plan` creates, in place (their `desired` objects). `live` holds the cluster's
 * ServiceAccounts (and anything else: other kinds are ignored). Returns the problems; none means
 * every Pod was admitted.
 */
export function admitPlanPods(plan: Plan, live: readonly KubeObject[]): ManifestIssue[] {
  const accounts = new Map<string, ServiceAccount>();
  const keyOf = (ns: string | undefined, name: string): string => `${ns || 'default'}/${name}`;
  for (const o of live) if (o.kind === 'ServiceAccount') accounts.set(keyOf(o.metadata.namespace, o.metadata.name), o as ServiceAccount);
  // The revision's own accounts win: they are applied in the same transaction, before the Pods.
  for (const e of [...plan.create, ...plan.update, ...plan.unchanged]) {
    if (e.kind === 'ServiceAccount' && e.desired) accounts.set(keyOf(e.namespace, e.name), e.desired as ServiceAccount);
  }
  for (const e of plan.prune) if (e.kind === 'ServiceAccount' && e.name !== DEFAULT_SERVICE_ACCOUNT) accounts.delete(keyOf(e.namespace, e.name));
  const issues: ManifestIssue[] = [];
  for (const e of plan.create) {
    if (e.kind !== 'Pod' || !e.desired) continue;
    const pod = e.desired as Pod;
    const name = podServiceAccount(pod);
    const sa = accounts.get(keyOf(e.namespace, name));
    if (!sa && name !== DEFAULT_SERVICE_ACCOUNT) {
      issues.push({
        file: e.source?.file ?? '',
        ...(e.source ? { line: e.source.line } : {}),
        object: e.key,
        field: 'spec.serviceAccountName',
        message: `spec.serviceAccountName: serviceaccount "${name}" not found in namespace ${e.namespace ?? 'default'}: declare it in the repo (pods "${e.name}" is forbidden: error looking up service account ${e.namespace ?? 'default'}/${name})`,
      });
      continue;
    }
    e.desired = admitPod(pod, sa);
  }
  return issues;
}
