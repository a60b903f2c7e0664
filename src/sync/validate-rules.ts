/**
 * Semantic checks that JSON Schema cannot express, made the way the Kubernetes API server makes
 * them (names, selectors matching template labels, ports, quantities, volumes, restart
 * policies, schedules, …). They run only on objects that passed the schema, so shapes here are
 * the ones of src/model/types.ts.
 */
import {
  validateConfigKey,
  validateDns1035Label,
  validateDns1123Label,
  validateDns1123Subdomain,
  validateEnvVarName,
  validateLabelKey,
  validateLabelValue,
  validatePathSegmentName,
  validatePortName,
} from '../model/names.js';
import { isIpv4, parseIpBlock, strictlyWithin } from '../model/cidr.js';
import { parseQuantity } from '../model/quantity.js';
import { matchesSelector } from '../model/selectors.js';
import type {
  ConfigMap,
  Container,
  CronJob,
  DaemonSet,
  Deployment,
  HorizontalPodAutoscaler,
  Ingress,
  IngressBackend,
  Job,
  JobSpec,
  KeyToPath,
  KubeObject,
  LabelSelector,
  NetworkPolicy,
  NetworkPolicyPeer,
  NetworkPolicyPort,
  NodeSelectorTerm,
  PersistentVolume,
  PersistentVolumeClaim,
  PersistentVolumeClaimSpec,
  PodDisruptionBudget,
  PodSpec,
  PodTemplateSpec,
  Probe,
  ReplicaSet,
  ReplicationController,
  Secret,
  Service,
  StatefulSet,
  StorageClass,
  StringMap,
} from '../model/types.js';
import { LOCAL_PATH_PROVISIONERS } from '../model/storage.js';
import { validateSchedule, validateTimeZone } from '../model/cron.js';
import { hpaProblems } from './validate-hpa.js';
import { rbacProblems } from './validate-rbac.js';
import { checkDownwardAndProjected, checkContainerFields, checkPodFields } from './validate-pod.js';
import { checkJobPolicies } from './validate-job.js';
import { Problems, checkItems, checkPortRef, checkQuantity, validateRelativePath, type RuleProblem } from './validate-problems.js';

export type { RuleProblem } from './validate-problems.js';
import { policyProblems } from './validate-policy.js';
import { endpointProblems } from './validate-endpoints.js';

/** Runs every semantic check for `obj` (already schema-valid) and returns the problems. */
export function ruleProblems(obj: KubeObject): RuleProblem[] {
  const p = new Problems();
  checkMetadata(p, obj);
  switch (obj.kind) {
    case 'ConfigMap':
      checkConfigMap(p, obj as ConfigMap);
      break;
    case 'Secret':
      checkSecret(p, obj as Secret);
      break;
    case 'Pod':
      checkPodSpec(p, 'spec', (obj as KubeObject & { spec: PodSpec }).spec, { restart: 'any' });
      break;
    case 'Deployment':
      checkDeployment(p, obj as Deployment);
      break;
    case 'ReplicaSet':
      checkWorkload(p, 'spec', obj as ReplicaSet);
      break;
    case 'ReplicationController':
      checkReplicationController(p, obj as ReplicationController);
      break;
    case 'StatefulSet':
      checkStatefulSet(p, obj as StatefulSet);
      break;
    case 'DaemonSet':
      checkDaemonSet(p, obj as DaemonSet);
      break;
    case 'Job':
      checkJobSpec(p, 'spec', (obj as Job).spec);
      break;
    case 'CronJob':
      checkCronJob(p, obj as CronJob);
      break;
    case 'Service':
      checkService(p, obj as Service);
      break;
    case 'Ingress':
      checkIngress(p, obj as Ingress);
      break;
    case 'NetworkPolicy':
      checkNetworkPolicy(p, obj as NetworkPolicy);
      break;
    case 'PodDisruptionBudget':
      checkPodDisruptionBudget(p, obj as PodDisruptionBudget);
      break;
    case 'HorizontalPodAutoscaler':
      p.list.push(...hpaProblems(obj as HorizontalPodAutoscaler));
      break;
    case 'PersistentVolumeClaim':
      checkClaimSpec(p, 'spec', (obj as PersistentVolumeClaim).spec);
      break;
    case 'PersistentVolume':
      checkPersistentVolume(p, obj as PersistentVolume);
      break;
    case 'StorageClass':
      checkStorageClass(p, obj as StorageClass);
      break;
    case 'Role':
    case 'ClusterRole':
    case 'RoleBinding':
    case 'ClusterRoleBinding':
      p.list.push(...rbacProblems(obj));
      break;
    case 'LimitRange':
    case 'ResourceQuota':
    case 'PriorityClass':
      policyProblems(p, obj);
      break;
    case 'Endpoints':
    case 'EndpointSlice':
    case 'IngressClass':
      endpointProblems(p, obj);
      break;
    default:
      break;
  }
  return p.list;
}

// ---------------------------------------------------------------- metadata, labels, selectors

const RBAC_KINDS: ReadonlySet<string> = new Set(['Role', 'ClusterRole', 'RoleBinding', 'ClusterRoleBinding']);

function checkMetadata(p: Problems, obj: KubeObject): void {
  const { name, namespace, labels, annotations } = obj.metadata;
  if (name === '') {
    p.required('metadata.name', 'name or generateName is required');
  } else {
    // Kubernetes: Namespace names are DNS-1123 labels, Service names DNS-1035 labels (they
    // become DNS names of their own), everything else DNS-1123 subdomains.
    // RBAC objects are path segment names (`system:aggregate-to-view`).
    const bad =
      obj.kind === 'Namespace' ? validateDns1123Label(name)
        : obj.kind === 'Service' ? validateDns1035Label(name)
          : RBAC_KINDS.has(obj.kind) ? validatePathSegmentName(name)
            : validateDns1123Subdomain(name);
    if (bad) p.invalid('metadata.name', name, bad);
    else if (obj.kind === 'CronJob' && name.length > 52) {
      // The controller appends an 11-character suffix to name Jobs after their CronJob.
      p.invalid('metadata.name', name, 'must be no more than 52 characters');
    }
  }
  if (namespace !== undefined && namespace !== '') {
    const bad = validateDns1123Label(namespace);
    if (bad) p.invalid('metadata.namespace', namespace, bad);
  }
  checkLabels(p, 'metadata.labels', labels);
  checkAnnotations(p, 'metadata.annotations', annotations);
}

function checkLabels(p: Problems, path: string, labels: StringMap | undefined): void {
  if (!labels) return;
  for (const key in labels) {
    const badKey = validateLabelKey(key);
    if (badKey) p.invalid(`${path}[${key}]`, key, badKey);
    const badValue = validateLabelValue(labels[key]!);
    if (badValue) p.invalid(`${path}[${key}]`, labels[key], badValue);
  }
}

const ANNOTATIONS_MAX_BYTES = 256 * 1024;

function checkAnnotations(p: Problems, path: string, annotations: StringMap | undefined): void {
  if (!annotations) return;
  let size = 0;
  for (const key in annotations) {
    const bad = validateLabelKey(key);
    if (bad) p.invalid(`${path}[${key}]`, key, bad);
    size += key.length + annotations[key]!.length;
  }
  if (size > ANNOTATIONS_MAX_BYTES) p.say(path, `may not have more than ${ANNOTATIONS_MAX_BYTES} bytes in total`);
}

function checkSelector(p: Problems, path: string, sel: LabelSelector): void {
  checkLabels(p, `${path}.matchLabels`, sel.matchLabels);
  sel.matchExpressions?.forEach((req, i) => {
    const at = `${path}.matchExpressions[${i}]`;
    const bad = validateLabelKey(req.key);
    if (bad) p.invalid(`${at}.key`, req.key, bad);
    const values = req.values ?? [];
    if ((req.operator === 'In' || req.operator === 'NotIn') && values.length === 0) {
      p.required(`${at}.values`, "must be specified when `operator` is 'In' or 'NotIn'");
    }
    if ((req.operator === 'Exists' || req.operator === 'DoesNotExist') && values.length > 0) {
      p.forbidden(`${at}.values`, "may not be specified when `operator` is 'Exists' or 'DoesNotExist'");
    }
    values.forEach((v, j) => {
      const badValue = validateLabelValue(v);
      if (badValue) p.invalid(`${at}.values[${j}]`, v, badValue);
    });
  });
}

function selectorIsEmpty(sel: LabelSelector): boolean {
  return Object.keys(sel.matchLabels ?? {}).length === 0 && (sel.matchExpressions ?? []).length === 0;
}

/** Selector present, non-empty, valid, and matching the template's labels. */
function checkSelectorMatchesTemplate(p: Problems, spec: string, sel: LabelSelector, template: PodTemplateSpec): void {
  if (selectorIsEmpty(sel)) {
    p.invalid(`${spec}.selector`, sel, 'empty selector is invalid for this kind');
    return;
  }
  const before = p.list.length;
  checkSelector(p, `${spec}.selector`, sel);
  // An invalid selector matches nothing; saying so again about the labels would be noise.
  if (p.list.length === before && !matchesSelector(sel, template.metadata?.labels)) {
    p.invalid(`${spec}.template.metadata.labels`, template.metadata?.labels ?? {}, '`selector` does not match template `labels`');
  }
}

// ---------------------------------------------------------------- workloads

type RestartRule = 'any' | 'always' | 'job';

function checkTemplate(p: Problems, path: string, template: PodTemplateSpec, opts: PodCheckOptions): void {
  checkLabels(p, `${path}.metadata.labels`, template.metadata?.labels);
  checkAnnotations(p, `${path}.metadata.annotations`, template.metadata?.annotations);
  checkPodSpec(p, `${path}.spec`, template.spec, opts);
}

function checkWorkload(
  p: Problems,
  path: string,
  obj: { spec: { selector: LabelSelector; template: PodTemplateSpec } },
  extraVolumes?: readonly string[],
): void {
  checkSelectorMatchesTemplate(p, path, obj.spec.selector, obj.spec.template);
  checkTemplate(p, `${path}.template`, obj.spec.template, { restart: 'always', extraVolumes });
}

/**
 * As the API server validates a ReplicationController (after defaulting its selector from the
 * template's labels): a non-empty equality selector that the template's labels satisfy, and a
 * template whose pods restart Always.
 */
function checkReplicationController(p: Problems, rc: ReplicationController): void {
  const template = rc.spec.template!;
  const selector = rc.spec.selector && Object.keys(rc.spec.selector).length > 0 ? rc.spec.selector : template.metadata?.labels;
  if (!selector || Object.keys(selector).length === 0) {
    p.required('spec.selector', 'the selector (or, in its place, spec.template.metadata.labels) must not be empty');
  } else {
    const before = p.list.length;
    checkLabels(p, 'spec.selector', rc.spec.selector);
    if (p.list.length === before && !matchesSelector({ matchLabels: selector }, template.metadata?.labels)) {
      p.invalid('spec.template.metadata.labels', template.metadata?.labels ?? {}, '`selector` does not match template `labels`');
    }
  }
  if (template.spec.activeDeadlineSeconds !== undefined) p.forbidden('spec.template.spec.activeDeadlineSeconds', 'activeDeadlineSeconds in ReplicationController is not Supported');
  checkTemplate(p, 'spec.template', template, { restart: 'always' });
}

function checkDeployment(p: Problems, d: Deployment): void {
  checkWorkload(p, 'spec', d);
  const strategy = d.spec.strategy;
  if (!strategy) return;
  if (strategy.type === 'Recreate' && strategy.rollingUpdate) {
    p.forbidden('spec.strategy.rollingUpdate', "may not be specified when strategy `type` is 'Recreate'");
    return;
  }
  const ru = strategy.rollingUpdate;
  if (!ru) return;
  const surge = checkIntOrPercent(p, 'spec.strategy.rollingUpdate.maxSurge', ru.maxSurge);
  const unavailable = checkIntOrPercent(p, 'spec.strategy.rollingUpdate.maxUnavailable', ru.maxUnavailable, true);
  if (surge === 0 && unavailable === 0) {
    p.invalid('spec.strategy.rollingUpdate.maxUnavailable', ru.maxUnavailable, 'may not be 0 when `maxSurge` is 0');
  }
}

function checkStatefulSet(p: Problems, s: StatefulSet): void {
  const claims: string[] = [];
  const seen = new Set<string>();
  s.spec.volumeClaimTemplates?.forEach((t, i) => {
    const at = `spec.volumeClaimTemplates[${i}]`;
    const name = t.metadata.name;
    const bad = validateDns1123Subdomain(name);
    if (bad) p.invalid(`${at}.metadata.name`, name, bad);
    if (seen.has(name)) p.duplicate(`${at}.metadata.name`, name);
    seen.add(name);
    claims.push(name);
    checkLabels(p, `${at}.metadata.labels`, t.metadata.labels);
    checkAnnotations(p, `${at}.metadata.annotations`, t.metadata.annotations);
    checkClaimSpec(p, `${at}.spec`, t.spec);
  });
  if (s.spec.serviceName) {
    const bad = validateDns1035Label(s.spec.serviceName);
    if (bad) p.invalid('spec.serviceName', s.spec.serviceName, bad);
  }
  // A StatefulSet's containers may mount the per-pod volumes made from its claim templates.
  checkWorkload(p, 'spec', s, claims);
  const ru = s.spec.updateStrategy?.rollingUpdate;
  if (ru && s.spec.updateStrategy?.type === 'OnDelete') {
    p.forbidden('spec.updateStrategy.rollingUpdate', "only allowed for updateStrategy 'RollingUpdate'");
  }
  if (ru?.maxUnavailable !== undefined) {
    const v = checkIntOrPercent(p, 'spec.updateStrategy.rollingUpdate.maxUnavailable', ru.maxUnavailable, true);
    if (v === 0) p.invalid('spec.updateStrategy.rollingUpdate.maxUnavailable', ru.maxUnavailable, 'must be greater than 0');
  }
}

// ---------------------------------------------------------------- storage

const ACCESS_MODES_REQUIRED = 'at least 1 access mode is required';
const VOLUMES_ARE_DIRECTORIES = 'gantry\'s volumes are directories; "Block" is not supported (use "Filesystem")';

function checkAccessModes(p: Problems, field: string, modes: readonly string[] | undefined): void {
  if (!modes || modes.length === 0) {
    p.required(field, ACCESS_MODES_REQUIRED);
    return;
  }
  if (modes.includes('ReadWriteOncePod') && modes.length > 1) {
    p.forbidden(field, 'may not use ReadWriteOncePod with other access modes');
  }
}

/** Checks a positive storage quantity; reports under `field`. */
function checkStorageQuantity(p: Problems, field: string, q: number | string | undefined): void {
  if (q === undefined) {
    p.required(field);
    return;
  }
  const v = checkQuantity(p, field, q);
  if (v !== undefined && v <= 0) p.invalid(field, q, 'must be greater than zero');
}

/** A claim's spec: on a PersistentVolumeClaim, and on each of a StatefulSet's volumeClaimTemplates. */
function checkClaimSpec(p: Problems, path: string, spec: PersistentVolumeClaimSpec): void {
  checkAccessModes(p, `${path}.accessModes`, spec.accessModes);
  checkStorageQuantity(p, `${path}.resources.requests[storage]`, spec.resources?.requests?.storage);
  for (const kind of ['requests', 'limits'] as const) {
    for (const name of Object.keys(spec.resources?.[kind] ?? {})) {
      if (name !== 'storage') p.invalid(`${path}.resources.${kind}[${name}]`, name, 'a claim asks only for storage');
    }
  }
  const limit = spec.resources?.limits?.storage;
  if (limit !== undefined) checkStorageQuantity(p, `${path}.resources.limits[storage]`, limit);
  if (spec.selector) checkSelector(p, `${path}.selector`, spec.selector);
  if (spec.storageClassName) {
    const bad = validateDns1123Subdomain(spec.storageClassName);
    if (bad) p.invalid(`${path}.storageClassName`, spec.storageClassName, bad);
  }
  if (spec.volumeName) {
    const bad = validateDns1123Subdomain(spec.volumeName);
    if (bad) p.invalid(`${path}.volumeName`, spec.volumeName, bad);
  }
  if (spec.volumeMode === 'Block') p.invalid(`${path}.volumeMode`, spec.volumeMode, VOLUMES_ARE_DIRECTORIES);
}

function checkPersistentVolume(p: Problems, pv: PersistentVolume): void {
  const spec = pv.spec;
  const capacity = spec.capacity ?? {};
  if (spec.capacity === undefined) p.required('spec.capacity', 'a volume states its storage capacity');
  else checkStorageQuantity(p, 'spec.capacity[storage]', capacity.storage);
  for (const name of Object.keys(capacity)) {
    if (name !== 'storage') p.invalid(`spec.capacity[${name}]`, name, 'a volume has only a storage capacity');
  }
  checkAccessModes(p, 'spec.accessModes', spec.accessModes);
  const sources = [spec.hostPath && 'hostPath', spec.local && 'local'].filter(Boolean);
  if (sources.length === 0) p.required('spec', 'must specify a volume type (gantry supports hostPath and local)');
  if (sources.length > 1) p.forbidden('spec.local', 'may not specify more than 1 volume type');
  for (const [field, path] of [['spec.hostPath.path', spec.hostPath?.path], ['spec.local.path', spec.local?.path]] as const) {
    if (path === undefined) continue;
    if (!path.startsWith('/')) p.invalid(field, path, 'must be an absolute path');
    else if (path.split('/').includes('..')) p.invalid(field, path, "must not contain '..'");
  }
  if (spec.local && !spec.nodeAffinity?.required) p.required('spec.nodeAffinity', 'a local volume requires node affinity');
  spec.nodeAffinity?.required?.nodeSelectorTerms.forEach((t, i) => checkNodeSelectorTerm(p, `spec.nodeAffinity.required.nodeSelectorTerms[${i}]`, t));
  if (spec.persistentVolumeReclaimPolicy === 'Recycle') {
    p.invalid('spec.persistentVolumeReclaimPolicy', 'Recycle', 'Recycle is deprecated in Kubernetes and not supported by gantry (use "Delete" or "Retain")');
  }
  if (spec.volumeMode === 'Block') p.invalid('spec.volumeMode', spec.volumeMode, VOLUMES_ARE_DIRECTORIES);
  if (spec.storageClassName) {
    const bad = validateDns1123Subdomain(spec.storageClassName);
    if (bad) p.invalid('spec.storageClassName', spec.storageClassName, bad);
  }
  const ref = spec.claimRef;
  if (ref) {
    if (!ref.name) p.required('spec.claimRef.name', 'a claimRef names the claim the volume is reserved for');
    if (!ref.namespace) p.required('spec.claimRef.namespace', 'a claimRef names the namespace of its claim');
    if (ref.kind !== undefined && ref.kind !== 'PersistentVolumeClaim') p.invalid('spec.claimRef.kind', ref.kind, 'must be "PersistentVolumeClaim"');
  }
}

function checkNodeSelectorTerm(p: Problems, path: string, t: NodeSelectorTerm): void {
  if (!t.matchExpressions?.length && !t.matchFields?.length) p.required(path, 'a term needs matchExpressions or matchFields');
  for (const [list, name] of [[t.matchExpressions, 'matchExpressions'], [t.matchFields, 'matchFields']] as const) {
    list?.forEach((r, i) => {
      const at = `${path}.${name}[${i}]`;
      if (name === 'matchFields' && r.key !== 'metadata.name') p.invalid(`${at}.key`, r.key, 'only "metadata.name" is supported');
      if (name === 'matchExpressions') {
        const bad = validateLabelKey(r.key);
        if (bad) p.invalid(`${at}.key`, r.key, bad);
      }
      const values = r.values ?? [];
      if ((r.operator === 'In' || r.operator === 'NotIn') && values.length === 0) p.required(`${at}.values`, "must be specified when `operator` is 'In' or 'NotIn'");
      if ((r.operator === 'Exists' || r.operator === 'DoesNotExist') && values.length > 0) p.forbidden(`${at}.values`, "may not be specified when `operator` is 'Exists' or 'DoesNotExist'");
      if ((r.operator === 'Gt' || r.operator === 'Lt') && (values.length !== 1 || !/^-?\d+$/.test(values[0]!))) {
        p.invalid(`${at}.values`, values, "must be a single integer when `operator` is 'Gt' or 'Lt'");
      }
    });
  }
}

function checkStorageClass(p: Problems, sc: StorageClass): void {
  const bad = validateLabelKey(sc.provisioner.toLowerCase());
  if (bad) p.invalid('provisioner', sc.provisioner, bad);
  if (LOCAL_PATH_PROVISIONERS.has(sc.provisioner) && Object.keys(sc.parameters ?? {}).length > 0) {
    p.invalid('parameters', sc.parameters, `gantry's local-path provisioner (${sc.provisioner}) takes no parameters: every volume is a directory in the node's data dir`);
  }
  sc.allowedTopologies?.forEach((t, i) => {
    t.matchLabelExpressions?.forEach((e, j) => {
      const at = `allowedTopologies[${i}].matchLabelExpressions[${j}]`;
      const badKey = validateLabelKey(e.key);
      if (badKey) p.invalid(`${at}.key`, e.key, badKey);
      e.values.forEach((v, k) => {
        const badValue = validateLabelValue(v);
        if (badValue) p.invalid(`${at}.values[${k}]`, v, badValue);
      });
    });
  });
}

function checkDaemonSet(p: Problems, d: DaemonSet): void {
  checkWorkload(p, 'spec', d);
  const ru = d.spec.updateStrategy?.rollingUpdate;
  if (!ru) return;
  const surge = checkIntOrPercent(p, 'spec.updateStrategy.rollingUpdate.maxSurge', ru.maxSurge);
  const unavailable = checkIntOrPercent(p, 'spec.updateStrategy.rollingUpdate.maxUnavailable', ru.maxUnavailable, true);
  if (surge === 0 && unavailable === 0) {
    p.invalid('spec.updateStrategy.rollingUpdate.maxUnavailable', ru.maxUnavailable, 'may not be 0 when `maxSurge` is 0');
  }
}

const percentRe = /^[0-9]+%$/;

/**
 * Checks an int-or-percent ("25%", 1) and returns its magnitude for zero tests (percent or
 * count), or undefined when unset or invalid.
 */
function checkIntOrPercent(p: Problems, field: string, v: number | string | undefined, capAt100 = false): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'number') {
    if (v < 0) {
      p.invalid(field, v, 'must be greater than or equal to 0');
      return undefined;
    }
    return v;
  }
  if (!percentRe.test(v)) {
    p.invalid(field, v, "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%')");
    return undefined;
  }
  const n = Number(v.slice(0, -1));
  if (capAt100 && n > 100) p.invalid(field, v, 'must not be greater than 100%');
  return n;
}

function checkJobSpec(p: Problems, path: string, spec: JobSpec): void {
  if (spec.manualSelector === true) {
    if (!spec.selector) p.required(`${path}.selector`, 'required when `manualSelector` is true');
    else checkSelectorMatchesTemplate(p, path, spec.selector, spec.template);
  } else if (spec.selector) {
    p.invalid(`${path}.selector`, spec.selector, '`selector` will be auto-generated (set `manualSelector: true` to give your own)');
  }
  if (spec.completionMode === 'Indexed' && spec.completions === undefined) {
    p.required(`${path}.completions`, "when completion mode is 'Indexed'");
  }
  checkTemplate(p, `${path}.template`, spec.template, { restart: 'job' });
  checkJobPolicies(p, path, spec);
}

function checkCronJob(p: Problems, c: CronJob): void {
  const badSchedule = validateSchedule(c.spec.schedule);
  if (badSchedule) p.invalid('spec.schedule', c.spec.schedule, badSchedule);
  if (c.spec.timeZone !== undefined) {
    const badZone = validateTimeZone(c.spec.timeZone);
    if (badZone) p.invalid('spec.timeZone', c.spec.timeZone, badZone);
  }
  const meta = c.spec.jobTemplate.metadata;
  checkLabels(p, 'spec.jobTemplate.metadata.labels', meta?.labels);
  checkAnnotations(p, 'spec.jobTemplate.metadata.annotations', meta?.annotations);
  checkJobSpec(p, 'spec.jobTemplate.spec', c.spec.jobTemplate.spec);
}

// ---------------------------------------------------------------- pod spec

interface PodCheckOptions {
  /** Which restart policies the owner allows. */
  restart: RestartRule;
  /** Volume names mountable besides `volumes` (a StatefulSet's claim templates). */
  extraVolumes?: readonly string[];
}

function checkPodSpec(p: Problems, path: string, spec: PodSpec, opts: PodCheckOptions): void {
  if (opts.restart === 'always' && spec.restartPolicy !== undefined && spec.restartPolicy !== 'Always') {
    p.invalid(`${path}.restartPolicy`, spec.restartPolicy, 'supported values: "Always"');
  } else if (opts.restart === 'job') {
    if (spec.restartPolicy === undefined) p.required(`${path}.restartPolicy`, 'supported values: "OnFailure", "Never"');
    else if (spec.restartPolicy === 'Always') p.invalid(`${path}.restartPolicy`, spec.restartPolicy, 'supported values: "OnFailure", "Never"');
  }

  checkDns(p, path, spec);
  for (const f of ['serviceAccountName', 'serviceAccount', 'priorityClassName'] as const) {
    const name = spec[f];
    const bad = name ? validateDns1123Subdomain(name) : undefined;
    if (bad) p.invalid(`${path}.${f}`, name, bad);
  }

  const volumes = new Set<string>(opts.extraVolumes);
  spec.volumes?.forEach((v, i) => {
    const at = `${path}.volumes[${i}]`;
    const bad = validateDns1123Label(v.name);
    if (bad) p.invalid(`${at}.name`, v.name, bad);
    if (volumes.has(v.name)) p.duplicate(`${at}.name`, v.name);
    volumes.add(v.name);
    let sources = 0;
    if (v.emptyDir) {
      sources++;
      if (v.emptyDir.sizeLimit !== undefined) checkQuantity(p, `${at}.emptyDir.sizeLimit`, v.emptyDir.sizeLimit);
    }
    if (v.hostPath) sources++;
    if (v.configMap) {
      sources++;
      checkItems(p, `${at}.configMap.items`, v.configMap.items);
    }
    if (v.secret) {
      sources++;
      checkItems(p, `${at}.secret.items`, v.secret.items);
    }
    if (v.persistentVolumeClaim) sources++;
    sources += checkDownwardAndProjected(p, at, v, spec);
    // No source at all is fine: Kubernetes defaults it to an emptyDir.
    if (sources > 1) p.forbidden(at, 'may not specify more than 1 volume type');
  });

  const names = new Set<string>();
  const all: [string, Container, boolean][] = [];
  spec.initContainers?.forEach((c, i) => all.push([`${path}.initContainers[${i}]`, c, true]));
  spec.containers.forEach((c, i) => all.push([`${path}.containers[${i}]`, c, false]));
  for (const [at, c, init] of all) {
    const bad = validateDns1123Label(c.name);
    if (bad) p.invalid(`${at}.name`, c.name, bad);
    else if (names.has(c.name)) p.duplicate(`${at}.name`, c.name);
    names.add(c.name);
    checkContainer(p, at, c, volumes);
    checkContainerFields(p, at, c, { init, spec });
  }
  checkPodFields(p, path, spec);

  checkLabels(p, `${path}.nodeSelector`, spec.nodeSelector);
  if (spec.hostname !== undefined && spec.hostname !== '') {
    const bad = validateDns1123Label(spec.hostname);
    if (bad) p.invalid(`${path}.hostname`, spec.hostname, bad);
  }
  if (spec.subdomain !== undefined && spec.subdomain !== '') {
    const bad = validateDns1123Label(spec.subdomain);
    if (bad) p.invalid(`${path}.subdomain`, spec.subdomain, bad);
  }
  spec.tolerations?.forEach((t, i) => {
    const at = `${path}.tolerations[${i}]`;
    if (t.key) {
      const bad = validateLabelKey(t.key);
      if (bad) p.invalid(`${at}.key`, t.key, bad);
    } else if (t.operator !== 'Exists') {
      p.invalid(`${at}.operator`, t.operator ?? 'Equal', 'operator must be Exists when `key` is empty, which means "match all values and all keys"');
    }
    if (t.operator === 'Exists' && t.value) p.invalid(`${at}.operator`, t.operator, 'value must be empty when `operator` is \'Exists\'');
    if (t.tolerationSeconds !== undefined && t.effect !== 'NoExecute') {
      p.invalid(`${at}.effect`, t.effect ?? '', "effect must be 'NoExecute' when `tolerationSeconds` is set");
    }
  });
}

function checkContainer(p: Problems, at: string, c: Container, volumes: ReadonlySet<string>): void {
  const portNames = new Set<string>();
  c.ports?.forEach((port, i) => {
    if (port.name === undefined) return;
    const field = `${at}.ports[${i}].name`;
    const bad = validatePortName(port.name);
    if (bad) p.invalid(field, port.name, bad);
    else if (portNames.has(port.name)) p.duplicate(field, port.name);
    portNames.add(port.name);
  });

  c.env?.forEach((e, i) => {
    const field = `${at}.env[${i}]`;
    const bad = validateEnvVarName(e.name);
    if (bad) p.invalid(`${field}.name`, e.name, bad);
    if (!e.valueFrom) return;
    if (e.value) p.forbidden(`${field}.valueFrom`, 'may not be specified when `value` is not empty');
    const from = e.valueFrom;
    const n = +!!from.configMapKeyRef + +!!from.secretKeyRef + +!!from.fieldRef + +!!from.resourceFieldRef;
    if (n === 0) p.invalid(`${field}.valueFrom`, from, 'must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`');
    if (n > 1) p.invalid(`${field}.valueFrom`, from, 'may not have more than one field specified at a time');
    if (from.resourceFieldRef?.divisor !== undefined) checkQuantity(p, `${field}.valueFrom.resourceFieldRef.divisor`, from.resourceFieldRef.divisor);
  });

  c.envFrom?.forEach((e, i) => {
    const field = `${at}.envFrom[${i}]`;
    const n = +!!e.configMapRef + +!!e.secretRef;
    if (n !== 1) p.invalid(field, e, 'must specify exactly one of: `configMapRef` or `secretRef`');
    if (e.prefix) {
      const bad = validateEnvVarName(e.prefix);
      if (bad) p.invalid(`${field}.prefix`, e.prefix, bad);
    }
  });

  if (c.resources) checkResources(p, `${at}.resources`, c.resources);

  const mountPaths = new Set<string>();
  c.volumeMounts?.forEach((m, i) => {
    const field = `${at}.volumeMounts[${i}]`;
    if (!volumes.has(m.name)) p.notFound(`${field}.name`, m.name, 'no volume of that name in the pod\'s volumes');
    if (mountPaths.has(m.mountPath)) p.invalid(`${field}.mountPath`, m.mountPath, 'must be unique');
    mountPaths.add(m.mountPath);
    if (m.subPath) {
      const bad = validateRelativePath(m.subPath);
      if (bad) p.invalid(`${field}.subPath`, m.subPath, bad);
    }
  });

  checkProbe(p, `${at}.livenessProbe`, c.livenessProbe, true);
  checkProbe(p, `${at}.readinessProbe`, c.readinessProbe, false);
  checkProbe(p, `${at}.startupProbe`, c.startupProbe, true);
}

function checkProbe(p: Problems, at: string, probe: Probe | undefined, successMustBeOne: boolean): void {
  if (!probe) return;
  const n = +!!probe.exec + +!!probe.httpGet + +!!probe.tcpSocket + +!!probe.grpc;
  if (n === 0) p.required(at, 'must specify a handler type (exec, httpGet, tcpSocket or grpc)');
  if (n > 1) p.forbidden(at, 'may not specify more than 1 handler type');
  if (probe.httpGet) checkPortRef(p, `${at}.httpGet.port`, probe.httpGet.port);
  if (probe.tcpSocket) checkPortRef(p, `${at}.tcpSocket.port`, probe.tcpSocket.port);
  if (successMustBeOne && probe.successThreshold !== undefined && probe.successThreshold !== 1) {
    p.invalid(`${at}.successThreshold`, probe.successThreshold, 'must be 1');
  }
}

const standardResources = new Set(['cpu', 'memory', 'ephemeral-storage', 'storage']);

function checkResources(p: Problems, at: string, r: { limits?: Record<string, number | string>; requests?: Record<string, number | string> }): void {
  const limits = new Map<string, number>();
  for (const [kind, map] of [['limits', r.limits], ['requests', r.requests]] as const) {
    if (!map) continue;
    for (const name in map) {
      const field = `${at}.${kind}[${name}]`;
      if (!standardResources.has(name) && !name.startsWith('hugepages-') && !name.includes('/')) {
        p.invalid(field, name, 'must be a standard resource type (cpu, memory, ephemeral-storage, hugepages-<size>) or fully qualified');
        continue;
      }
      const value = checkQuantity(p, field, map[name]!);
      if (value === undefined) continue;
      if (kind === 'limits') {
        limits.set(name, value);
      } else {
        const limit = limits.get(name);
        if (limit !== undefined && value > limit) {
          p.invalid(field, map[name], `must be less than or equal to ${name} limit of ${r.limits![name]}`);
        }
      }
    }
  }
}

// ---------------------------------------------------------------- config

function checkDataKeys(p: Problems, path: string, data: StringMap | undefined, seen: Set<string>): void {
  if (!data) return;
  for (const key in data) {
    const bad = validateConfigKey(key);
    if (bad) p.invalid(`${path}[${key}]`, key, bad);
    if (seen.has(key)) p.duplicate(`${path}[${key}]`, key);
    seen.add(key);
  }
}

const base64Re = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const lineBreaks = /[\r\n]/g;

function checkBase64(p: Problems, path: string, data: StringMap | undefined): void {
  if (!data) return;
  for (const key in data) {
    // Go's base64 decoder (the API server's) skips line breaks, so folded YAML values work.
    const value = data[key]!.replace(lineBreaks, '');
    if (!base64Re.test(value)) p.say(`${path}[${key}]`, 'must be base64-encoded (use stringData for plain text)');
  }
}

function checkConfigMap(p: Problems, c: ConfigMap): void {
  const seen = new Set<string>();
  checkDataKeys(p, 'data', c.data, seen);
  checkDataKeys(p, 'binaryData', c.binaryData, seen);
  checkBase64(p, 'binaryData', c.binaryData);
}

function checkSecret(p: Problems, s: Secret): void {
  checkDataKeys(p, 'data', s.data, new Set());
  checkDataKeys(p, 'stringData', s.stringData, new Set());
  checkBase64(p, 'data', s.data);
}

// ---------------------------------------------------------------- networking

function checkService(p: Problems, s: Service): void {
  const spec = s.spec;
  const ports = spec.ports ?? [];
  if (spec.type === 'ExternalName') {
    if (!spec.externalName) p.required('spec.externalName', "when `type` is 'ExternalName'");
    else {
      const bad = validateDns1123Subdomain(spec.externalName.replace(/\.$/, ''));
      if (bad) p.invalid('spec.externalName', spec.externalName, bad);
    }
  } else if (ports.length === 0) {
    p.required('spec.ports', "at least one port unless `type` is 'ExternalName'");
  }
  const names = new Set<string>();
  const pairs = new Set<string>();
  ports.forEach((port, i) => {
    const at = `spec.ports[${i}]`;
    if (port.name === undefined || port.name === '') {
      if (ports.length > 1) p.required(`${at}.name`, 'port names are required when a Service has more than one port');
    } else {
      const bad = validateDns1123Label(port.name);
      if (bad) p.invalid(`${at}.name`, port.name, bad);
      else if (names.has(port.name)) p.duplicate(`${at}.name`, port.name);
      names.add(port.name);
    }
    const pair = `${port.port}/${port.protocol ?? 'TCP'}`;
    if (pairs.has(pair)) p.duplicate(at, pair);
    pairs.add(pair);
    if (port.targetPort !== undefined) checkPortRef(p, `${at}.targetPort`, port.targetPort);
    if (port.nodePort !== undefined && spec.type !== 'NodePort' && spec.type !== 'LoadBalancer') {
      p.forbidden(`${at}.nodePort`, `may not be used when \`type\` is '${spec.type ?? 'ClusterIP'}'`);
    }
    else if (port.nodePort !== undefined && (port.nodePort < 30000 || port.nodePort > 32767)) {
      p.invalid(`${at}.nodePort`, port.nodePort, 'must be in the node port range 30000-32767');
    }
  });
  checkLabels(p, 'spec.selector', spec.selector);
  checkClusterIp(p, spec);
  checkIpFamilies(p, spec);
  ports.forEach((port, i) => {
    if (port.appProtocol === undefined) return;
    const bad = validateLabelKey(port.appProtocol);
    if (bad) p.invalid(`spec.ports[${i}].appProtocol`, port.appProtocol, bad);
  });
  if (spec.externalTrafficPolicy !== undefined && spec.type !== 'NodePort' && spec.type !== 'LoadBalancer') {
    p.forbidden('spec.externalTrafficPolicy', `may only be set when \`type\` is 'NodePort' or 'LoadBalancer'`);
  }
  if (spec.sessionAffinityConfig !== undefined && spec.sessionAffinity !== 'ClientIP') {
    p.forbidden('spec.sessionAffinityConfig', "may only be set when `sessionAffinity` is 'ClientIP'");
  }
}

/**
 * `ipFamilies` and `ipFamilyPolicy` on gantry's IPv4-only service network: single-stack IPv4
 * (PreferDualStack asks for dual stack where there is one, so it is single-stack here);
 * a Service that requires IPv6 cannot be served and is refused.
 */
function checkIpFamilies(p: Problems, spec: Service['spec']): void {
  const families = spec.ipFamilies ?? [];
  if (spec.type === 'ExternalName') {
    if (spec.ipFamilies !== undefined) p.forbidden('spec.ipFamilies', "may not be set when `type` is 'ExternalName'");
    if (spec.ipFamilyPolicy !== undefined) p.forbidden('spec.ipFamilyPolicy', "may not be set when `type` is 'ExternalName'");
    return;
  }
  families.forEach((f, i) => {
    if (families.indexOf(f) !== i) p.duplicate(`spec.ipFamilies[${i}]`, f);
    else if (f === 'IPv6') p.invalid(`spec.ipFamilies[${i}]`, f, "gantry's service network is IPv4 only; use [\"IPv4\"]");
  });
  if (spec.ipFamilyPolicy === 'RequireDualStack') {
    p.invalid('spec.ipFamilyPolicy', spec.ipFamilyPolicy, "gantry's service network is IPv4 only, so a Service cannot get the two address families RequireDualStack demands; use SingleStack or PreferDualStack (served as single-stack IPv4)");
  } else if (spec.ipFamilyPolicy === 'SingleStack' && families.length > 1) {
    p.invalid('spec.ipFamilies', families, 'may specify only one family when `ipFamilyPolicy` is SingleStack');
  }
}

/** dnsConfig and hostAliases, with the API server's limits. */
function checkDns(p: Problems, path: string, spec: PodSpec): void {
  const cfg = spec.dnsConfig;
  if (spec.dnsPolicy === 'None' && !(cfg?.nameservers?.length)) {
    p.required(`${path}.dnsConfig.nameservers`, "at least one nameserver when `dnsPolicy` is 'None'");
  }
  if ((cfg?.nameservers?.length ?? 0) > 3) p.invalid(`${path}.dnsConfig.nameservers`, cfg!.nameservers, 'must not have more than 3 nameservers');
  cfg?.nameservers?.forEach((ns, i) => {
    if (!isIpv4(ns)) p.invalid(`${path}.dnsConfig.nameservers[${i}]`, ns, 'must be a valid IPv4 address');
  });
  if ((cfg?.searches?.length ?? 0) > 32) p.invalid(`${path}.dnsConfig.searches`, cfg!.searches, 'must not have more than 32 search paths');
  cfg?.searches?.forEach((d, i) => {
    const bad = validateDns1123Subdomain(d.replace(/\.$/, ''));
    if (bad) p.invalid(`${path}.dnsConfig.searches[${i}]`, d, bad);
  });
  spec.hostAliases?.forEach((a, i) => {
    if (!isIpv4(a.ip)) p.invalid(`${path}.hostAliases[${i}].ip`, a.ip, 'must be a valid IPv4 address');
    a.hostnames?.forEach((h, j) => {
      const bad = validateDns1123Subdomain(h);
      if (bad) p.invalid(`${path}.hostAliases[${i}].hostnames[${j}]`, h, bad);
    });
  });
}

/** `clusterIP`/`clusterIPs` as the API server checks them (the allocator checks range and use). */
function checkClusterIp(p: Problems, spec: Service['spec']): void {
  const ip = spec.clusterIP;
  if (ip === undefined || ip === '') return;
  if (spec.type === 'ExternalName') {
    p.forbidden('spec.clusterIP', "may not be set when `type` is 'ExternalName'");
    return;
  }
  if (ip === 'None') {
    if (spec.type === 'NodePort' || spec.type === 'LoadBalancer') p.invalid('spec.clusterIP', ip, `may not be 'None' when \`type\` is '${spec.type}'`);
  } else if (!isIpv4(ip)) {
    p.invalid('spec.clusterIP', ip, "must be an IPv4 address or 'None' (gantry's service network is IPv4)");
  }
  if (spec.clusterIPs && spec.clusterIPs.length > 0 && spec.clusterIPs[0] !== ip) {
    p.invalid('spec.clusterIPs[0]', spec.clusterIPs[0], 'must match `clusterIP`');
  }
}

function checkNetworkPolicy(p: Problems, np: NetworkPolicy): void {
  const spec = np.spec;
  checkSelector(p, 'spec.podSelector', spec.podSelector);
  const peers = (list: NetworkPolicyPeer[] | undefined, at: string): void => {
    list?.forEach((peer, i) => {
      const pat = `${at}[${i}]`;
      if (peer.ipBlock) {
        if (peer.podSelector || peer.namespaceSelector) p.forbidden(`${pat}.ipBlock`, 'may not be combined with `podSelector` or `namespaceSelector`');
        const block = parseIpBlock(peer.ipBlock.cidr);
        if (!block) p.invalid(`${pat}.ipBlock.cidr`, peer.ipBlock.cidr, 'must be an IPv4 CIDR a.b.c.d/n');
        peer.ipBlock.except?.forEach((e, j) => {
          const ex = parseIpBlock(e);
          if (!ex) p.invalid(`${pat}.ipBlock.except[${j}]`, e, 'must be an IPv4 CIDR a.b.c.d/n');
          else if (block && !strictlyWithin(ex, block)) p.invalid(`${pat}.ipBlock.except[${j}]`, e, `must be a strict subset of ${peer.ipBlock!.cidr}`);
        });
      } else if (!peer.podSelector && !peer.namespaceSelector) {
        p.required(pat, 'one of `podSelector`, `namespaceSelector` or `ipBlock`');
      }
      if (peer.podSelector) checkSelector(p, `${pat}.podSelector`, peer.podSelector);
      if (peer.namespaceSelector) checkSelector(p, `${pat}.namespaceSelector`, peer.namespaceSelector);
    });
  };
  const ports = (list: NetworkPolicyPort[] | undefined, at: string): void => {
    list?.forEach((port, i) => {
      const pat = `${at}[${i}]`;
      if (port.port !== undefined) checkPortRef(p, `${pat}.port`, port.port);
      if (port.endPort !== undefined) {
        if (typeof port.port !== 'number') p.invalid(`${pat}.endPort`, port.endPort, 'may only be set with a numeric `port`');
        else if (port.endPort < port.port) p.invalid(`${pat}.endPort`, port.endPort, 'must be greater than or equal to `port`');
      }
    });
  };
  spec.ingress?.forEach((r, i) => {
    peers(r.from, `spec.ingress[${i}].from`);
    ports(r.ports, `spec.ingress[${i}].ports`);
  });
  spec.egress?.forEach((r, i) => {
    peers(r.to, `spec.egress[${i}].to`);
    ports(r.ports, `spec.egress[${i}].ports`);
  });
}

const wildcardHostRe = /^\*\./;

/** policy/v1's rules: one of minAvailable and maxUnavailable, each a count or a percent up to 100%. */
function checkPodDisruptionBudget(p: Problems, pdb: PodDisruptionBudget): void {
  const spec = pdb.spec;
  if (spec.minAvailable !== undefined && spec.maxUnavailable !== undefined) {
    p.invalid('spec.maxUnavailable', spec.maxUnavailable, 'minAvailable and maxUnavailable cannot be both set');
  }
  checkIntOrPercent(p, 'spec.minAvailable', spec.minAvailable, true);
  checkIntOrPercent(p, 'spec.maxUnavailable', spec.maxUnavailable, true);
  if (spec.selector) checkSelector(p, 'spec.selector', spec.selector);
}

function checkIngress(p: Problems, ing: Ingress): void {
  const spec = ing.spec;
  if (!spec.defaultBackend && (spec.rules ?? []).length === 0) {
    p.required('spec', 'either `defaultBackend` or `rules` must be specified');
  }
  if (spec.defaultBackend) checkBackend(p, 'spec.defaultBackend', spec.defaultBackend);
  spec.tls?.forEach((t, i) => {
    if (t.secretName) {
      const bad = validateDns1123Subdomain(t.secretName);
      if (bad) p.invalid(`spec.tls[${i}].secretName`, t.secretName, bad);
    }
  });
  spec.rules?.forEach((rule, i) => {
    const at = `spec.rules[${i}]`;
    if (rule.host) {
      const bad = validateDns1123Subdomain(rule.host.replace(wildcardHostRe, ''));
      if (bad) p.invalid(`${at}.host`, rule.host, bad);
    }
    rule.http?.paths.forEach((path, j) => {
      const pat = `${at}.http.paths[${j}]`;
      if (path.pathType === 'Exact' || path.pathType === 'Prefix') {
        if (path.path === undefined || path.path === '') p.required(`${pat}.path`, `when \`pathType\` is '${path.pathType}'`);
        else if (!path.path.startsWith('/')) p.invalid(`${pat}.path`, path.path, "must be an absolute path (start with '/')");
      } else if (path.path !== undefined && path.path !== '' && !path.path.startsWith('/')) {
        p.invalid(`${pat}.path`, path.path, "must be an absolute path (start with '/')");
      }
      checkBackend(p, `${pat}.backend`, path.backend);
    });
  });
}

function checkBackend(p: Problems, at: string, backend: IngressBackend): void {
  const svc = backend.service;
  if (!svc) return;
  const bad = validateDns1035Label(svc.name);
  if (bad) p.invalid(`${at}.service.name`, svc.name, bad);
  const { number, name } = svc.port;
  if ((number === undefined) === (name === undefined || name === '')) {
    p.invalid(`${at}.service.port`, svc.port, 'must specify exactly one of `number` or `name`');
  } else if (name) {
    const badName = validatePortName(name);
    if (badName) p.invalid(`${at}.service.port.name`, name, badName);
  }
}
