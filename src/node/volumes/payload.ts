/**
 * What a configMap, secret, downwardAPI or projected volume holds, as the kubelet projects it
 * (a projected service-account token included, fetched by the agent beforehand):
 * one file per key (or per `items` entry, at its `path`), with `mode` from the item or the
 * volume's `defaultMode` (Kubernetes' default 0644); downward API files hold a pod field or a
 * container resource. Pure: the manager writes the result with the atomic writer.
 */
import { GantryError } from '../../errors.js';
import { podFieldValue, resourceFieldValue, type NodeAllocatable } from '../../model/downward.js';
import type { ConfigMap, DownwardAPIVolumeFile, KeyToPath, Pod, Secret, VolumeProjection } from '../../model/types.js';
import { tokenSourceKey } from './projected.js';

/** Kubernetes' default file mode for configMap and secret volumes (0644 = 420). */
export const DEFAULT_FILE_MODE = 0o644;

/** One projected file. */
export interface PayloadFile {
  data: Buffer;
  /** Permission bits, e.g. 0o644. */
  mode: number;
}

/** Relative file path → content. */
export type Payload = Map<string, PayloadFile>;

/**
 * Checks a relative path from `items[].path` or `subPath`: no absolute paths, no `..` element,
 * no leading `..` (the writer's own entries start with `..`).
 */
export function validateRelativePath(p: string, what: string): void {
  const parts = p.split('/');
  if (!p || p.startsWith('/') || parts.includes('..') || p.startsWith('..') || parts.some((s) => s === '')) {
    throw new GantryError('InvalidArgument', `${what} "${p}" must be a relative path without ".." elements`);
  }
}

/** A configMap or secret volume source, with the object's name under `name`. */
export interface ProjectedSource {
  name: string;
  items?: KeyToPath[];
  defaultMode?: number;
  optional?: boolean;
}

/**
 * Projects `keys` (key → bytes) onto files. `kind` names the object in messages (`configmap`,
 * `secret`), as the kubelet does: `configmap "app" not found`.
 */
function project(kind: 'configmap' | 'secret', src: ProjectedSource, keys: Map<string, Buffer> | undefined, volume: string): Payload {
  const out: Payload = new Map();
  if (!keys) {
    if (src.optional) return out;
    throw new GantryError('NotFound', `${kind} "${src.name}" not found (volume "${volume}")`, { disposition: 'waiting', retryAfterMs: 2000 });
  }
  const mode = src.defaultMode ?? DEFAULT_FILE_MODE;
  checkMode(mode, `${kind} volume "${volume}" defaultMode`);
  if (!src.items?.length) {
    for (const [key, data] of keys) {
      validateRelativePath(key, `${kind} "${src.name}" key`);
      out.set(key, { data, mode });
    }
    return out;
  }
  for (const item of src.items) {
    validateRelativePath(item.path, `${kind} volume "${volume}" item path`);
    const data = keys.get(item.key);
    if (!data) {
      if (src.optional) continue;
      throw new GantryError('NotFound', `${kind} "${src.name}" has no key "${item.key}" (volume "${volume}")`, { disposition: 'waiting', retryAfterMs: 2000 });
    }
    if (item.mode !== undefined) checkMode(item.mode, `${kind} volume "${volume}" item "${item.key}" mode`);
    out.set(item.path, { data, mode: item.mode ?? mode });
  }
  return out;
}

function checkMode(mode: number, what: string): void {
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o777) {
    throw new GantryError('InvalidArgument', `${what} ${mode} is not a file mode between 0 and 0777 (511)`);
  }
}

/** Files of a configMap volume: `data` as UTF-8 and `binaryData` base64-decoded. */
export function configMapPayload(src: ProjectedSource, cm: ConfigMap | undefined, volume: string): Payload {
  let keys: Map<string, Buffer> | undefined;
  if (cm) {
    keys = new Map();
    for (const [k, v] of Object.entries(cm.data ?? {})) keys.set(k, Buffer.from(v, 'utf8'));
    for (const [k, v] of Object.entries(cm.binaryData ?? {})) keys.set(k, Buffer.from(v, 'base64'));
  }
  return project('configmap', src, keys, volume);
}

/** Files of a secret volume: `data` base64-decoded (and `stringData`, should it not be folded yet). */
export function secretPayload(src: ProjectedSource, secret: Secret | undefined, volume: string): Payload {
  let keys: Map<string, Buffer> | undefined;
  if (secret) {
    keys = new Map();
    for (const [k, v] of Object.entries(secret.data ?? {})) keys.set(k, Buffer.from(v, 'base64'));
    for (const [k, v] of Object.entries(secret.stringData ?? {})) keys.set(k, Buffer.from(v, 'utf8'));
  }
  return project('secret', src, keys, volume);
}

/** What a downwardAPI file may need besides the pod: the node's allocatable, for unset limits. */
export interface DownwardContext {
  node: NodeAllocatable;
}

/** Files of downwardAPI items: pod fields and container resources, one per item at its `path`. */
export function downwardPayload(items: DownwardAPIVolumeFile[] | undefined, defaultMode: number | undefined, pod: Pod, ctx: DownwardContext, volume: string): Payload {
  const out: Payload = new Map();
  const mode = defaultMode ?? DEFAULT_FILE_MODE;
  checkMode(mode, `downwardAPI volume "${volume}" defaultMode`);
  for (const item of items ?? []) {
    validateRelativePath(item.path, `downwardAPI volume "${volume}" item path`);
    if (item.mode !== undefined) checkMode(item.mode, `downwardAPI volume "${volume}" item "${item.path}" mode`);
    let text: string;
    try {
      if (item.fieldRef) text = podFieldValue(pod, item.fieldRef.fieldPath, { nodeName: pod.spec.nodeName ?? '' });
      else if (item.resourceFieldRef) text = resourceFieldValue(pod, undefined, item.resourceFieldRef, ctx.node);
      else throw new Error(`item "${item.path}" has neither fieldRef nor resourceFieldRef`);
    } catch (err) {
      throw new GantryError('InvalidArgument', `downwardAPI volume "${volume}": ${(err as Error).message}`, { disposition: 'stalled' });
    }
    out.set(item.path, { data: Buffer.from(text, 'utf8'), mode: item.mode ?? mode });
  }
  return out;
}

/**
 * Files of a projected volume: each source's files (configMap, secret, downwardAPI) in one
 * directory, the volume's `defaultMode` for all of them unless an item gives its own.
 */
export function projectedPayload(
  src: { sources?: VolumeProjection[]; defaultMode?: number },
  pod: Pod,
  refs: { configMaps: ReadonlyMap<string, ConfigMap>; secrets: ReadonlyMap<string, Secret>; tokens?: ReadonlyMap<string, string> },
  ctx: DownwardContext,
  volume: string,
): Payload {
  const out: Payload = new Map();
  const defaultMode = src.defaultMode ?? DEFAULT_FILE_MODE;
  for (const s of src.sources ?? []) {
    let part: Payload | undefined;
    if (s.serviceAccountToken) {
      // Fetched by the agent beforehand (../agent/tokens.ts) and refreshed before it expires.
      const t = s.serviceAccountToken;
      validateRelativePath(t.path, `projected volume "${volume}" serviceAccountToken path`);
      const token = refs.tokens?.get(tokenSourceKey(t));
      if (token === undefined) throw new GantryError('NotFound', `the service account token of volume "${volume}" is not fetched yet`, { disposition: 'waiting', retryAfterMs: 2000 });
      part = new Map([[t.path, { data: Buffer.from(token, 'utf8'), mode: defaultMode }]]);
    } else if (s.configMap) part = configMapPayload({ ...s.configMap, defaultMode }, refs.configMaps.get(s.configMap.name), volume);
    else if (s.secret) part = secretPayload({ ...s.secret, defaultMode }, refs.secrets.get(s.secret.name), volume);
    else if (s.downwardAPI) part = downwardPayload(s.downwardAPI.items, defaultMode, pod, ctx, volume);
    for (const [p, f] of part ?? []) {
      if (out.has(p)) throw new GantryError('InvalidArgument', `projected volume "${volume}": two sources write ${p}`, { disposition: 'stalled' });
      out.set(p, f);
    }
  }
  return out;
}
