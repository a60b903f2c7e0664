/**
 * The four ways a Kubernetes client patches an object, as pure functions of (object, patch):
 *
 * - strategic merge patch (`application/strategic-merge-patch+json`, what `kubectl apply` and
 *   `kubectl diff` send): maps merge, `null` deletes a key, lists whose field has a merge key
 *   merge element by element, other lists are replaced, and the directives kubectl emits —
 *   `$patch: replace|delete|merge`, `$retainKeys`, `$setElementOrder/<field>`,
 *   `$deleteFromPrimitiveList/<field>` — are honoured;
 * - JSON merge patch (`application/merge-patch+json`, RFC 7386);
 * - JSON patch (`application/json-patch+json`, RFC 6902, with fast-json-patch);
 * - apply (`application/apply-patch+yaml`, server-side apply's full intent): merged onto the
 *   object by the same merge keys. gantry keeps no managedFields, so a field the intent no longer
 *   names is kept rather than removed as its previous owner would have it.
 *
 * Which fields merge by which key comes from a {@link PatchMeta}: src/sync/patch-meta.ts gives
 * one per kind from the schemas the OpenAPI documents are made of, so the server, kubectl and
 * the Kustomize renderer agree.
 *
 * Every function returns a new value; the inputs are never modified. A malformed patch is a
 * {@link PatchError} naming the field.
 */
import fastJsonPatch, { type Operation } from 'fast-json-patch';
import { deepEqual as jsonEqual } from './json.js';

type Rec = Record<string, unknown>;

/** Patch facts about one field: its merge key and strategies, and the meta of its value. */
export interface FieldPatchMeta {
  /** For lists of objects: the field that identifies an element (`name` for containers). */
  mergeKey?: string;
  /** `merge` (lists merge instead of being replaced), `retainKeys` (a map keeps only the keys the patch names). */
  strategies: readonly string[];
  /** Meta of the field's value: of each element for lists, of each value for maps with free keys. */
  value?: PatchMeta;
}

/** Patch facts of an object's fields. */
export interface PatchMeta {
  /** Facts about field `key`; undefined when nothing is known (it merges as a map or is replaced). */
  field(key: string): FieldPatchMeta | undefined;
}

/** A patch that cannot be applied: malformed, or naming a list element without its merge key. */
export class PatchError extends Error {
  constructor(message: string, readonly field?: string) {
    super(field ? `${field}: ${message}` : message);
    this.name = 'PatchError';
  }
}

/** The patch types of the Kubernetes API. */
export const PATCH_TYPES = {
  strategic: 'application/strategic-merge-patch+json',
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  apply: 'application/apply-patch+yaml',
} as const;

const DIRECTIVE = '$patch';
const RETAIN_KEYS = '$retainKeys';
const SET_ORDER = '$setElementOrder/';
const DELETE_PRIMITIVE = '$deleteFromPrimitiveList/';

const isRec = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);
const clone = <T>(v: T): T => structuredClone(v);
const join = (path: string, key: string): string => (path ? `${path}.${key}` : key);

/** No facts at all: every map merges, every list is replaced. */
export const NO_PATCH_META: PatchMeta = { field: () => undefined };

/** Options of {@link strategicMergePatch}. */
export interface StrategicMergeOptions {
  /**
   * Order of a merged list: `original` (the API server's: the original's elements in place, new
   * ones appended) or `patch` (Kustomize's: the patch's elements first in its order, then the
   * original's others).
   */
  listOrder?: 'original' | 'patch';
}

/**
 * Applies a strategic merge patch to `original` (an object) and returns the result. `meta`
 * says which lists merge by which key; without it every list is replaced, as for a kind
 * Kubernetes knows no strategy for.
 */
export function strategicMergePatch(original: unknown, patch: unknown, meta: PatchMeta = NO_PATCH_META, opts: StrategicMergeOptions = {}): Rec {
  if (!isRec(patch)) throw new PatchError('a strategic merge patch must be a JSON object');
  const base = isRec(original) ? clone(original) : {};
  const out = mergeMap(base, clone(patch), meta, '', { directives: true, patchOrder: opts.listOrder === 'patch' });
  return out ?? {};
}

/**
 * Merges a server-side apply intent onto `live` by the same keys a strategic merge patch uses.
 * The intent carries no directives and `null` is an explicit "unset", as the API server reads it.
 */
export function applyIntent(live: unknown, intent: unknown, meta: PatchMeta = NO_PATCH_META): Rec {
  if (!isRec(intent)) throw new PatchError('an apply patch must be an object (YAML or JSON mapping)');
  const base = isRec(live) ? clone(live) : {};
  return mergeMap(base, clone(intent), meta, '', { directives: false }) ?? {};
}

/** Applies an RFC 7386 JSON merge patch. */
export function mergePatch(original: unknown, patch: unknown): unknown {
  if (!isRec(patch)) return clone(patch);
  const out: Rec = isRec(original) ? clone(original) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** Applies an RFC 6902 JSON patch; a failed `test` or a path that is not there is a PatchError. */
export function jsonPatch(original: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) throw new PatchError('a JSON patch must be a list of operations');
  const doc = clone(original);
  const err = fastJsonPatch.validate(ops as Operation[], doc);
  if (err) throw new PatchError(`operation ${err.index ?? '?'} (${err.operation?.op ?? '?'} ${err.operation?.path ?? ''}): ${describeJsonPatchError(err.name)}`);
  try {
    return fastJsonPatch.applyPatch(doc, ops as Operation[], false, true).newDocument;
  } catch (e) {
    throw new PatchError(`cannot apply the JSON patch: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function describeJsonPatchError(name: string): string {
  switch (name) {
    case 'TEST_OPERATION_FAILED': return 'the test failed';
    case 'OPERATION_PATH_UNRESOLVABLE': return 'the path does not exist';
    case 'OPERATION_FROM_UNRESOLVABLE': return 'the from path does not exist';
    case 'OPERATION_OP_INVALID': return 'op must be add, remove, replace, move, copy or test';
    case 'OPERATION_PATH_INVALID': return 'path must be a JSON pointer';
    case 'OPERATION_VALUE_REQUIRED': return 'value is required';
    default: return name.toLowerCase().replace(/_/g, ' ');
  }
}

interface MergeOptions {
  /** Whether `$`-directives are read (strategic merge patch) or plain data (apply). */
  directives: boolean;
  /** Merged lists take the patch's order first (Kustomize), not the original's. */
  patchOrder?: boolean;
}

/**
 * Merges `patch` into `original` (both private copies, changed in place). Returns undefined
 * when the map itself is to be deleted (`$patch: delete`).
 */
function mergeMap(original: Rec, patch: Rec, meta: PatchMeta, path: string, opts: MergeOptions): Rec | undefined {
  if (opts.directives) {
    const directive = patch[DIRECTIVE];
    if (directive !== undefined) {
      delete patch[DIRECTIVE];
      if (directive === 'delete') return undefined;
      if (directive === 'replace') return stripDirectives(patch) as Rec;
      if (directive !== 'merge') throw new PatchError(`unknown $patch directive ${JSON.stringify(directive)}`, path || undefined);
    }
    const retain = patch[RETAIN_KEYS];
    if (retain !== undefined) {
      delete patch[RETAIN_KEYS];
      if (!Array.isArray(retain) || retain.some((k) => typeof k !== 'string')) throw new PatchError('$retainKeys must be a list of field names', path || undefined);
      for (const k of Object.keys(original)) if (!retain.includes(k)) delete original[k];
    }
  }
  const orders: [string, unknown[]][] = [];
  for (const [key, value] of Object.entries(patch)) {
    if (opts.directives && key.startsWith(SET_ORDER)) {
      if (!Array.isArray(value)) throw new PatchError(`${key} must be a list`, path || undefined);
      orders.push([key.slice(SET_ORDER.length), value]);
      continue;
    }
    if (opts.directives && key.startsWith(DELETE_PRIMITIVE)) {
      const field = key.slice(DELETE_PRIMITIVE.length);
      if (!Array.isArray(value)) throw new PatchError(`${key} must be a list`, path || undefined);
      const cur = original[field];
      if (Array.isArray(cur)) original[field] = cur.filter((x) => !value.some((d) => jsonEqual(d, x)));
      continue;
    }
    const fieldPath = join(path, key);
    if (value === null) {
      delete original[key];
      continue;
    }
    const fm = meta.field(key);
    const cur = original[key];
    if (isRec(value)) {
      // A map replaces a non-map; otherwise the two merge.
      const merged = mergeMap(isRec(cur) ? cur : {}, value, fm?.value ?? NO_PATCH_META, fieldPath, opts);
      if (merged === undefined) delete original[key];
      else original[key] = merged;
    } else if (Array.isArray(value)) {
      original[key] = mergeList(Array.isArray(cur) ? cur : [], value, fm, fieldPath, opts);
    } else {
      original[key] = value;
    }
  }
  for (const [field, order] of orders) {
    const cur = original[field];
    if (Array.isArray(cur)) original[field] = reorder(cur, order, meta.field(field)?.mergeKey);
  }
  return original;
}

function mergeList(original: unknown[], patch: unknown[], fm: FieldPatchMeta | undefined, path: string, opts: MergeOptions): unknown[] {
  // `[{$patch: replace}, …]`: the rest of the list replaces the original whatever the strategy.
  if (opts.directives) {
    const replace = patch.findIndex((e) => isRec(e) && e[DIRECTIVE] === 'replace' && Object.keys(e).length === 1);
    if (replace >= 0) return stripDirectives(patch.filter((_, i) => i !== replace)) as unknown[];
  }
  const merges = fm?.strategies.includes('merge') ?? false;
  if (!merges) return opts.directives ? (stripDirectives(patch) as unknown[]) : patch;
  const key = fm?.mergeKey;
  if (!key) {
    // A set of primitives (finalizers): the union, original order first.
    const out = [...original];
    for (const v of patch) if (!out.some((x) => jsonEqual(x, v))) out.push(v);
    return opts.patchOrder ? reorder(out, patch, undefined) : out;
  }
  const out = [...original];
  const itemMeta = fm?.value ?? NO_PATCH_META;
  patch.forEach((element, i) => {
    const at = `${path}[${i}]`;
    if (!isRec(element)) throw new PatchError(`list elements must be objects with the merge key ${key}`, at);
    if (!(key in element)) throw new PatchError(`the element does not contain the merge key ${key}`, at);
    const id = element[key];
    const idx = out.findIndex((x) => isRec(x) && jsonEqual(x[key], id));
    if (opts.directives && element[DIRECTIVE] === 'delete') {
      if (idx >= 0) out.splice(idx, 1);
      return;
    }
    if (idx >= 0) {
      const merged = mergeMap(out[idx] as Rec, element, itemMeta, `${path}[${key}=${String(id)}]`, opts);
      if (merged === undefined) out.splice(idx, 1);
      else out[idx] = merged;
    } else {
      const added = mergeMap({}, element, itemMeta, at, opts);
      if (added !== undefined) out.push(added);
    }
  });
  // An apply states the whole list: its order wins, elements only the live object has follow.
  return opts.directives && !opts.patchOrder ? out : reorder(out, patch, key);
}

/**
 * Orders `list` as `$setElementOrder` says: the elements it names first, in its order, then any
 * others (the server's own, which the client did not know about) in their current order.
 */
function reorder(list: unknown[], order: unknown[], mergeKey: string | undefined): unknown[] {
  const idOf = (v: unknown): unknown => (mergeKey && isRec(v) ? v[mergeKey] : v);
  const rest = [...list];
  const out: unknown[] = [];
  for (const o of order) {
    const want = idOf(o);
    const i = rest.findIndex((x) => jsonEqual(idOf(x), want));
    if (i >= 0) out.push(...rest.splice(i, 1));
  }
  return [...out, ...rest];
}

/** Drops directive keys left in a value that replaces (a replaced map or list keeps none). */
function stripDirectives(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripDirectives);
  if (!isRec(v)) return v;
  const out: Rec = {};
  for (const [k, x] of Object.entries(v)) {
    if (k === DIRECTIVE || k === RETAIN_KEYS || k.startsWith(SET_ORDER) || k.startsWith(DELETE_PRIMITIVE)) continue;
    out[k] = stripDirectives(x);
  }
  return out;
}
