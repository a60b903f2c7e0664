/**
 * Kubernetes API defaults, applied the way the API server applies them on create/update, so a
 * manifest written for Kubernetes means the same thing here and the diff can compare a terse
 * manifest with the fully spelled-out object the store holds.
 *
 * Defaults applied (a field is only set when it is absent):
 *
 * | where                                   | field                                    | default                          |
 * |-----------------------------------------|------------------------------------------|----------------------------------|
 * | every namespaced kind                   | metadata.namespace                       | `default` (cluster-scoped: removed) |
 * | Pod spec (Pods and every pod template)  | restartPolicy                            | Always                           |
 * |                                         | terminationGracePeriodSeconds            | 30                               |
 * |                                         | dnsPolicy                                | ClusterFirst                     |
 * |                                         | schedulerName                            | default-scheduler                |
 * |                                         | securityContext                          | {}                               |
 * |                                         | serviceAccount / serviceAccountName      | each other (one field, two names) |
 * |                                         | containers[].ports[].hostPort (hostNetwork only) | containerPort            |
 * | containers and initContainers           | imagePullPolicy                          | Always for tag `latest` or no tag (and no digest), else IfNotPresent |
 * |                                         | terminationMessagePath                   | /dev/termination-log             |
 * |                                         | terminationMessagePolicy                 | File                             |
 * |                                         | ports[].protocol                         | TCP                              |
 * |                                         | env[].valueFrom.fieldRef.apiVersion      | v1                               |
 * | liveness/readiness/startup probes       | timeoutSeconds / periodSeconds           | 1 / 10                           |
 * |                                         | successThreshold / failureThreshold      | 1 / 3                            |
 * |                                         | httpGet.path / httpGet.scheme            | `/` / HTTP                       |
 * | lifecycle postStart/preStop             | httpGet.path / httpGet.scheme            | `/` / HTTP                       |
 * | volumes                                 | (no source at all)                       | emptyDir: {}                     |
 * |                                         | configMap, secret, downwardAPI, projected defaultMode | 420 (0644)          |
 * |                                         | downwardAPI items[].fieldRef.apiVersion (also projected) | v1               |
 * |                                         | hostPath.type                            | '' (no check)                    |
 * | Pod (the kind, not templates)           | containers[].resources.requests          | each limit without a request     |
 * |                                         | enableServiceLinks                       | true                             |
 * | Deployment                              | replicas                                 | 1                                |
 * |                                         | strategy.type                            | RollingUpdate                    |
 * |                                         | strategy.rollingUpdate.maxSurge/maxUnavailable (RollingUpdate only) | '25%' / '25%' |
 * |                                         | revisionHistoryLimit                     | 10                               |
 * |                                         | progressDeadlineSeconds                  | 600                              |
 * | ReplicaSet                              | replicas                                 | 1                                |
 * | ReplicationController                   | replicas                                 | 1                                |
 * |                                         | selector, metadata.labels (when empty)   | the pod template's labels        |
 * | StatefulSet                             | replicas                                 | 1                                |
 * |                                         | podManagementPolicy                      | OrderedReady                     |
 * |                                         | updateStrategy.type                      | RollingUpdate                    |
 * |                                         | updateStrategy.rollingUpdate.partition (RollingUpdate only) | 0         |
 * |                                         | revisionHistoryLimit                     | 10                               |
 * |                                         | persistentVolumeClaimRetentionPolicy     | whenDeleted/whenScaled Retain    |
 * |                                         | volumeClaimTemplates[].spec.volumeMode   | Filesystem                       |
 * | DaemonSet                               | updateStrategy.type                      | RollingUpdate                    |
 * |                                         | updateStrategy.rollingUpdate (RollingUpdate only) | maxUnavailable 1, maxSurge 0 |
 * |                                         | revisionHistoryLimit                     | 10                               |
 * | Job                                     | completions, parallelism                 | 1, 1 when both absent; parallelism 1 when absent |
 * |                                         | backoffLimit                             | 6 (2147483647 with backoffLimitPerIndex) |
 * |                                         | podFailurePolicy.rules[].onPodConditions[].status | True                    |
 * |                                         | completionMode                           | NonIndexed                       |
 * |                                         | suspend                                  | false                            |
 * |                                         | metadata.labels (when empty)             | the pod template's labels        |
 * | CronJob                                 | concurrencyPolicy                        | Allow                            |
 * |                                         | suspend                                  | false                            |
 * |                                         | successfulJobsHistoryLimit / failedJobsHistoryLimit | 3 / 1                 |
 * | Service                                 | type                                     | ClusterIP                        |
 * |                                         | sessionAffinity                          | None                             |
 * |                                         | ports[].protocol                         | TCP                              |
 * |                                         | ports[].targetPort                       | ports[].port                     |
 * |                                         | ipFamilyPolicy, ipFamilies (not ExternalName) | SingleStack, [IPv4] (gantry's network is IPv4 only) |
 * | Secret                                  | type                                     | Opaque                           |
 * |                                         | stringData                               | base64-folded into data, removed (stringData wins per key) |
 * | Endpoints                               | subsets[].ports[].protocol               | TCP                              |
 * | EndpointSlice                           | ports[].protocol                         | TCP                              |
 * | PriorityClass                           | preemptionPolicy                         | PreemptLowerPriority             |
 * | IngressClass                            | spec.parameters.scope                    | Cluster                          |
 * | LimitRange (type Container)             | default (per resource)                   | max                              |
 * |                                         | defaultRequest (per resource)            | default, else min                |
 * | PersistentVolumeClaim                   | spec.volumeMode                          | Filesystem                       |
 * |                                         | metadata.finalizers (admission)          | + kubernetes.io/pvc-protection   |
 * |                                         | status.phase                             | Pending                          |
 * | PersistentVolume                        | spec.persistentVolumeReclaimPolicy       | Retain                           |
 * |                                         | spec.volumeMode                          | Filesystem                       |
 * |                                         | spec.hostPath.type                       | '' (no check)                    |
 * |                                         | metadata.finalizers (admission)          | + kubernetes.io/pv-protection    |
 * |                                         | status.phase                             | Pending                          |
 * | StorageClass                            | reclaimPolicy                            | Delete                           |
 * |                                         | volumeBindingMode                        | Immediate                        |
 * | HorizontalPodAutoscaler                 | (autoscaling/v1)                         | converted to autoscaling/v2      |
 * |                                         | minReplicas                              | 1                                |
 * |                                         | metrics (when none)                      | cpu Utilization 80%              |
 * |                                         | behavior.scaleUp/scaleDown (only when behavior is set) | Kubernetes' rules (src/model/hpa.ts) |
 *
 * Deliberately not defaulted, as Kubernetes does not default them either: a CronJob's
 * `jobTemplate.spec` Job fields (only its pod template is defaulted), a Job's selector and
 * controller-uid labels (the Job controller makes those), and anything on networking.k8s.io/v1
 * Ingress (its `pathType` is required, not defaulted). Fields outside src/model/types.ts (for
 * example Service `internalTrafficPolicy`) are never added: they are not supported.
 */
import { convertHpaInPlace, defaultHpaSpec } from './hpa.js';
import { kindInfo } from './kinds.js';
import { PV_PROTECTION_FINALIZER, PVC_PROTECTION_FINALIZER } from './storage.js';
import type {
  Container,
  KubeObject,
  PodSpec,
  PodTemplateSpec,
  Probe,
  Volume,
} from './types.js';

/** A plain JSON-ish record, the shape every manifest object has at runtime. */
type Rec = Record<string, unknown>;

/**
 * Returns a new object with Kubernetes' API defaults filled in for the object's kind. The input
 * is never modified. Idempotent: `applyDefaults(applyDefaults(x))` deep-equals `applyDefaults(x)`.
 * Unknown kinds only get the deep copy (and nothing else), so the function is safe on anything.
 */
export function applyDefaults<T extends KubeObject>(obj: T): T {
  const out = cloneJson(obj);
  applyDefaultsInPlace(out);
  return out;
}

/**
 * Fills defaults into `obj` itself. Only for callers that own a private copy (the diff
 * normalizer copies and strips in one pass, then defaults the copy); everyone else uses
 * {@link applyDefaults}.
 */
export function applyDefaultsInPlace(obj: KubeObject): void {
  if (!isRec(obj.metadata)) obj.metadata = { name: '' };
  const info = kindInfo(obj.kind);
  if (info?.namespaced) {
    if (!obj.metadata.namespace) obj.metadata.namespace = 'default';
  } else if (info) {
    delete obj.metadata.namespace;
  }
  const spec = isRec(obj.spec) ? obj.spec : undefined;
  switch (obj.kind) {
    case 'Pod':
      if (spec) {
        defaultPodSpec(spec as unknown as PodSpec);
        defaultRequestsFromLimits(spec as unknown as PodSpec);
        // As Kubernetes' SetDefaults_Pod: on Pods only, never on templates.
        setIfAbsent(spec, 'enableServiceLinks', true);
      }
      break;
    case 'Deployment':
      if (spec) defaultDeployment(spec);
      break;
    case 'ReplicaSet':
      if (spec) {
        setIfAbsent(spec, 'replicas', 1);
        defaultTemplate(spec.template);
      }
      break;
    case 'StatefulSet':
      if (spec) defaultStatefulSet(spec);
      break;
    case 'DaemonSet':
      if (spec) defaultDaemonSet(spec);
      break;
    case 'Job':
      if (spec) defaultJob(obj, spec);
      break;
    case 'CronJob':
      if (spec) defaultCronJob(spec);
      break;
    case 'Service':
      if (spec) defaultService(spec);
      break;
    case 'Secret':
      defaultSecret(obj);
      break;
    case 'PersistentVolumeClaim':
      if (spec) setIfAbsent(spec, 'volumeMode', 'Filesystem');
      defaultPhase(obj, 'Pending');
      // The API server's StorageObjectInUseProtection admission adds it on create.
      addFinalizer(obj, PVC_PROTECTION_FINALIZER);
      break;
    case 'PersistentVolume':
      if (spec) {
        setIfAbsent(spec, 'persistentVolumeReclaimPolicy', 'Retain');
        setIfAbsent(spec, 'volumeMode', 'Filesystem');
        if (isRec(spec.hostPath)) setIfAbsent(spec.hostPath, 'type', '');
      }
      addFinalizer(obj, PV_PROTECTION_FINALIZER);
      defaultPhase(obj, 'Pending');
      break;
    case 'StorageClass':
      setIfAbsent(obj, 'reclaimPolicy', 'Delete');
      setIfAbsent(obj, 'volumeBindingMode', 'Immediate');
      break;
    case 'HorizontalPodAutoscaler':
      // An autoscaling/v1 manifest is stored as autoscaling/v2, as the API server converts it.
      convertHpaInPlace(obj);
      if (isRec(obj.spec)) defaultHpaSpec(obj.spec);
      break;
    case 'Endpoints':
      for (const subset of asRecArray(obj.subsets)) {
        for (const port of asRecArray(subset.ports)) setIfAbsent(port, 'protocol', 'TCP');
      }
      break;
    case 'EndpointSlice':
      for (const port of asRecArray(obj.ports)) setIfAbsent(port, 'protocol', 'TCP');
      break;
    case 'ReplicationController':
      if (spec) defaultReplicationController(obj, spec);
      break;
    case 'PriorityClass':
      setIfAbsent(obj, 'preemptionPolicy', 'PreemptLowerPriority');
      break;
    case 'IngressClass':
      if (spec && isRec(spec.parameters)) setIfAbsent(spec.parameters, 'scope', 'Cluster');
      break;
    case 'LimitRange':
      if (spec) for (const item of asRecArray(spec.limits)) defaultLimitRangeItem(item);
      break;
    default:
      break;
  }
}

/** As the API server: the template's labels select the pods and label the controller when those are empty. */
function defaultReplicationController(obj: KubeObject, spec: Rec): void {
  const labels = isRec(spec.template) && isRec(spec.template.metadata) && isRec(spec.template.metadata.labels) ? (spec.template.metadata.labels as Record<string, string>) : undefined;
  if (labels) {
    if (!isRec(spec.selector) || Object.keys(spec.selector).length === 0) spec.selector = { ...labels };
    if (Object.keys(obj.metadata.labels ?? {}).length === 0) obj.metadata.labels = { ...labels };
  }
  setIfAbsent(spec, 'replicas', 1);
  defaultTemplate(spec.template);
}

/**
 * A Container item's defaults, as Kubernetes' SetDefaults_LimitRangeItem: a limit default from
 * `max`, a request default from the limit default, else from `min`, per resource.
 */
function defaultLimitRangeItem(item: Rec): void {
  if (item.type !== 'Container') return;
  const max = isRec(item.max) ? item.max : {};
  const min = isRec(item.min) ? item.min : {};
  const def = { ...(isRec(item.default) ? item.default : {}) };
  for (const k in max) if (def[k] === undefined) def[k] = max[k];
  const req = { ...(isRec(item.defaultRequest) ? item.defaultRequest : {}) };
  for (const k in def) if (req[k] === undefined) req[k] = def[k];
  for (const k in min) if (req[k] === undefined) req[k] = min[k];
  if (Object.keys(def).length > 0) item.default = def;
  if (Object.keys(req).length > 0) item.defaultRequest = req;
}

function defaultDeployment(spec: Rec): void {
  setIfAbsent(spec, 'replicas', 1);
  const strategy = ensureRec(spec, 'strategy');
  setIfAbsent(strategy, 'type', 'RollingUpdate');
  if (strategy.type === 'RollingUpdate') {
    const ru = ensureRec(strategy, 'rollingUpdate');
    setIfAbsent(ru, 'maxUnavailable', '25%');
    setIfAbsent(ru, 'maxSurge', '25%');
  }
  setIfAbsent(spec, 'revisionHistoryLimit', 10);
  setIfAbsent(spec, 'progressDeadlineSeconds', 600);
  defaultTemplate(spec.template);
}

function defaultStatefulSet(spec: Rec): void {
  setIfAbsent(spec, 'replicas', 1);
  setIfAbsent(spec, 'podManagementPolicy', 'OrderedReady');
  const strategy = ensureRec(spec, 'updateStrategy');
  setIfAbsent(strategy, 'type', 'RollingUpdate');
  if (strategy.type === 'RollingUpdate') {
    const ru = ensureRec(strategy, 'rollingUpdate');
    setIfAbsent(ru, 'partition', 0);
  }
  setIfAbsent(spec, 'revisionHistoryLimit', 10);
  const retention = ensureRec(spec, 'persistentVolumeClaimRetentionPolicy');
  setIfAbsent(retention, 'whenDeleted', 'Retain');
  setIfAbsent(retention, 'whenScaled', 'Retain');
  for (const claim of asRecArray(spec.volumeClaimTemplates)) {
    if (isRec(claim.spec)) setIfAbsent(claim.spec, 'volumeMode', 'Filesystem');
  }
  defaultTemplate(spec.template);
}

function defaultDaemonSet(spec: Rec): void {
  const strategy = ensureRec(spec, 'updateStrategy');
  setIfAbsent(strategy, 'type', 'RollingUpdate');
  if (strategy.type === 'RollingUpdate') {
    const ru = ensureRec(strategy, 'rollingUpdate');
    setIfAbsent(ru, 'maxUnavailable', 1);
    setIfAbsent(ru, 'maxSurge', 0);
  }
  setIfAbsent(spec, 'revisionHistoryLimit', 10);
  defaultTemplate(spec.template);
}

function defaultJob(obj: KubeObject, spec: Rec): void {
  // Kubernetes sets completions only when both are absent: a work-queue Job (parallelism set,
  // completions unset) must keep completions unset.
  if (spec.completions == null && spec.parallelism == null) spec.completions = 1;
  setIfAbsent(spec, 'parallelism', 1);
  // With a per-index limit the Job-wide one steps aside unless given (Kubernetes: MaxInt32).
  setIfAbsent(spec, 'backoffLimit', spec.backoffLimitPerIndex != null ? 2147483647 : 6);
  for (const rule of asRecArray(isRec(spec.podFailurePolicy) ? spec.podFailurePolicy.rules : undefined)) {
    for (const cond of asRecArray(rule.onPodConditions)) setIfAbsent(cond, 'status', 'True');
  }
  setIfAbsent(spec, 'completionMode', 'NonIndexed');
  setIfAbsent(spec, 'suspend', false);
  const template = isRec(spec.template) ? (spec.template as unknown as PodTemplateSpec) : undefined;
  const templateLabels = template?.metadata?.labels;
  if (templateLabels && Object.keys(obj.metadata.labels ?? {}).length === 0) {
    obj.metadata.labels = { ...templateLabels };
  }
  defaultTemplate(spec.template);
}

function defaultCronJob(spec: Rec): void {
  setIfAbsent(spec, 'concurrencyPolicy', 'Allow');
  setIfAbsent(spec, 'suspend', false);
  setIfAbsent(spec, 'successfulJobsHistoryLimit', 3);
  setIfAbsent(spec, 'failedJobsHistoryLimit', 1);
  const jobTemplate = isRec(spec.jobTemplate) ? spec.jobTemplate : undefined;
  if (jobTemplate && isRec(jobTemplate.spec)) defaultTemplate(jobTemplate.spec.template);
}

function defaultService(spec: Rec): void {
  setIfAbsent(spec, 'type', 'ClusterIP');
  if (spec.type !== 'ExternalName') {
    // What the API server settles on a single-stack IPv4 cluster, which gantry's network is.
    setIfAbsent(spec, 'ipFamilyPolicy', 'SingleStack');
    setIfAbsent(spec, 'ipFamilies', ['IPv4']);
  }
  setIfAbsent(spec, 'sessionAffinity', 'None');
  for (const port of asRecArray(spec.ports)) {
    setIfAbsent(port, 'protocol', 'TCP');
    if (port.targetPort == null || port.targetPort === 0 || port.targetPort === '') {
      port.targetPort = port.port;
    }
  }
}

function defaultSecret(obj: KubeObject): void {
  setIfAbsent(obj, 'type', 'Opaque');
  const stringData = obj.stringData;
  if (isRec(stringData)) {
    const data: Rec = isRec(obj.data) ? obj.data : {};
    for (const [key, value] of Object.entries(stringData)) {
      data[key] = Buffer.from(String(value), 'utf8').toString('base64');
    }
    obj.data = data;
  }
  delete obj.stringData;
}

function defaultTemplate(template: unknown): void {
  if (isRec(template) && isRec(template.spec)) defaultPodSpec(template.spec as unknown as PodSpec);
}

function defaultPodSpec(spec: PodSpec): void {
  const s = spec as unknown as Rec;
  setIfAbsent(s, 'restartPolicy', 'Always');
  setIfAbsent(s, 'terminationGracePeriodSeconds', 30);
  setIfAbsent(s, 'dnsPolicy', 'ClusterFirst');
  setIfAbsent(s, 'schedulerName', 'default-scheduler');
  setIfAbsent(s, 'securityContext', {});
  // The deprecated `serviceAccount` and `serviceAccountName` are one field, as the API server
  // converts them: either spelling gives both.
  if (typeof s.serviceAccountName === 'string' && s.serviceAccountName) setIfAbsent(s, 'serviceAccount', s.serviceAccountName);
  else if (typeof s.serviceAccount === 'string' && s.serviceAccount) s.serviceAccountName = s.serviceAccount;
  for (const list of [spec.containers, spec.initContainers]) {
    if (!Array.isArray(list)) continue;
    for (const c of list) {
      if (!isRec(c)) continue;
      defaultContainer(c);
      if (spec.hostNetwork === true) {
        // With the host's network a container port is a host port; Kubernetes spells it out.
        for (const p of c.ports ?? []) {
          if (isRec(p) && (p.hostPort == null || p.hostPort === 0)) p.hostPort = p.containerPort;
        }
      }
    }
  }
  if (Array.isArray(spec.volumes)) for (const v of spec.volumes) if (isRec(v)) defaultVolume(v);
}

function defaultContainer(c: Container): void {
  const r = c as unknown as Rec;
  if (c.imagePullPolicy == null && typeof c.image === 'string') {
    c.imagePullPolicy = pullPolicyFor(c.image);
  }
  setIfAbsent(r, 'terminationMessagePath', '/dev/termination-log');
  setIfAbsent(r, 'terminationMessagePolicy', 'File');
  for (const p of asRecArray(r.ports)) setIfAbsent(p, 'protocol', 'TCP');
  for (const e of asRecArray(r.env)) {
    if (isRec(e.valueFrom) && isRec(e.valueFrom.fieldRef)) setIfAbsent(e.valueFrom.fieldRef, 'apiVersion', 'v1');
  }
  for (const probe of [c.livenessProbe, c.readinessProbe, c.startupProbe]) {
    if (isRec(probe)) defaultProbe(probe);
  }
  const lifecycle = r.lifecycle;
  if (isRec(lifecycle)) {
    for (const hook of [lifecycle.postStart, lifecycle.preStop]) if (isRec(hook) && isRec(hook.httpGet)) defaultHttpGet(hook.httpGet);
  }
}

function defaultHttpGet(action: Rec): void {
  setIfAbsent(action, 'path', '/');
  setIfAbsent(action, 'scheme', 'HTTP');
}

function defaultProbe(probe: Probe): void {
  const r = probe as unknown as Rec;
  setIfAbsent(r, 'timeoutSeconds', 1);
  setIfAbsent(r, 'periodSeconds', 10);
  setIfAbsent(r, 'successThreshold', 1);
  setIfAbsent(r, 'failureThreshold', 3);
  if (isRec(r.httpGet)) defaultHttpGet(r.httpGet);
}

const volumeSources = ['emptyDir', 'hostPath', 'configMap', 'secret', 'persistentVolumeClaim', 'downwardAPI', 'projected'] as const;

function defaultVolume(v: Volume): void {
  const r = v as unknown as Rec;
  if (!volumeSources.some((k) => r[k] !== undefined && r[k] !== null)) r.emptyDir = {};
  if (isRec(r.configMap)) setIfAbsent(r.configMap, 'defaultMode', 420);
  if (isRec(r.secret)) setIfAbsent(r.secret, 'defaultMode', 420);
  if (isRec(r.hostPath)) setIfAbsent(r.hostPath, 'type', '');
  if (isRec(r.downwardAPI)) {
    setIfAbsent(r.downwardAPI, 'defaultMode', 420);
    defaultDownwardItems(r.downwardAPI.items);
  }
  if (isRec(r.projected)) {
    setIfAbsent(r.projected, 'defaultMode', 420);
    for (const src of asRecArray(r.projected.sources)) if (isRec(src.downwardAPI)) defaultDownwardItems(src.downwardAPI.items);
  }
}

function defaultDownwardItems(items: unknown): void {
  for (const item of asRecArray(items)) if (isRec(item.fieldRef)) setIfAbsent(item.fieldRef, 'apiVersion', 'v1');
}

/** On a Pod (not on templates) each limit without a request becomes the request. */
function defaultRequestsFromLimits(spec: PodSpec): void {
  for (const list of [spec.containers, spec.initContainers]) {
    if (!Array.isArray(list)) continue;
    for (const c of list) {
      const limits = isRec(c?.resources) && isRec(c.resources.limits) ? c.resources.limits : undefined;
      if (!limits || Object.keys(limits).length === 0) continue;
      const resources = c.resources as Rec;
      const requests = ensureRec(resources, 'requests');
      for (const [name, q] of Object.entries(limits)) setIfAbsent(requests, name, q);
    }
  }
}

/**
 * Kubernetes' image pull policy default: Always for `:latest` or an untagged image without a
 * digest, IfNotPresent otherwise. A `:port` in the registry host is not a tag.
 */
export function pullPolicyFor(image: string): 'Always' | 'IfNotPresent' {
  if (image.includes('@')) return 'IfNotPresent';
  const lastSlash = image.lastIndexOf('/');
  const lastColon = image.lastIndexOf(':');
  const tag = lastColon > lastSlash ? image.slice(lastColon + 1) : '';
  return tag === '' || tag === 'latest' ? 'Always' : 'IfNotPresent';
}

// ------------------------------------------------------------------ helpers

function isRec(v: unknown): v is Rec {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function asRecArray(v: unknown): Rec[] {
  return Array.isArray(v) ? (v.filter(isRec) as Rec[]) : [];
}

function setIfAbsent(obj: object, key: string, value: unknown): void {
  const r = obj as Rec;
  if (r[key] === undefined || r[key] === null) r[key] = value;
}

/** `status.phase` when unset (claims and volumes start Pending, as the API server defaults them). */
function defaultPhase(obj: KubeObject, phase: string): void {
  const status: Rec = isRec(obj.status) ? obj.status : {};
  setIfAbsent(status, 'phase', phase);
  obj.status = status;
}

/** Adds a protection finalizer, except to an object already being deleted (admission runs on create). */
function addFinalizer(obj: KubeObject, finalizer: string): void {
  if (obj.metadata.deletionTimestamp) return;
  const list = Array.isArray(obj.metadata.finalizers) ? obj.metadata.finalizers : [];
  if (!list.includes(finalizer)) obj.metadata.finalizers = [...list, finalizer];
}

function ensureRec(obj: Rec, key: string): Rec {
  const cur = obj[key];
  if (isRec(cur)) return cur;
  const fresh: Rec = {};
  obj[key] = fresh;
  return fresh;
}

/**
 * Deep copy of JSON-shaped data (what manifests and stored objects are). Hand-rolled because structuredClone is several times slower
 * on the small objects a 10,000-object plan copies; undefined-valued keys are dropped, as JSON
 * would drop them.
 */
export function cloneJson<T>(v: T): T {
  return cloneValue(v) as T;
}

function cloneValue(v: unknown): unknown {
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) {
    const out = new Array<unknown>(v.length);
    for (let i = 0; i < v.length; i++) out[i] = cloneValue(v[i]);
    return out;
  }
  const out: Rec = {};
  for (const key in v as Rec) {
    const value = (v as Rec)[key];
    if (value !== undefined) out[key] = cloneValue(value);
  }
  return out;
}
