/**
 * The comparison form of an object: what remains once defaults are applied and everything the
 * server, the controllers or gantry itself add is removed. Two objects mean the same thing to
 * Kubernetes exactly when their normalized forms are deep-equal, so re-syncing an applied
 * revision diffs to nothing while a real change always survives normalization.
 *
 * What is removed or rewritten:
 * - `status`; `metadata` uid, resourceVersion, generation, creationTimestamp, deletionTimestamp,
 *   managedFields, selfLink;
 * - annotations under `gantry.dev/`, `kubectl.kubernetes.io/last-applied-configuration`,
 *   `deployment.kubernetes.io/revision`, and the storage binders' (`pv.kubernetes.io/…`,
 *   `volume.kubernetes.io/selected-node`, …; see {@link isIgnoredAnnotation});
 * - null values, and empty maps and lists, which Kubernetes treats as absent (`labels: {}`,
 *   `args: []`, `securityContext: {}`); except an empty `labelSelector`, which matches every
 *   pod where an absent one matches none; list elements are never removed, only fields;
 * - resource quantities (`resources.limits/requests`, `emptyDir.sizeLimit`,
 *   `resourceFieldRef.divisor`) are rewritten to one spelling per value ("1000m" and "1" → "1",
 *   "0.5" → "500m", "1073741824" → "1Gi");
 * - fields the server assigns (Service `clusterIP`, `clusterIPs`, `ports[].nodePort`; Pod
 *   `nodeName` bound by the scheduler, and what the ServiceAccount admission adds: the account
 *   name `default`, its image pull secrets, the `kube-api-access-…` volume and mounts; what the
 *   Priority admission adds: `priority`, `preemptionPolicy`, the global default's class name;
 *   the requests and limits a LimitRange defaulted, as its `kubernetes.io/limit-ranger`
 *   annotation lists them; Job
 *   `selector` and the controller-uid/job-name labels of its pod template; a
 *   PersistentVolumeClaim's `volumeName` and default `storageClassName`; a PersistentVolume's
 *   `claimRef`, or the uid and version the binder added to a declared one) are removed from a
 *   live object when the desired object leaves them unset (pass it as `opts.desired`);
 * - an aggregated ClusterRole's `rules` (the aggregation controller writes them).
 *
 * Deliberately kept: int-or-string fields (`targetPort`, `maxSurge`, probe ports) as written: in
 * Kubernetes `8080` and `"8080"` are not the same value there (a string is a port name or a
 * percentage), so rewriting one into the other could hide a real change. Key order never
 * matters (comparison is by key); list order always does.
 */
import { applyDefaultsInPlace } from '../model/defaults.js';
import { GANTRY_PREFIX } from '../model/annotations.js';
import { parseQuantity } from '../model/quantity.js';
import { STORAGE_CONTROLLER_ANNOTATIONS } from '../model/storage.js';
import { DEFAULT_SERVICE_ACCOUNT, SERVICE_ACCOUNT_MOUNT_PATH, TOKEN_VOLUME_PREFIX } from '../model/serviceaccount.js';
import { LIMIT_RANGER_ANNOTATION } from '../model/limitrange.js';
import type { KubeObject } from '../model/types.js';

type Rec = Record<string, unknown>;

/** Options for {@link normalize}. */
export interface NormalizeOptions {
  /**
   * The desired counterpart, when normalizing a live object: server-assigned fields
   * (clusterIP, nodePort, nodeName, a Job's generated selector) that it leaves unset are
   * dropped from the live form.
   * Without it they are kept.
   */
  desired?: KubeObject;
}

/** Server-owned metadata fields, never part of desired state. */
const serverMetadataSet = new Set([
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'managedFields',
  'selfLink',
]);

/** Annotations written by tools and controllers, not by the repo. */
const ignoredAnnotations = new Set([
  'kubectl.kubernetes.io/last-applied-configuration',
  'deployment.kubernetes.io/revision',
  LIMIT_RANGER_ANNOTATION,
]);

/** Keys whose empty-object value means something different from absence. */
const meaningfulEmpty = new Set(['labelSelector', 'namespaceSelector']);

/**
 * True for annotations the normalizer drops: gantry's own (`gantry.dev/…`), kubectl's
 * last-applied configuration, and the Deployment controller's revision.
 */
export function isIgnoredAnnotation(key: string): boolean {
  return key.startsWith(GANTRY_PREFIX) || ignoredAnnotations.has(key) || STORAGE_CONTROLLER_ANNOTATIONS.has(key);
}

/**
 * The normalized comparison form of `obj` (a new object; the input is not modified). Applying
 * it twice gives the same result as applying it once.
 */
export function normalize(obj: KubeObject, opts: NormalizeOptions = {}): KubeObject {
  // One copying pass that already leaves out status and server metadata (the bulk of a live
  // object), then defaults and cleanup on the private copy: a resync normalizes every object.
  const out = stripCopy(obj);
  applyDefaultsInPlace(out);
  // An empty clusterIP asks the server to allocate one, exactly as an absent one does.
  if (out.kind === 'Service' && isRec(out.spec) && out.spec.clusterIP === '') delete out.spec.clusterIP;
  // An aggregated ClusterRole's rules are the aggregation controller's, whatever the manifest
  // says (Argo CD ignores them too).
  if (out.kind === 'ClusterRole' && isRec(out.aggregationRule)) delete (out as unknown as Rec).rules;
  cleanRec(out as unknown as Rec);
  if (opts.desired) dropServerAssigned(out, opts.desired, obj);
  return out;
}

/**
 * Normalization without defaulting: a copy without status, server metadata, ignored
 * annotations, nulls and empty maps/lists, with quantities spelled canonically. For display
 * (see compact.ts); comparisons use {@link normalize}.
 */
export function stripNoise(obj: KubeObject): KubeObject {
  const out = stripCopy(obj);
  cleanRec(out as unknown as Rec);
  return out;
}

/** A deep copy without status, server metadata, ignored annotations and null values. */
function stripCopy(obj: KubeObject): KubeObject {
  const out: Rec = {};
  for (const key in obj) {
    if (key === 'status') continue;
    const v = obj[key];
    if (v === undefined || v === null) continue;
    out[key] = key === 'metadata' && isRec(v) ? stripMetadata(v) : copy(v);
  }
  return out as unknown as KubeObject;
}

function stripMetadata(meta: Rec): Rec {
  const out: Rec = {};
  for (const key in meta) {
    if (serverMetadataSet.has(key)) continue;
    const v = meta[key];
    if (v === undefined || v === null) continue;
    if (key === 'annotations' && isRec(v)) {
      const ann: Rec = {};
      for (const a in v) if (!isIgnoredAnnotation(a) && v[a] !== undefined && v[a] !== null) ann[a] = v[a];
      out[key] = ann;
    } else {
      out[key] = copy(v);
    }
  }
  return out;
}

function copy(v: unknown): unknown {
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) {
    const out = new Array<unknown>(v.length);
    for (let i = 0; i < v.length; i++) out[i] = copy(v[i]);
    return out;
  }
  const out: Rec = {};
  for (const key in v as Rec) {
    const x = (v as Rec)[key];
    if (x !== undefined && x !== null) out[key] = copy(x);
  }
  return out;
}

/** Removes empty maps/lists below `r` (nulls are already gone), and canonicalizes quantities. */
function cleanRec(r: Rec): void {
  for (const key in r) {
    const v = r[key];
    if (typeof v !== 'object' || v === null) continue;
    if (Array.isArray(v)) {
      cleanArray(v);
      if (v.length === 0) delete r[key];
      continue;
    }
    const child = v as Rec;
    if (key === 'limits' || key === 'requests') canonicalQuantities(child);
    else if (key === 'emptyDir' && child.sizeLimit !== undefined) child.sizeLimit = canonicalQuantity(child.sizeLimit, false);
    else if (key === 'resourceFieldRef' && child.divisor !== undefined) {
      const cpu = typeof child.resource === 'string' && child.resource.endsWith('cpu');
      child.divisor = canonicalQuantity(child.divisor, cpu);
    }
    cleanRec(child);
    if (!meaningfulEmpty.has(key) && isEmptyRec(child)) delete r[key];
  }
}

function cleanArray(a: unknown[]): void {
  for (const v of a) {
    if (typeof v !== 'object' || v === null) continue;
    if (Array.isArray(v)) cleanArray(v);
    else cleanRec(v as Rec);
  }
}

/** `resources.limits` / `resources.requests`: resource name → quantity. */
function canonicalQuantities(m: Rec): void {
  for (const name in m) m[name] = canonicalQuantity(m[name], name === 'cpu');
}

const binary: [string, number][] = [['Ei', 2 ** 60], ['Pi', 2 ** 50], ['Ti', 2 ** 40], ['Gi', 2 ** 30], ['Mi', 2 ** 20], ['Ki', 2 ** 10]];
const decimal: [string, number][] = [['E', 1e18], ['P', 1e15], ['T', 1e12], ['G', 1e9], ['M', 1e6], ['k', 1e3]];

/**
 * One spelling per quantity value. CPU: whole cores, else millicores, else nanocores. Others
 * (memory, storage): the largest exact binary suffix, else decimal suffix, else the plain
 * number; fractions as milli/nano units. Text that is not a quantity is returned untouched so
 * validation, not the differ, decides about it.
 */
export function canonicalQuantity(q: unknown, cpu: boolean): unknown {
  if (typeof q !== 'string' && typeof q !== 'number') return q;
  // Manifests repeat a handful of spellings ("100m", "128Mi") thousands of times.
  const memo = cpu ? cpuMemo : otherMemo;
  const hit = memo.get(q);
  if (hit !== undefined) return hit;
  const out = spellQuantity(q, cpu);
  if (memo.size < 4096) memo.set(q, out);
  return out;
}

const cpuMemo = new Map<string | number, unknown>();
const otherMemo = new Map<string | number, unknown>();

function spellQuantity(q: string | number, cpu: boolean): unknown {
  const v = parseQuantity(q);
  if (v === undefined) return q;
  if (!cpu && Number.isInteger(v)) {
    if (v === 0) return '0';
    for (const [suffix, mult] of binary) if (v % mult === 0) return `${v / mult}${suffix}`;
    for (const [suffix, mult] of decimal) if (v % mult === 0) return `${v / mult}${suffix}`;
    return String(v);
  }
  const millis = v * 1000;
  if (Math.abs(millis - Math.round(millis)) < 1e-6) {
    const m = Math.round(millis);
    return m % 1000 === 0 ? String(m / 1000) : `${m}m`;
  }
  return `${Math.round(v * 1e9)}n`;
}

/**
 * Drops fields the server assigned from a normalized live object when desired leaves them unset
 * (`original` is the live object before normalizing: its annotations say what admission set).
 */
function dropServerAssigned(live: KubeObject, desired: KubeObject, original: KubeObject): void {
  const spec = isRec(live.spec) ? live.spec : undefined;
  const want = isRec(desired.spec) ? desired.spec : {};
  if (!spec) return;
  if (live.kind === 'Service') {
    if (want.clusterIP == null || want.clusterIP === '') delete spec.clusterIP;
    if (want.clusterIPs == null) delete spec.clusterIPs;
    const wantPorts = Array.isArray(want.ports) ? want.ports : [];
    if (Array.isArray(spec.ports)) {
      spec.ports.forEach((p: unknown, i: number) => {
        const w = wantPorts[i] as Rec | undefined;
        if (isRec(p) && (!isRec(w) || w.nodePort == null)) delete p.nodePort;
      });
    }
  } else if (live.kind === 'Pod') {
    if (want.nodeName == null) delete spec.nodeName;
    dropAdmitted(spec, want, original.metadata.annotations?.[LIMIT_RANGER_ANNOTATION]);
  } else if (live.kind === 'PersistentVolumeClaim') {
    // The binder names the volume, and the PV controller fills in the default class.
    if (want.volumeName == null) delete spec.volumeName;
    if (want.storageClassName == null) delete spec.storageClassName;
  } else if (live.kind === 'PersistentVolume') {
    const ref = spec.claimRef;
    if (want.claimRef == null) delete spec.claimRef;
    else if (isRec(ref)) {
      const wantRef = isRec(want.claimRef) ? want.claimRef : {};
      for (const k of CLAIM_REF_BINDER_FIELDS) if (wantRef[k] == null) delete ref[k];
    }
  } else if (live.kind === 'Job') {
    // The Job's selector and its pods' identifying labels are generated when the Job is
    // created, as Kubernetes does it; a manifest that leaves them out does not ask to remove them.
    if (want.selector == null) delete spec.selector;
    const labels = templateLabels(spec);
    const wantLabels = templateLabels(want);
    if (labels) {
      for (const key of JOB_GENERATED_LABELS) if (wantLabels?.[key] === undefined) delete labels[key];
      if (isEmptyRec(labels)) delete (spec.template as { metadata: Rec }).metadata.labels;
      if (isEmptyRec((spec.template as { metadata: Rec }).metadata)) delete (spec.template as Rec).metadata;
    }
    // Defaulting copies template labels into empty Job labels, generated ones included.
    const jobLabels = live.metadata.labels;
    if (jobLabels) {
      for (const key of JOB_GENERATED_LABELS) if (desired.metadata?.labels?.[key] === undefined) delete jobLabels[key];
      if (isEmptyRec(jobLabels)) delete live.metadata.labels;
    }
  }
}

/** Fields the binder adds to a PersistentVolume's claimRef when it binds the claim. */
export const CLAIM_REF_BINDER_FIELDS: readonly string[] = ['uid', 'resourceVersion', 'apiVersion', 'kind'];

/**
 * Drops from a live pod's spec what the ServiceAccount admission added and the manifest leaves
 * unset: the account name (`default`), image pull secrets copied from the account, and the
 * `kube-api-access-…` volume with its mounts.
 */
function dropAdmitted(spec: Rec, want: Rec, limitRanger: string | undefined): void {
  if (want.serviceAccountName == null && want.serviceAccount == null && (spec.serviceAccountName ?? DEFAULT_SERVICE_ACCOUNT) === DEFAULT_SERVICE_ACCOUNT) {
    delete spec.serviceAccountName;
    delete spec.serviceAccount;
  }
  // Priority admission resolves these from the class (or the global default's class).
  for (const f of ADMITTED_PRIORITY_FIELDS) if (want[f] == null) delete spec[f];
  if (limitRanger) dropLimitRangerDefaults(spec, want, limitRanger);
  if (want.imagePullSecrets == null) delete spec.imagePullSecrets;
  if (!Array.isArray(spec.volumes)) return;
  const declared = new Set((Array.isArray(want.volumes) ? want.volumes : []).map((v) => (isRec(v) ? v.name : undefined)));
  const added = new Set<unknown>();
  spec.volumes = spec.volumes.filter((v) => {
    const admitted = isRec(v) && typeof v.name === 'string' && v.name.startsWith(TOKEN_VOLUME_PREFIX) && isRec(v.projected) && !declared.has(v.name);
    if (admitted) added.add(v.name);
    return !admitted;
  });
  if ((spec.volumes as unknown[]).length === 0) delete spec.volumes;
  if (added.size === 0) return;
  for (const list of [spec.initContainers, spec.containers]) {
    if (!Array.isArray(list)) continue;
    for (const c of list) {
      if (!isRec(c) || !Array.isArray(c.volumeMounts)) continue;
      c.volumeMounts = c.volumeMounts.filter((m) => !(isRec(m) && added.has(m.name) && m.mountPath === SERVICE_ACCOUNT_MOUNT_PATH));
      if ((c.volumeMounts as unknown[]).length === 0) delete c.volumeMounts;
    }
  }
}

/** Pod fields the Priority admission plugin fills in. */
export const ADMITTED_PRIORITY_FIELDS: readonly string[] = ['priority', 'preemptionPolicy', 'priorityClassName'];

/**
 * The container requests and limits a LimitRange defaulted, as its annotation lists them
 * ("LimitRanger plugin set: cpu, memory request for container app; cpu limit for init container
 * setup"): container name → which map → resource names.
 */
export function limitRangerDefaults(annotation: string): Map<string, { requests: Set<string>; limits: Set<string> }> {
  const out = new Map<string, { requests: Set<string>; limits: Set<string> }>();
  const body = annotation.replace(/^LimitRanger plugin set: /, '');
  for (const part of body.split('; ')) {
    const m = /^(.+) (request|limit) for (?:init )?container (.+)$/.exec(part);
    if (!m) continue;
    let entry = out.get(m[3]!);
    if (!entry) out.set(m[3]!, (entry = { requests: new Set(), limits: new Set() }));
    for (const r of m[1]!.split(', ')) (m[2] === 'request' ? entry.requests : entry.limits).add(r);
  }
  return out;
}

/** Drops the requests and limits a LimitRange defaulted (and the manifest leaves unset) from a live pod's containers. */
function dropLimitRangerDefaults(spec: Rec, want: Rec, annotation: string): void {
  const set = limitRangerDefaults(annotation);
  const wanted = new Map<string, Rec>();
  for (const list of [want.initContainers, want.containers]) if (Array.isArray(list)) for (const c of list) if (isRec(c) && typeof c.name === 'string') wanted.set(c.name, c);
  for (const list of [spec.initContainers, spec.containers]) {
    if (!Array.isArray(list)) continue;
    for (const c of list) {
      if (!isRec(c) || typeof c.name !== 'string' || !isRec(c.resources)) continue;
      const defaulted = set.get(c.name);
      if (!defaulted) continue;
      const w = wanted.get(c.name);
      const wRes = w && isRec(w.resources) ? w.resources : {};
      for (const which of ['requests', 'limits'] as const) {
        const m = c.resources[which];
        if (!isRec(m)) continue;
        const declared = isRec(wRes[which]) ? wRes[which] : {};
        for (const r of defaulted[which]) if (declared[r] === undefined) delete m[r];
        if (isEmptyRec(m)) delete c.resources[which];
      }
      if (isEmptyRec(c.resources)) delete c.resources;
    }
  }
}

/** Labels the Job machinery puts on a Job's pod template (and so on its pods). */
export const JOB_GENERATED_LABELS: readonly string[] = [
  'batch.kubernetes.io/controller-uid',
  'batch.kubernetes.io/job-name',
  'controller-uid',
  'job-name',
];

function templateLabels(spec: Rec): Rec | undefined {
  const template = spec.template;
  if (!isRec(template) || !isRec(template.metadata) || !isRec(template.metadata.labels)) return undefined;
  return template.metadata.labels;
}

function isRec(v: unknown): v is Rec {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isEmptyRec(r: Rec): boolean {
  for (const _ in r) return false;
  return true;
}

/**
 * A fast, allocation-free check that `desired` and `live` are equal once normalized, used
 * before {@link normalize} on the hot path of a resync. It walks both objects side by side,
 * skipping what normalize removes (status, server metadata, ignored annotations, nulls,
 * empty maps and lists, server-assigned fields the desired object leaves unset) and comparing
 * quantities by value, but it applies no defaults. So: `true` means the normalized forms are
 * equal; `false` means they may still be (for instance when the live object was never
 * defaulted, or is a Job with a generated selector) and the caller must compare the
 * normalized forms. Pass a defaulted desired object (as makePlan does) so that false
 * negatives stay rare.
 */
export function quickEqual(desired: KubeObject, live: KubeObject): boolean {
  const a = desired as unknown as Rec;
  const b = live as unknown as Rec;
  for (const key in a) {
    if (key === 'status') continue;
    if (!topFieldEqual(key, a, b, desired.kind)) return false;
  }
  for (const key in b) {
    if (key === 'status' || (a[key] !== undefined && a[key] !== null)) continue;
    if (!topFieldEqual(key, a, b, desired.kind)) return false;
  }
  return true;
}

function topFieldEqual(key: string, a: Rec, b: Rec, kind: string): boolean {
  const x = a[key];
  const y = b[key];
  if (key === 'metadata') return metadataEqual(asRec(x), asRec(y));
  if (key === 'spec' && (kind === 'Service' || kind === 'Pod') && isRec(x) && isRec(y)) {
    return kind === 'Service' ? serviceSpecEqual(x, y) : podSpecEqual(x, y);
  }
  return valueEqual(x, y, key, '');
}

function metadataEqual(a: Rec, b: Rec): boolean {
  for (const key in a) {
    if (serverMetadataSet.has(key)) continue;
    if (!(key === 'annotations' ? annotationsEqual(asRec(a[key]), asRec(b[key])) : valueEqual(a[key], b[key], key, 'metadata'))) return false;
  }
  for (const key in b) {
    if (serverMetadataSet.has(key) || (a[key] !== undefined && a[key] !== null)) continue;
    if (!(key === 'annotations' ? annotationsEqual(asRec(a[key]), asRec(b[key])) : valueEqual(a[key], b[key], key, 'metadata'))) return false;
  }
  return true;
}

function annotationsEqual(a: Rec, b: Rec): boolean {
  for (const key in a) {
    if (isIgnoredAnnotation(key)) continue;
    if (!valueEqual(a[key], b[key], key, 'annotations')) return false;
  }
  for (const key in b) {
    if (isIgnoredAnnotation(key) || (a[key] !== undefined && a[key] !== null)) continue;
    if (!valueEqual(undefined, b[key], key, 'annotations')) return false;
  }
  return true;
}

function serviceSpecEqual(a: Rec, b: Rec): boolean {
  const keepIP = a.clusterIP !== undefined && a.clusterIP !== null && a.clusterIP !== '';
  const keepIPs = a.clusterIPs !== undefined && a.clusterIPs !== null;
  for (const key of unionKeys(a, b)) {
    if (key === 'clusterIP') {
      if (keepIP ? !valueEqual(a.clusterIP, b.clusterIP, key, 'spec') : false) return false;
      continue;
    }
    if (key === 'clusterIPs' && !keepIPs) continue;
    if (key === 'ports' && Array.isArray(a.ports) && Array.isArray(b.ports)) {
      if (a.ports.length !== b.ports.length) return false;
      for (let i = 0; i < a.ports.length; i++) {
        if (!isRec(a.ports[i]) || !isRec(b.ports[i])) {
          if (!elementEqual(a.ports[i], b.ports[i], 'ports')) return false;
          continue;
        }
        const p = a.ports[i] as Rec;
        const q = b.ports[i] as Rec;
        const skipNodePort = p.nodePort === undefined || p.nodePort === null;
        for (const k of unionKeys(p, q)) {
          if (k === 'nodePort' && skipNodePort) continue;
          if (!valueEqual(p[k], q[k], k, 'ports')) return false;
        }
      }
      continue;
    }
    if (!valueEqual(a[key], b[key], key, 'spec')) return false;
  }
  return true;
}

function podSpecEqual(a: Rec, b: Rec): boolean {
  const keepNode = a.nodeName !== undefined && a.nodeName !== null;
  for (const key of unionKeys(a, b)) {
    if (key === 'nodeName' && !keepNode) continue;
    if (!valueEqual(a[key], b[key], key, 'spec')) return false;
  }
  return true;
}

/** Equality as normalize sees it, for the value `x`/`y` found under `key` in `parentKey`. */
function valueEqual(x: unknown, y: unknown, key: string, parentKey: string): boolean {
  if (x === y) return true;
  const xAbsent = isAbsent(x);
  const yAbsent = isAbsent(y);
  if (xAbsent || yAbsent) return xAbsent && yAbsent;
  if (typeof x !== 'object' || typeof y !== 'object') {
    if (isQuantityField(key, parentKey)) return canonicalQuantity(x, key === 'cpu') === canonicalQuantity(y, key === 'cpu');
    return false;
  }
  const xArr = Array.isArray(x);
  if (xArr !== Array.isArray(y)) return false;
  if (xArr) {
    const xs = x as unknown[];
    const ys = y as unknown[];
    if (xs.length !== ys.length) return false;
    for (let i = 0; i < xs.length; i++) if (!elementEqual(xs[i], ys[i], key)) return false;
    return true;
  }
  return recEqual(x as Rec, y as Rec, key);
}

/** List elements are never dropped, so an empty element is not an absent one. */
function elementEqual(x: unknown, y: unknown, listKey: string): boolean {
  if (x === y) return true;
  if (typeof x !== 'object' || typeof y !== 'object' || x === null || y === null) return false;
  const xArr = Array.isArray(x);
  if (xArr !== Array.isArray(y)) return false;
  if (xArr) return valueEqual(x, y, listKey, listKey);
  return recEqual(x as Rec, y as Rec, listKey);
}

function recEqual(x: Rec, y: Rec, key: string): boolean {
  if (key === 'resourceFieldRef' && x.divisor !== y.divisor) {
    // divisor's unit depends on the sibling `resource`; compare it the way normalize spells it.
    const cpu = typeof x.resource === 'string' && x.resource.endsWith('cpu');
    const cpuY = typeof y.resource === 'string' && y.resource.endsWith('cpu');
    if (cpu !== cpuY || canonicalQuantity(x.divisor, cpu) !== canonicalQuantity(y.divisor, cpu)) return false;
  }
  for (const k in x) {
    if (key === 'resourceFieldRef' && k === 'divisor') continue;
    if (!valueEqual(x[k], y[k], k, key)) return false;
  }
  for (const k in y) {
    if (x[k] !== undefined && x[k] !== null) continue;
    if (key === 'resourceFieldRef' && k === 'divisor') {
      if (!isAbsent(y[k])) return false;
      continue;
    }
    if (!valueEqual(undefined, y[k], k, key)) return false;
  }
  return true;
}

function isQuantityField(key: string, parentKey: string): boolean {
  return parentKey === 'limits' || parentKey === 'requests' || (key === 'sizeLimit' && parentKey === 'emptyDir');
}

/**
 * Absent for the quick check: undefined, null or an empty list. An empty map is NOT absent
 * here, although normalize drops it: defaulting fills some empty maps (`httpGet: {}` gains a
 * path) but not an absent one, so only normalize, which defaults first, may equate them.
 */
function isAbsent(v: unknown): boolean {
  return v === undefined || v === null || (Array.isArray(v) && v.length === 0);
}

function unionKeys(a: Rec, b: Rec): string[] {
  const keys = Object.keys(a);
  for (const k in b) if (!(k in a)) keys.push(k);
  return keys;
}

function asRec(v: unknown): Rec {
  return isRec(v) ? v : {};
}
