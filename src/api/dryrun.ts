/**
 * Dry-run writes (`?dryRun=All`, or `dryRun: [All]` in DeleteOptions): what `kubectl apply
 * --dry-run=server`, `kubectl diff`, `kubectl create|replace|delete --dry-run=server` send. The
 * write is answered as the API server would answer it — the object as it would be stored, or a
 * Status saying why not — and nothing is ever written: this module only reads the store.
 *
 * The answer is computed the way the object would land: a patch is applied to the live object
 * (src/model/patch.ts, with the kind's patch metadata from the OpenAPI schemas), the status stays
 * the live one (the main resource never writes it), Kubernetes' defaults are filled in
 * (src/model/defaults.ts) and the server-owned metadata follows the store's own rules
 * (src/store/common.ts: uid and creationTimestamp kept, generation bumped on a spec change).
 * The result must pass the same validation a manifest in the repo passes (src/sync/validate.ts);
 * its problems come back as `422 Invalid` with one cause per field.
 */
import { load as loadYaml } from 'js-yaml';
import { errorMessage } from '../errors.js';
import { applyDefaults } from '../model/defaults.js';
import { SOURCE_PATH } from '../model/annotations.js';
import { deepEqual } from '../model/json.js';
import type { KindInfo } from '../model/kinds.js';
import type { KubeObject } from '../model/types.js';
import { normalizeRef, nowTimestamp, prepareCreate, prepareUpdate } from '../store/common.js';
import type { Store } from '../store/types.js';
import { dropNullFields } from '../sync/nulls.js';
import { validateObject } from '../sync/validate.js';
import { patchMetaFor } from './openapi.js';
import { PATCH_TYPES, PatchError, applyIntent, jsonPatch, mergePatch, strategicMergePatch } from '../model/patch.js';

type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A write to answer without storing it. */
export interface DryRunRequest {
  method: 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  kind: KindInfo;
  /** From the URL; undefined for cluster-scoped kinds. */
  namespace?: string;
  /** From the URL; undefined for a POST to the collection. */
  name?: string;
  /** The request's content type (patch type for PATCH). */
  contentType?: string;
  /** The body: parsed JSON for POST/PUT/DELETE, the raw text for PATCH. */
  body: unknown;
}

/** The answer: an HTTP status and its JSON body (an object or a Status). */
export interface DryRunAnswer {
  code: number;
  body: Rec;
}

/** True when the request asks for a dry run: `dryRun=All` in the query, or in DeleteOptions. */
export function isDryRun(query: unknown, body: unknown): boolean {
  const q = isRec(query) ? query.dryRun : undefined;
  const fromQuery = Array.isArray(q) ? q.includes('All') : q === 'All';
  // kubectl's DeleteOptions carry it in the body, with or without their kind.
  const d = isRec(body) ? body.dryRun : undefined;
  return fromQuery || (Array.isArray(d) && d.includes('All'));
}

/** A Kubernetes Status object. */
function failure(code: number, reason: string, message: string, details?: Rec): DryRunAnswer {
  return { code, body: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code } };
}

function groupOf(kind: KindInfo): string {
  const i = kind.apiVersion.indexOf('/');
  return i < 0 ? '' : kind.apiVersion.slice(0, i);
}

/** `deployments.apps "web"`, as the API server names an object in messages. */
function named(kind: KindInfo, name: string): string {
  const g = groupOf(kind);
  return `${kind.plural}${g ? `.${g}` : ''} "${name}"`;
}

/**
 * Answers a dry-run write of a declarable kind. Reads the live object from `store`; never
 * writes. Malformed bodies are 400, missing objects 404, taken names and stale resourceVersions
 * 409, invalid results 422.
 */
export async function dryRunWrite(store: Store, req: DryRunRequest): Promise<DryRunAnswer> {
  const { kind } = req;
  if (kind.namespaced && !req.namespace) return failure(400, 'BadRequest', `${kind.plural} are namespaced: write them under /namespaces/<namespace>/`);
  const ref = normalizeRef({ kind: kind.kind, namespace: req.namespace, name: req.name ?? '' });
  const live = req.name ? await store.get(ref) : undefined;

  if (req.method === 'DELETE') {
    if (!req.name) return failure(405, 'MethodNotAllowed', `deleting a collection of ${kind.plural} is not supported`);
    if (!live) return notFound(kind, req.name);
    const pre = isRec(req.body) && isRec(req.body.preconditions) ? req.body.preconditions : {};
    if (typeof pre.uid === 'string' && pre.uid !== live.metadata.uid) return conflict(kind, req.name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${live.metadata.uid ?? ''}`);
    if (typeof pre.resourceVersion === 'string' && pre.resourceVersion !== live.metadata.resourceVersion) return conflict(kind, req.name, `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${live.metadata.resourceVersion ?? ''}`);
    return { code: 200, body: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name: req.name, group: groupOf(kind), kind: kind.plural, uid: live.metadata.uid } } };
  }

  let candidate: Rec;
  if (req.method === 'PATCH') {
    if (!req.name) return failure(405, 'MethodNotAllowed', `a patch names one ${kind.kind}`);
    const patched = patchLive(kind, live, req);
    if ('code' in patched) return patched;
    if (!live) {
      // Only an apply creates what is not there.
      if (req.contentType !== PATCH_TYPES.apply) return notFound(kind, req.name);
      return create(store, kind, req, patched.object);
    }
    candidate = patched.object;
  } else if (req.method === 'POST') {
    if (!isRec(req.body)) return failure(400, 'BadRequest', `the body must be a ${kind.kind} object`);
    return create(store, kind, req, req.body);
  } else {
    if (!req.name) return failure(405, 'MethodNotAllowed', `a replace names one ${kind.kind}`);
    if (!isRec(req.body)) return failure(400, 'BadRequest', `the body must be a ${kind.kind} object`);
    if (!live) return notFound(kind, req.name);
    candidate = structuredClone(req.body);
  }
  // An update: identity and precondition, then the object as the store would hold it.
  const mismatch = identityProblem(kind, req, candidate);
  if (mismatch) return mismatch;
  const meta = candidate.metadata as Rec;
  if (meta.resourceVersion !== undefined && meta.resourceVersion !== '' && meta.resourceVersion !== live!.metadata.resourceVersion) {
    return conflict(kind, req.name!, `the object has been modified; please apply your changes to the latest version and try again`);
  }
  meta.resourceVersion = live!.metadata.resourceVersion;
  // null means unset (as Kubernetes decodes it) before defaults fill the field in.
  const written = withLiveStatus(applyDefaults(dropNullFields(candidate as unknown as KubeObject)), live!);
  const invalid = validate(kind, written, live!);
  if (invalid) return invalid;
  const rev = Number(live!.metadata.resourceVersion ?? 0);
  return { code: 200, body: prepareUpdate(ref, written, live!, rev).object as unknown as Rec };
}

/** The object a PATCH makes of the live one (an empty one for an apply that creates). */
function patchLive(kind: KindInfo, live: KubeObject | undefined, req: DryRunRequest): { object: Rec } | DryRunAnswer {
  const text = typeof req.body === 'string' ? req.body : JSON.stringify(req.body ?? null);
  let patch: unknown;
  try {
    patch = req.contentType === PATCH_TYPES.apply ? loadYaml(text) : JSON.parse(text);
  } catch (err) {
    return failure(400, 'BadRequest', `the ${req.contentType ?? 'patch'} body is not valid ${req.contentType === PATCH_TYPES.apply ? 'YAML' : 'JSON'}: ${errorMessage(err)}`);
  }
  const meta = patchMetaFor(kind.kind);
  const base = live ?? {};
  try {
    let out: unknown;
    switch (req.contentType) {
      case PATCH_TYPES.strategic: out = strategicMergePatch(base, patch, meta); break;
      case PATCH_TYPES.merge: out = mergePatch(base, patch); break;
      case PATCH_TYPES.json: out = jsonPatch(base, patch); break;
      case PATCH_TYPES.apply: out = applyIntent(base, patch, meta); break;
      default:
        return failure(415, 'UnsupportedMediaType', `the patch type ${req.contentType ?? '(none)'} is not one of ${Object.values(PATCH_TYPES).join(', ')}`);
    }
    if (!isRec(out)) return failure(422, 'Invalid', `the patch leaves no ${kind.kind} object`);
    return { object: out };
  } catch (err) {
    if (err instanceof PatchError) return failure(422, 'Invalid', `${named(kind, req.name!)} cannot be patched: ${err.message}`);
    throw err;
  }
}

async function create(store: Store, kind: KindInfo, req: DryRunRequest, body: Rec): Promise<DryRunAnswer> {
  const obj = structuredClone(body);
  if (!isRec(obj.metadata)) obj.metadata = {};
  const meta = obj.metadata as Rec;
  if (kind.namespaced && meta.namespace === undefined) meta.namespace = req.namespace;
  const mismatch = identityProblem(kind, { ...req, name: req.name ?? (typeof meta.name === 'string' ? meta.name : undefined) }, obj);
  if (mismatch) return mismatch;
  const written = applyDefaults(dropNullFields(obj as unknown as KubeObject));
  const invalid = validate(kind, written, undefined);
  if (invalid) return invalid;
  const prepared = prepareCreate(written, 0, nowTimestamp());
  if (await store.get(prepared.ref)) {
    return failure(409, 'AlreadyExists', `${named(kind, prepared.ref.name)} already exists`, { name: prepared.ref.name, group: groupOf(kind), kind: kind.plural });
  }
  // Nothing is stored, so there is no revision to report.
  delete prepared.object.metadata.resourceVersion;
  return { code: 201, body: prepared.object as unknown as Rec };
}

/** A body whose kind, apiVersion, name or namespace disagrees with the URL. */
function identityProblem(kind: KindInfo, req: DryRunRequest, obj: Rec): DryRunAnswer | undefined {
  if (obj.kind !== undefined && obj.kind !== kind.kind) return failure(400, 'BadRequest', `the body is a ${String(obj.kind)}, not a ${kind.kind}`);
  if (obj.apiVersion !== undefined && obj.apiVersion !== kind.apiVersion) return failure(400, 'BadRequest', `the body's apiVersion ${String(obj.apiVersion)} is not ${kind.apiVersion}`);
  obj.kind = kind.kind;
  obj.apiVersion = kind.apiVersion;
  if (!isRec(obj.metadata)) obj.metadata = {};
  const meta = obj.metadata as Rec;
  if (req.name && meta.name !== undefined && meta.name !== req.name) return failure(400, 'BadRequest', `the name of the object (${String(meta.name)}) does not match the name on the URL (${req.name})`);
  if (req.name) meta.name = req.name;
  if (kind.namespaced) {
    if (meta.namespace !== undefined && meta.namespace !== req.namespace) return failure(400, 'BadRequest', `the namespace of the provided object (${String(meta.namespace)}) does not match the namespace sent on the request (${req.namespace})`);
    meta.namespace = req.namespace;
  }
  return undefined;
}

/** The main resource never writes status: the live one stays. */
function withLiveStatus(obj: KubeObject, live: KubeObject): KubeObject {
  if (live.status !== undefined) obj.status = structuredClone(live.status);
  else delete obj.status;
  return obj;
}

/** Runs gantry's manifest validation on what would be stored; a 422 listing each bad field. */
function validate(kind: KindInfo, obj: KubeObject, live: KubeObject | undefined): DryRunAnswer | undefined {
  const check = structuredClone(obj) as Rec;
  const meta = check.metadata as Rec;
  // Fields the server keeps that gantry's schemas do not declare (they are never in a repo).
  delete meta.managedFields;
  delete meta.selfLink;
  delete meta.deletionGracePeriodSeconds;
  // A Job's selector is generated by the server at creation; carried over unchanged it is the
  // server's, not a selector the request gives (which the validator rightly refuses).
  const spec = check.spec as Rec | undefined;
  const liveSpec = live?.spec as Rec | undefined;
  if (kind.kind === 'Job' && spec && liveSpec?.selector !== undefined && spec.manualSelector !== true && deepEqual(spec.selector, liveSpec.selector)) delete spec.selector;
  const file = live?.metadata.annotations?.[SOURCE_PATH]?.replace(/:\d+$/, '') ?? '(request)';
  const issues = validateObject(check, { file });
  if (issues.length === 0) return undefined;
  const name = obj.metadata.name;
  const summary = issues.map((i) => i.message).join('; ');
  return failure(422, 'Invalid', `${kind.kind}${groupOf(kind) ? `.${groupOf(kind)}` : ''} "${name}" is invalid: ${summary}`, {
    name,
    group: groupOf(kind),
    kind: kind.kind,
    // kubectl prints each cause as "field: message", so the message loses its leading field name.
    causes: issues.map((i) => ({ reason: 'FieldValueInvalid', message: i.field && i.message.startsWith(`${i.field} `) ? i.message.slice(i.field.length + 1) : i.message, ...(i.field ? { field: i.field } : {}) })),
  });
}

function notFound(kind: KindInfo, name: string): DryRunAnswer {
  return failure(404, 'NotFound', `${named(kind, name)} not found`, { name, group: groupOf(kind), kind: kind.plural });
}

function conflict(kind: KindInfo, name: string, why: string): DryRunAnswer {
  return failure(409, 'Conflict', `Operation cannot be fulfilled on ${named(kind, name)}: ${why}`, { name, group: groupOf(kind), kind: kind.plural });
}
