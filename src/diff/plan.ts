/**
 * Making a Plan: pair the desired set with the live objects, decide per key whether to create,
 * update, prune or leave it, and order the entries for applying.
 */
import type { Operation } from 'fast-json-patch';
import { MANAGED_BY, MANAGED_BY_VALUE, SOURCE_PATH, isManaged } from '../model/annotations.js';
import { applyDefaults, cloneJson } from '../model/defaults.js';
import { CONFIG_ROLLING_KINDS, configDigest, setConfigHash, type ConfigLookup } from '../model/config-hash.js';
import { objectRef } from '../model/keys.js';
import { kindInfo } from '../model/kinds.js';
import { isTokenVolume } from '../model/serviceaccount.js';
import type { Container, KubeObject, Volume } from '../model/types.js';
import type { DesiredObject, DesiredSet, ObjectSource } from '../model/desired.js';
import { autoscaledNote, autoscaledWorkloads, replicasOf, withLiveReplicas } from './autoscaled.js';
import { diffNormalized } from './diff.js';
import { SYSTEM_FINALIZERS } from '../model/storage.js';
import { ADMITTED_PRIORITY_FIELDS, CLAIM_REF_BINDER_FIELDS, JOB_GENERATED_LABELS, isIgnoredAnnotation, limitRangerDefaults, normalize, quickEqual } from './normalize.js';
import { LIMIT_RANGER_ANNOTATION } from '../model/limitrange.js';
import { pairResources, type ResourcePair } from './pair.js';
import type { Plan, PlanEntry } from './types.js';

/** Options for {@link makePlan}. */
export interface PlanOptions {
  /** Desired revision to record in the plan; defaults to the desired set's commit. */
  revision?: string;
  /** Whether to prune managed objects the desired set no longer declares. Default true. */
  prune?: boolean;
}

/**
 * The value of the {@link SOURCE_PATH} annotation for a source: `file:line`, or for an object a
 * kustomization rendered from another file `kustomization → file:line`.
 */
export function sourcePath(source: ObjectSource): string {
  return source.kustomization ? `${source.kustomization} → ${source.file}:${source.line}` : `${source.file}:${source.line}`;
}

/**
 * The object gantry writes for a desired object: Kubernetes defaults applied, plus gantry's
 * marks (`gantry.dev/managed-by: gantry` and `gantry.dev/source-path: file:line`). A new
 * object; the input is not modified. Also useful to turn another ref's desired set into a
 * stand-in "live" side for ref-against-ref plans.
 */
export function markDesired(d: DesiredObject): KubeObject {
  // A manifest's `status` (left in by `kubectl get -o yaml`) is never written: the API server
  // resets status on create and keeps the live one on update, and so does gantry.
  const { status: _declaredStatus, ...declared } = d.object;
  const obj = applyDefaults(declared as KubeObject);
  obj.metadata.annotations = {
    ...obj.metadata.annotations,
    [MANAGED_BY]: MANAGED_BY_VALUE,
    [SOURCE_PATH]: sourcePath(d.source),
  };
  return obj;
}

/**
 * The plan that makes `live` match `desired`.
 *
 * - create: declared, not live. `desired` is the object to write (defaults and marks applied).
 * - update: declared and live, and either their normalized forms differ or the live object
 *   lacks gantry's managed-by mark (adoption) or was declared in another file. `patch` goes
 *   from normalized live to normalized desired (plus the mark changes, for display).
 *   `desired` is ready for `Store.update`: it carries the live `metadata.resourceVersion` (the
 *   store's optimistic-concurrency check), the live `status`, the fields the server assigned
 *   that the manifest leaves unset (Service clusterIP/clusterIPs/ports[].nodePort, Pod
 *   nodeName, Job selector and generated pod labels) and the live annotations the repo does
 *   not own (see `isIgnoredAnnotation`; gantry's marks excepted), so that writing it changes
 *   only what the repo changed.
 * - unchanged: declared and live and equal. `desired` may be shared with later plans of the
 *   same parsed objects: never modify it. A different line in the same file does not count
 *   as a change (otherwise inserting a line at the top of a file would rewrite every object in
 *   it), so the recorded source line may lag until the object next changes.
 * - prune: live, not declared, carrying gantry's managed-by mark, of a kind a repo may
 *   declare, and not already being deleted. Objects gantry does not own (made by controllers,
 *   by node agents or by hand) are never pruned. Skipped entirely with `prune: false`.
 *
 * A workload that an autoscaler of the desired set targets keeps its live `spec.replicas`
 * (see autoscaled.ts): the autoscaler owns that field, so it is neither compared nor written, and
 * the entry carries a note saying so.
 *
 * Entries are sorted by kind apply order (Namespaces, config, Services, workloads) then key;
 * prune entries in the reverse order.
 */
export function makePlan(desired: DesiredSet, live: readonly KubeObject[], opts: PlanOptions = {}): Plan {
  const plan: Plan = {
    revision: opts.revision ?? desired.revision?.commit,
    create: [],
    update: [],
    prune: [],
    unchanged: [],
  };
  const pairs = pairResources(desired.objects, live);
  const lookup = configLookup(pairs);
  const autoscaled = autoscaledWorkloads(desired.objects);
  for (const pair of pairs) {
    if (pair.desired) {
      const d = pair.desired;
      const hpa = autoscaled.get(pair.key);
      const note = hpa ? autoscaledNote(hpa, { manifest: replicasOf(d.object), ...(pair.live ? { live: replicasOf(pair.live) } : {}) }) : undefined;
      if (!pair.live) {
        const shared = writtenForm(d, lookup);
        plan.create.push(entry('create', pair.key, shared, { desired: cloneJson(shared), source: d.source, declared: d.object, ...(note ? { notes: [note] } : {}) }));
        continue;
      }
      const liveObj = pair.live;
      const shared = hpa ? withLiveReplicas(writtenForm(d, lookup), liveObj) : writtenForm(d, lookup);
      // The quick check settles the common case (a resync of an applied revision) without
      // copying either object; only pairs it cannot vouch for are normalized and compared.
      const patch = quickEqual(shared, liveObj)
        ? []
        : diffNormalized(normalize(shared), normalize(liveObj, { desired: d.object }));
      markOps(shared, liveObj, patch);
      // An unchanged workload is noted only when Git asks for another count than the autoscaler's.
      const declared = replicasOf(d.object);
      const unchangedNote = note && declared !== undefined && declared !== replicasOf(liveObj) ? { notes: [note] } : {};
      if (patch.length === 0) {
        plan.unchanged.push(entry('unchanged', pair.key, shared, { desired: shared, live: liveObj, source: d.source, ...unchangedNote }));
      } else {
        const written = cloneJson(shared);
        carryLiveFields(written, liveObj, d.object);
        plan.update.push(entry('update', pair.key, shared, { desired: written, live: liveObj, patch, source: d.source, ...(note ? { notes: [note] } : {}) }));
      }
    } else if (pair.live && opts.prune !== false && isPrunable(pair.live)) {
      plan.prune.push(entry('prune', pair.key, pair.live, { live: pair.live }));
    }
  }
  sortByApplyOrder(plan.create, false);
  sortByApplyOrder(plan.update, false);
  sortByApplyOrder(plan.unchanged, false);
  sortByApplyOrder(plan.prune, true);
  return plan;
}

/**
 * The written form of a desired object, remembered per parsed object. The manifest loader
 * hands out the same object for unchanged file content, so a resync of the same revision skips
 * defaulting and copying 10,000 objects. The remembered object is shared: it goes into
 * `unchanged` entries as is (read-only, like every plan input), while create and update
 * entries get their own copy.
 */
const writtenMemo = new WeakMap<KubeObject, { path: string; configHash: string | undefined; written: KubeObject }>();

/**
 * The written form, with the config hash stamped on a workload's pod template (see
 * model/config-hash.ts): the digest of the referenced ConfigMaps and Secrets as this same plan
 * writes them, so one transaction carries both a config change and the rollout it causes.
 */
function writtenForm(d: DesiredObject, lookup: ConfigLookup): KubeObject {
  const path = sourcePath(d.source);
  const rolling = CONFIG_ROLLING_KINDS.has(d.object.kind);
  const spec = d.object.spec as { template?: { spec?: unknown } } | undefined;
  const configHash = rolling ? configDigest(spec?.template?.spec, d.object.metadata.namespace ?? 'default', lookup) : undefined;
  const hit = writtenMemo.get(d.object);
  if (hit && hit.path === path && hit.configHash === configHash) return hit.written;
  const written = markDesired(d);
  if (rolling) setConfigHash(written, configHash);
  writtenMemo.set(d.object, { path, configHash, written });
  return written;
}

/**
 * ConfigMaps and Secrets as the plan leaves them: the desired set's written form where it
 * declares one, else the live object (config the repo does not declare).
 */
function configLookup(pairs: readonly ResourcePair[]): ConfigLookup {
  const byKey = new Map<string, ResourcePair>();
  for (const p of pairs) if (p.key.startsWith('ConfigMap/') || p.key.startsWith('Secret/')) byKey.set(p.key, p);
  const written = new Map<string, KubeObject>();
  return (kind, namespace, name) => {
    const key = `${kind}/${namespace}/${name}`;
    const pair = byKey.get(key);
    if (!pair) return undefined;
    if (!pair.desired) return pair.live;
    let obj = written.get(key);
    if (!obj) {
      obj = writtenForm(pair.desired, () => undefined);
      written.set(key, obj);
    }
    return obj;
  };
}

function entry(
  action: PlanEntry['action'],
  key: string,
  obj: KubeObject,
  parts: Pick<PlanEntry, 'desired' | 'live' | 'patch' | 'source' | 'declared' | 'notes'>,
): PlanEntry {
  const ref = objectRef(obj);
  const e: PlanEntry = { action, key, kind: ref.kind, name: ref.name };
  if (ref.namespace !== undefined) e.namespace = ref.namespace;
  if (parts.desired) e.desired = parts.desired;
  if (parts.live) e.live = parts.live;
  if (parts.patch) e.patch = parts.patch;
  if (parts.source) e.source = parts.source;
  if (parts.declared) e.declared = parts.declared;
  if (parts.notes) e.notes = parts.notes;
  return e;
}

function isPrunable(obj: KubeObject): boolean {
  return isManaged(obj.metadata) && kindInfo(obj.kind)?.declarable === true && !obj.metadata.deletionTimestamp;
}

/**
 * Appends to `ops` the changes to gantry's own marks that warrant a write: adoption of an
 * object without the managed-by mark, or a move to another file.
 */
function markOps(written: KubeObject, live: KubeObject, ops: Operation[]): void {
  const liveAnn = live.metadata.annotations;
  if (!isManaged(live.metadata)) {
    ops.push({ op: 'add', path: annotationPointer(MANAGED_BY), value: MANAGED_BY_VALUE });
  }
  const want = written.metadata.annotations?.[SOURCE_PATH];
  const have = liveAnn?.[SOURCE_PATH];
  if (want === undefined || want === have) return;
  if (have === undefined) ops.push({ op: 'add', path: annotationPointer(SOURCE_PATH), value: want });
  else if (fileOf(want) !== fileOf(have)) ops.push({ op: 'replace', path: annotationPointer(SOURCE_PATH), value: want });
}

function fileOf(path: string): string {
  const colon = path.lastIndexOf(':');
  return colon < 0 ? path : path.slice(0, colon);
}

function annotationPointer(key: string): string {
  return `/metadata/annotations/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
}

/** Copies into `written` what the live object holds that the repo does not own. */
function carryLiveFields(written: KubeObject, live: KubeObject, declared: KubeObject): void {
  if (live.metadata.resourceVersion !== undefined) written.metadata.resourceVersion = live.metadata.resourceVersion;
  if (live.status !== undefined) written.status = structuredClone(live.status);
  carryDeletion(written, live);
  const liveAnn = live.metadata.annotations ?? {};
  for (const [key, value] of Object.entries(liveAnn)) {
    if (key === MANAGED_BY || key === SOURCE_PATH || key === 'kubectl.kubernetes.io/last-applied-configuration') continue;
    if (isIgnoredAnnotation(key) && written.metadata.annotations?.[key] === undefined) {
      written.metadata.annotations = { ...written.metadata.annotations, [key]: value };
    }
  }
  if (written.kind === 'ClusterRole' && written.aggregationRule && live.rules !== undefined) written.rules = structuredClone(live.rules);
  const spec = asRec(written.spec);
  const liveSpec = asRec(live.spec);
  const wantSpec = asRec(declared.spec) ?? {};
  if (!spec || !liveSpec) return;
  if (written.kind === 'Service') {
    for (const f of ['clusterIP', 'clusterIPs']) {
      if ((wantSpec[f] == null || wantSpec[f] === '') && liveSpec[f] !== undefined) spec[f] = structuredClone(liveSpec[f]);
    }
    const ports = Array.isArray(spec.ports) ? spec.ports : [];
    const livePorts = Array.isArray(liveSpec.ports) ? liveSpec.ports : [];
    ports.forEach((p: unknown, i: number) => {
      const lp = asRec(livePorts[i]);
      const rp = asRec(p);
      // Only carry a node port to the same port; a changed port gets a fresh one.
      if (rp && lp && rp.nodePort === undefined && lp.nodePort !== undefined && lp.port === rp.port) rp.nodePort = lp.nodePort;
    });
  } else if (written.kind === 'Pod') {
    if (wantSpec.nodeName == null && liveSpec.nodeName !== undefined) spec.nodeName = liveSpec.nodeName;
    carryAdmitted(spec, liveSpec, wantSpec, live.metadata.annotations?.[LIMIT_RANGER_ANNOTATION]);
  } else if (written.kind === 'PersistentVolumeClaim') {
    // Unbinding a bound claim (or moving it off the default class) is not the repo's to do.
    for (const f of ['volumeName', 'storageClassName']) {
      if (wantSpec[f] == null && liveSpec[f] !== undefined) spec[f] = liveSpec[f];
    }
  } else if (written.kind === 'PersistentVolume') {
    const liveRef = asRec(liveSpec.claimRef);
    if (liveRef && wantSpec.claimRef == null) spec.claimRef = structuredClone(liveRef);
    else if (liveRef && asRec(spec.claimRef)) {
      const ref = asRec(spec.claimRef)!;
      // The same claim: keep the uid and version the binder recorded.
      if (ref.name === liveRef.name && ref.namespace === liveRef.namespace) {
        for (const k of CLAIM_REF_BINDER_FIELDS) if (ref[k] == null && liveRef[k] !== undefined) ref[k] = liveRef[k];
      }
    }
  } else if (written.kind === 'Job') {
    // Generated at creation and immutable since: writing the Job without them would orphan its pods.
    if (wantSpec.selector == null && liveSpec.selector !== undefined) spec.selector = structuredClone(liveSpec.selector);
    const liveLabels = asRec(asRec(asRec(liveSpec.template)?.metadata)?.labels);
    const template = asRec(spec.template);
    if (liveLabels && template) {
      const meta = (template.metadata = asRec(template.metadata) ?? {}) as { labels?: Record<string, string> };
      for (const key of JOB_GENERATED_LABELS) {
        if (typeof liveLabels[key] === 'string' && meta.labels?.[key] === undefined) meta.labels = { ...meta.labels, [key]: liveLabels[key] };
      }
    }
  }
}

/**
 * Deletion cannot be undone by a write: a live object being deleted keeps its deletionTimestamp
 * and only the finalizers it still has; otherwise the finalizers controllers and admission put
 * on it (storage protection) stay.
 */
function carryDeletion(written: KubeObject, live: KubeObject): void {
  const meta = written.metadata;
  if (live.metadata.deletionTimestamp) {
    meta.deletionTimestamp = live.metadata.deletionTimestamp;
    if (live.metadata.deletionGracePeriodSeconds !== undefined) meta.deletionGracePeriodSeconds = live.metadata.deletionGracePeriodSeconds;
    if (live.metadata.finalizers?.length) meta.finalizers = [...live.metadata.finalizers];
    else delete meta.finalizers;
    return;
  }
  const missing = (live.metadata.finalizers ?? []).filter((f) => SYSTEM_FINALIZERS.has(f) && !meta.finalizers?.includes(f));
  if (missing.length > 0) meta.finalizers = [...(meta.finalizers ?? []), ...missing];
}

/**
 * What admission added to the live pod and the manifest leaves unset, kept on an update: the
 * ServiceAccount's name, pull secrets and token volume, the resolved priority, and the requests
 * and limits a LimitRange defaulted (`limitRanger`: its annotation on the live pod).
 */
function carryAdmitted(spec: Record<string, unknown>, liveSpec: Record<string, unknown>, wantSpec: Record<string, unknown>, limitRanger?: string): void {
  for (const f of ['serviceAccountName', 'serviceAccount', 'imagePullSecrets', ...ADMITTED_PRIORITY_FIELDS]) {
    if (wantSpec[f] == null && liveSpec[f] !== undefined) spec[f] = structuredClone(liveSpec[f]);
  }
  if (limitRanger) carryLimitRangerDefaults(spec, liveSpec, limitRanger);
  const liveVolumes = Array.isArray(liveSpec.volumes) ? (liveSpec.volumes as Volume[]) : [];
  const token = liveVolumes.find((v) => isTokenVolume(v));
  const volumes = Array.isArray(spec.volumes) ? (spec.volumes as Volume[]) : [];
  if (!token || volumes.some((v) => v.name === token.name)) return;
  spec.volumes = [...volumes, structuredClone(token)];
  const liveContainers = [...((liveSpec.initContainers as Container[] | undefined) ?? []), ...((liveSpec.containers as Container[] | undefined) ?? [])];
  for (const c of [...((spec.initContainers as Container[] | undefined) ?? []), ...((spec.containers as Container[] | undefined) ?? [])]) {
    const mount = liveContainers.find((l) => l.name === c.name)?.volumeMounts?.find((m) => m.name === token.name);
    if (mount && !(c.volumeMounts ?? []).some((m) => m.mountPath === mount.mountPath)) c.volumeMounts = [...(c.volumeMounts ?? []), { ...mount }];
  }
}

/** The requests and limits a LimitRange defaulted on the live pod, into the written containers that leave them unset. */
function carryLimitRangerDefaults(spec: Record<string, unknown>, liveSpec: Record<string, unknown>, annotation: string): void {
  const defaulted = limitRangerDefaults(annotation);
  const live = new Map<string, Container>();
  for (const c of [...((liveSpec.initContainers as Container[] | undefined) ?? []), ...((liveSpec.containers as Container[] | undefined) ?? [])]) live.set(c.name, c);
  for (const c of [...((spec.initContainers as Container[] | undefined) ?? []), ...((spec.containers as Container[] | undefined) ?? [])]) {
    const set = defaulted.get(c.name);
    const from = live.get(c.name)?.resources;
    if (!set || !from) continue;
    for (const which of ['requests', 'limits'] as const) {
      for (const r of set[which]) {
        const v = from[which]?.[r];
        if (v === undefined || c.resources?.[which]?.[r] !== undefined) continue;
        c.resources = { ...c.resources, [which]: { ...c.resources?.[which], [r]: v } };
      }
    }
  }
}

function asRec(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

/** Sorts by kind apply order, then key (reversed for prunes), computing each order once. */
function sortByApplyOrder(entries: PlanEntry[], reverse: boolean): void {
  const decorated = entries.map((e) => ({ order: kindInfo(e.kind)?.order ?? Number.MAX_SAFE_INTEGER, key: e.key, e }));
  const sign = reverse ? -1 : 1;
  decorated.sort((a, b) => sign * (a.order !== b.order ? a.order - b.order : a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (let i = 0; i < decorated.length; i++) entries[i] = decorated[i]!.e;
}
