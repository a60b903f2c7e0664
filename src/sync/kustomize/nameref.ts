/**
 * Name references: after prefixes, suffixes and content hashes have renamed objects, every
 * field that names one of them (a Deployment's configMap volume, envFrom, env valueFrom, a
 * StatefulSet's serviceName, an Ingress backend, a RoleBinding's roleRef, …) is updated to the
 * new name, choosing the renamed object as Kustomize's name-reference transformer does
 * (earlier name, kind, namespace, then the prefixes and suffixes both went through).
 */
import { specSelects, walkFieldSpec, type FieldSpec } from './fieldspecs.js';
import {
  KustomizeError, curId, effectiveNamespace, isClusterScoped, isRec, orgId, type Rec, type Res, type ResId,
} from './model.js';
import { refKey } from '../../model/keys.js';

/** A kind that can be referred to, and the fields that refer to it. */
interface BackReference {
  target: { kind: string; group?: string; version?: string };
  referrers: FieldSpec[];
}

/** Where the pod spec is in each kind with one. */
const POD_SPECS: Array<{ kind: string; group?: string; version?: string; spec: string }> = [
  { kind: 'Pod', version: 'v1', spec: 'spec' },
  { kind: 'PodTemplate', spec: 'template/spec' },
  { kind: 'Deployment', spec: 'spec/template/spec' },
  { kind: 'ReplicaSet', spec: 'spec/template/spec' },
  { kind: 'DaemonSet', spec: 'spec/template/spec' },
  { kind: 'StatefulSet', spec: 'spec/template/spec' },
  { kind: 'Job', spec: 'spec/template/spec' },
  { kind: 'CronJob', spec: 'spec/jobTemplate/spec/template/spec' },
];

/** Kinds whose pod spec names ServiceAccounts, claims and priority classes (Kustomize's list: with ReplicationController, without PodTemplate). */
const POD_SPECS_WITH_RC = [
  { kind: 'Pod', spec: 'spec' },
  { kind: 'StatefulSet', spec: 'spec/template/spec' },
  { kind: 'Deployment', spec: 'spec/template/spec' },
  { kind: 'ReplicationController', spec: 'spec/template/spec' },
  { kind: 'CronJob', spec: 'spec/jobTemplate/spec/template/spec' },
  { kind: 'Job', spec: 'spec/template/spec' },
  { kind: 'DaemonSet', spec: 'spec/template/spec' },
];

const inPodSpecs = (paths: string[], specs: ReadonlyArray<{ kind: string; group?: string; version?: string; spec: string }> = POD_SPECS): FieldSpec[] =>
  specs.flatMap(({ spec, ...gvk }) => paths.map((p) => ({ ...gvk, path: `${spec}/${p}` })));

const RULE_NAMES: FieldSpec[] = [{ kind: 'Role', path: 'rules/resourceNames' }, { kind: 'ClusterRole', path: 'rules/resourceNames' }];

/** Kustomize's default name references (api/internal/konfig/builtinpluginconsts/namereference.go), Kubernetes' kinds. */
const BACK_REFERENCES: BackReference[] = [
  ...['Deployment', 'ReplicationController', 'ReplicaSet', 'StatefulSet'].map((kind) => ({
    target: { kind }, referrers: [{ kind: 'HorizontalPodAutoscaler', path: 'spec/scaleTargetRef/name' }],
  })),
  {
    target: { kind: 'ConfigMap', version: 'v1' },
    referrers: [
      ...inPodSpecs([
        'volumes/configMap/name', 'containers/env/valueFrom/configMapKeyRef/name', 'initContainers/env/valueFrom/configMapKeyRef/name',
        'containers/envFrom/configMapRef/name', 'initContainers/envFrom/configMapRef/name', 'volumes/projected/sources/configMap/name',
      ]),
      { kind: 'Node', path: 'spec/configSource/configMap' },
      ...RULE_NAMES,
      { kind: 'Ingress', path: 'metadata/annotations/nginx.ingress.kubernetes.io\\/fastcgi-params-configmap' },
    ],
  },
  {
    target: { kind: 'Secret', version: 'v1' },
    referrers: [
      ...inPodSpecs([
        'volumes/secret/secretName', 'containers/env/valueFrom/secretKeyRef/name', 'initContainers/env/valueFrom/secretKeyRef/name',
        'containers/envFrom/secretRef/name', 'initContainers/envFrom/secretRef/name', 'imagePullSecrets/name', 'volumes/projected/sources/secret/name',
      ]),
      { kind: 'Ingress', path: 'spec/tls/secretName' },
      { kind: 'Ingress', path: 'metadata/annotations/ingress.kubernetes.io\\/auth-secret' },
      { kind: 'Ingress', path: 'metadata/annotations/nginx.ingress.kubernetes.io\\/auth-secret' },
      { kind: 'Ingress', path: 'metadata/annotations/nginx.ingress.kubernetes.io\\/auth-tls-secret' },
      { kind: 'ServiceAccount', path: 'imagePullSecrets/name' },
      ...['secretName', 'adminSecretName', 'userSecretName', 'secretRef'].map((p) => ({ kind: 'StorageClass', path: `parameters/${p}` })),
      ...RULE_NAMES,
      { kind: 'PersistentVolume', path: 'spec/azureFile/secretName' },
    ],
  },
  {
    target: { kind: 'Service', version: 'v1' },
    referrers: [
      { kind: 'StatefulSet', group: 'apps', path: 'spec/serviceName' },
      { kind: 'Ingress', path: 'spec/rules/http/paths/backend/serviceName' },
      { kind: 'Ingress', path: 'spec/backend/serviceName' },
      { kind: 'Ingress', path: 'spec/rules/http/paths/backend/service/name' },
      { kind: 'Ingress', path: 'spec/defaultBackend/service/name' },
      { kind: 'APIService', group: 'apiregistration.k8s.io', path: 'spec/service/name' },
      { kind: 'ValidatingWebhookConfiguration', group: 'admissionregistration.k8s.io', path: 'webhooks/clientConfig/service' },
      { kind: 'MutatingWebhookConfiguration', group: 'admissionregistration.k8s.io', path: 'webhooks/clientConfig/service' },
    ],
  },
  { target: { kind: 'Role', group: 'rbac.authorization.k8s.io' }, referrers: [{ kind: 'RoleBinding', group: 'rbac.authorization.k8s.io', path: 'roleRef/name' }] },
  {
    target: { kind: 'ClusterRole', group: 'rbac.authorization.k8s.io' },
    referrers: [
      { kind: 'RoleBinding', group: 'rbac.authorization.k8s.io', path: 'roleRef/name' },
      { kind: 'ClusterRoleBinding', group: 'rbac.authorization.k8s.io', path: 'roleRef/name' },
    ],
  },
  {
    target: { kind: 'ServiceAccount', version: 'v1' },
    referrers: [
      { kind: 'RoleBinding', group: 'rbac.authorization.k8s.io', path: 'subjects' },
      { kind: 'ClusterRoleBinding', group: 'rbac.authorization.k8s.io', path: 'subjects' },
      ...inPodSpecs(['serviceAccountName'], POD_SPECS_WITH_RC),
    ],
  },
  { target: { kind: 'PersistentVolumeClaim', version: 'v1' }, referrers: inPodSpecs(['volumes/persistentVolumeClaim/claimName'], POD_SPECS_WITH_RC) },
  { target: { kind: 'PersistentVolume', version: 'v1' }, referrers: [{ kind: 'PersistentVolumeClaim', path: 'spec/volumeName' }, { kind: 'ClusterRole', path: 'rules/resourceNames' }] },
  {
    target: { kind: 'StorageClass', group: 'storage.k8s.io', version: 'v1' },
    referrers: [
      { kind: 'PersistentVolume', path: 'spec/storageClassName' },
      { kind: 'PersistentVolumeClaim', path: 'spec/storageClassName' },
      { kind: 'StatefulSet', path: 'spec/volumeClaimTemplates/spec/storageClassName' },
    ],
  },
  { target: { kind: 'PriorityClass', group: 'scheduling.k8s.io', version: 'v1' }, referrers: inPodSpecs(['priorityClassName'], POD_SPECS_WITH_RC) },
  { target: { kind: 'IngressClass', group: 'networking.k8s.io', version: 'v1' }, referrers: [{ kind: 'Ingress', path: 'spec/ingressClassName' }] },
];

/** True when `a` and `b` end alike (`[x, y]` and `[y]`); an empty list matches only an empty one. */
function sameEnding(a: string[], b: string[]): boolean {
  const [short, long] = a.length <= b.length ? [a, b] : [b, a];
  const diff = long.length - short.length;
  if (short.length === 0) return diff === 0;
  return short.every((x, i) => long[i + diff] === x);
}

function affixesEqual(a: Res, b: Res, allowEmpty: boolean): boolean {
  if (allowEmpty) {
    return (a.prefixes.length === 0 || b.prefixes.length === 0 || sameEnding(a.prefixes, b.prefixes))
      && (a.suffixes.length === 0 || b.suffixes.length === 0 || sameEnding(a.suffixes, b.suffixes));
  }
  return sameEnding(a.prefixes, b.prefixes) && sameEnding(a.suffixes, b.suffixes);
}

/** The objects `referrer` may name: cluster-scoped ones, its own namespace's, and for a RoleBinding its subjects' namespaces. */
function reachable(referrer: Res, all: Res[]): Res[] {
  const id = curId(referrer);
  if (isClusterScoped(id.kind)) return all;
  const extra = new Set<string>();
  if (referrer.obj.kind === 'RoleBinding') {
    const subjects = (referrer.obj as unknown as Rec).subjects;
    if (Array.isArray(subjects)) for (const s of subjects) if (isRec(s) && s.kind === 'ServiceAccount' && typeof s.namespace === 'string') extra.add(s.namespace);
  }
  return all.filter((t) => {
    const tid = curId(t);
    return isClusterScoped(tid.kind) || effectiveNamespace(tid) === effectiveNamespace(id) || extra.has(tid.namespace);
  });
}

/** Updates every name reference in `resources` (in place). */
export function fixNameReferences(resources: Res[], where: { file: string }): void {
  for (const referrer of resources) {
    const org = orgId(referrer);
    let candidates: Res[] | undefined;
    for (const back of BACK_REFERENCES) {
      for (const spec of back.referrers) {
        if (!specSelects(spec, org.apiVersion, org.kind)) continue;
        candidates ??= reachable(referrer, resources);
        const pick = (oldName: string, pool: Res[], sameNs: boolean): Res | undefined =>
          selectReferral(referrer, { back, spec, oldName, pool, sameNs, file: where.file });
        const setScalar = (holder: Rec | unknown[], key: string | number): void => {
          const value = (holder as Rec)[key as string];
          if (typeof value !== 'string') return;
          const referral = pick(value, candidates!, false);
          if (referral) (holder as Rec)[key as string] = referral.obj.metadata.name;
        };
        const setMapping = (node: Rec): void => {
          if (typeof node.name !== 'string') return;
          let pool = candidates!;
          if (typeof node.namespace === 'string') {
            const ns = node.namespace;
            const byOrg = pool.filter((c) => effectiveNamespace(orgId(c)) === effectiveNamespace({ kind: orgId(c).kind, namespace: ns }));
            pool = byOrg.length ? byOrg : pool.filter((c) => effectiveNamespace(curId(c)) === effectiveNamespace({ kind: c.obj.kind, namespace: ns }));
          }
          const referral = pick(node.name, pool, true);
          if (!referral) return;
          const refNs = referral.obj.metadata.namespace ?? '';
          if (referral.obj.metadata.name === node.name && refNs === '') return;
          node.name = referral.obj.metadata.name;
          if (refNs !== '') node.namespace = refNs;
        };
        walkFieldSpec(referrer.obj as unknown as Rec, { ...spec, kind: undefined, group: undefined, version: undefined }, undefined, (holder, key) => {
          const value = holder[key];
          if (typeof value === 'string') setScalar(holder, key);
          else if (isRec(value)) setMapping(value);
          else if (Array.isArray(value)) {
            value.forEach((item, i) => {
              if (typeof item === 'string') setScalar(value, i);
              else if (isRec(item)) setMapping(item);
            });
          }
        });
      }
    }
  }
}

function selectReferral(
  referrer: Res,
  q: { back: BackReference; spec: FieldSpec; oldName: string; pool: Res[]; sameNs: boolean; file: string },
): Res | undefined {
  const selectedByTarget = (id: ResId, t: { kind: string; group?: string; version?: string }): boolean => specSelects(t, id.apiVersion, id.kind);
  let c = q.pool.filter((r) => r.prev.some((id) => id.name === q.oldName));
  c = c.filter((r) => r.prev.some((id) => selectedByTarget(id, q.back.target)));
  if (q.spec.path.endsWith('roleRef/name')) {
    const roleRef = (referrer.obj as unknown as Rec).roleRef;
    if (isRec(roleRef) && typeof roleRef.kind === 'string' && typeof roleRef.apiGroup === 'string') {
      const want = { kind: roleRef.kind, group: roleRef.apiGroup };
      c = c.filter((r) => r.prev.some((id) => selectedByTarget(id, want)));
    }
  }
  const referrerId = curId(referrer);
  if (!isClusterScoped(referrerId.kind)) {
    c = c.filter((r) => isClusterScoped(r.obj.kind) || r.obj.kind === 'ServiceAccount' || effectiveNamespace(curId(r)) === effectiveNamespace(referrerId));
  }
  if (c.length === 1) return c[0];
  c = c.filter((r) => affixesEqual(r, referrer, true));
  if (c.length > 1) c = c.filter((r) => affixesEqual(r, referrer, false));
  if (c.length <= 1) return c[0];
  const first = c[0]!;
  const identical = c.every((r) => r.obj.metadata.name === first.obj.metadata.name && (!q.sameNs || (r.obj.metadata.namespace ?? '') === (first.obj.metadata.namespace ?? '')));
  if (identical) return first;
  throw new KustomizeError({
    file: q.file,
    object: refKey(referrerId),
    message: `${refKey(referrerId)} names ${q.oldName} in ${q.spec.path.replace(/\\\//g, '/')}, which could be any of ${c.map((r) => refKey(curId(r))).join(', ')}`,
  });
}
