/**
 * What the status branch holds for one object: its path in the tree and its YAML file, with
 * Secret values replaced by keyed digests.
 */
import { createHmac } from 'node:crypto';
import { dump } from 'js-yaml';
import { kindInfo } from '../model/kinds.js';
import type { KubeObject } from '../model/types.js';

/** Top directory for cluster-scoped objects (a namespace can never be named so: `_` is not DNS-1123). */
export const CLUSTER_DIR = '_cluster';

/** Top directory for sync records. */
export const SYNC_DIR = '_sync';

/** Keys written first, in this order, at every level; the rest follow alphabetically. */
const KEY_ORDER = ['apiVersion', 'kind', 'metadata', 'name', 'namespace'];
const KEY_RANK = new Map(KEY_ORDER.map((k, i) => [k, i]));

/** Annotations that may hold a copy of a Secret's data (kubectl's last-applied configuration). */
const COPY_ANNOTATION_SUFFIX = 'last-applied-configuration';

/**
 * A path segment safe in a Git tree: names are DNS-1123 in practice, but a name that is not
 * (a `/`, `..`) must never escape its directory.
 */
function safeSegment(s: string): string {
  if (/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(s) && s !== '.' && s !== '..') return s;
  return encodeURIComponent(s).replace(/\./g, '%2E') || '%00';
}

/**
 * The object's path on the status branch: `<namespace>/<kind>/<name>.yaml`, cluster-scoped kinds
 * under `_cluster/`, the kind in lower case. Returned as its three segments.
 */
export function objectPathSegments(obj: KubeObject): [string, string, string] {
  const info = kindInfo(obj.kind);
  const namespaced = info ? info.namespaced : obj.metadata.namespace !== undefined;
  const top = namespaced ? safeSegment(obj.metadata.namespace || 'default') : CLUSTER_DIR;
  return [top, safeSegment(obj.kind.toLowerCase()), `${safeSegment(obj.metadata.name)}.yaml`];
}

/** The object's path on the status branch, e.g. `default/deployment/web.yaml`. */
export function objectPath(obj: KubeObject): string {
  return objectPathSegments(obj).join('/');
}

/**
 * `hmac-sha256:<hex>` of some bytes, keyed with the audit trail's digest key. A plain sha256 of a
 * weak password can be found again by trying candidates against a pushed history; without the
 * key (kept in the data dir and the store, never in the history) it cannot. Equal values still
 * have equal digests, so a reader sees when a value changed and when it did not.
 */
export function digest(bytes: Uint8Array | string, key: Uint8Array): string {
  return `hmac-sha256:${createHmac('sha256', key).update(bytes).digest('hex')}`;
}

function digestMap(map: unknown, decodeBase64: boolean, key: Uint8Array): unknown {
  if (typeof map !== 'object' || map === null || Array.isArray(map)) return map;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(map as Record<string, unknown>)) {
    const text = typeof v === 'string' ? v : JSON.stringify(v) ?? '';
    // Digest of the decoded value, so it is the same whichever field (data or stringData)
    // carried the secret.
    out[k] = digest(decodeBase64 ? Buffer.from(text, 'base64') : Buffer.from(text, 'utf8'), key);
  }
  return out;
}

/**
 * A copy of the object safe to write to history: for a Secret every `data` and `stringData`
 * value becomes `hmac-sha256:<hex>` (keyed with `key`) and annotations that copy the manifest
 * are digested too. Other kinds are returned as they are (not copied).
 */
export function redact(obj: KubeObject, key: Uint8Array): KubeObject {
  if (obj.kind !== 'Secret') return obj;
  const copy: KubeObject = { ...obj, metadata: { ...obj.metadata } };
  if (copy.data !== undefined) copy.data = digestMap(copy.data, true, key);
  if (copy.stringData !== undefined) copy.stringData = digestMap(copy.stringData, false, key);
  const ann = obj.metadata.annotations;
  if (ann) {
    const safe: Record<string, string> = {};
    for (const [k, v] of Object.entries(ann)) safe[k] = k.endsWith(COPY_ANNOTATION_SUFFIX) ? digest(v, key) : v;
    copy.metadata.annotations = safe;
  }
  return copy;
}

function compareKeys(a: string, b: string): number {
  const ra = KEY_RANK.get(a);
  const rb = KEY_RANK.get(b);
  if (ra !== undefined || rb !== undefined) return (ra ?? KEY_ORDER.length) - (rb ?? KEY_ORDER.length);
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A deep copy with keys in a stable order and `undefined` members dropped. */
export function orderKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(orderKeys);
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(value).sort(compareKeys)) {
    const v = (value as Record<string, unknown>)[k];
    if (v !== undefined) out[k] = orderKeys(v);
  }
  return out;
}

/** The YAML file written for an object: redacted with `key`, keys in a stable order, status included. */
export function renderObjectFile(obj: KubeObject, key: Uint8Array): string {
  return dump(orderKeys(redact(obj, key)), { noRefs: true, lineWidth: -1 });
}
