/**
 * Template identity for Deployments: the pod-template-hash (as Kubernetes computes it, FNV-32a
 * rendered in "safe" characters) and the config hash that makes a referenced ConfigMap's or
 * Secret's content part of the template.
 *
 * ## Config changes roll out
 *
 * Kubernetes does not restart pods when a ConfigMap or Secret they read changes; users add
 * Kustomize's hashed names or a tool such as Reloader. gantry builds that in: the Deployment
 * controller collects the ConfigMaps and Secrets the pod template references (env
 * `valueFrom.configMapKeyRef` / `secretKeyRef`, `envFrom`, `configMap` and `secret` volumes, in
 * containers and init containers), digests their content, and puts the digest in the template it
 * gives the ReplicaSet as annotation {@link CONFIG_HASH_ANNOTATION}. New content → new template →
 * new pod-template-hash → a normal rolling update (and old content → the old ReplicaSet, so a
 * revert is a rollback). A template with no references gets no annotation, so its hash is the
 * one Kubernetes would compute.
 */
import { createHash } from 'node:crypto';
import type { ConfigMap, PodSpec, PodTemplateSpec, Secret } from '../../model/types.js';
import { GANTRY_PREFIX } from '../../model/annotations.js';
import type { CacheReader } from '../cache.js';
import { canonicalJson } from '../../model/json.js';

/** Label Kubernetes puts on ReplicaSets (selector, template) and their pods. */
export const POD_TEMPLATE_HASH_LABEL = 'pod-template-hash';
/** Annotation on the ReplicaSet's pod template with the digest of referenced config. */
export const CONFIG_HASH_ANNOTATION = `${GANTRY_PREFIX}config-hash`;

const SAFE = 'bcdfghjklmnpqrstvwxz2456789';

/** FNV-32a of bytes. */
export function fnv32a(bytes: Uint8Array, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (const b of bytes) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** Kubernetes' SafeEncodeString: each character mapped into an alphabet without vowels. */
export function safeEncode(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) out += SAFE[s.charCodeAt(i) % SAFE.length];
  return out;
}

/**
 * The pod-template-hash of a template: FNV-32a of its canonical JSON (plus the collision count
 * as 8 little-endian bytes when set, as Kubernetes appends it), in decimal, safe-encoded.
 */
export function podTemplateHash(template: PodTemplateSpec, collisionCount?: number): string {
  const bytes = new TextEncoder().encode(canonicalJson(withoutHashLabel(template)));
  let h = fnv32a(bytes);
  if (collisionCount !== undefined) {
    const extra = new Uint8Array(8);
    new DataView(extra.buffer).setUint32(0, collisionCount >>> 0, true);
    h = fnv32a(extra, h);
  }
  return safeEncode(String(h));
}

/** A copy of the template without the pod-template-hash label. */
export function withoutHashLabel(template: PodTemplateSpec): PodTemplateSpec {
  const t = structuredClone(template);
  if (t.metadata?.labels && POD_TEMPLATE_HASH_LABEL in t.metadata.labels) {
    delete t.metadata.labels[POD_TEMPLATE_HASH_LABEL];
    if (Object.keys(t.metadata.labels).length === 0) delete t.metadata.labels;
  }
  if (t.metadata && Object.keys(t.metadata).length === 0) delete t.metadata;
  return t;
}

/** Kubernetes' EqualIgnoreHash: templates equal apart from the pod-template-hash label. */
export function templatesEqualIgnoringHash(a: PodTemplateSpec, b: PodTemplateSpec): boolean {
  return canonicalJson(withoutHashLabel(a)) === canonicalJson(withoutHashLabel(b));
}

/** Names of the ConfigMaps and Secrets a pod spec reads. */
export function configReferences(spec: PodSpec): { configMaps: string[]; secrets: string[] } {
  const cms = new Set<string>();
  const secrets = new Set<string>();
  for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
    for (const e of c.env ?? []) {
      if (e.valueFrom?.configMapKeyRef) cms.add(e.valueFrom.configMapKeyRef.name);
      if (e.valueFrom?.secretKeyRef) secrets.add(e.valueFrom.secretKeyRef.name);
    }
    for (const e of c.envFrom ?? []) {
      if (e.configMapRef) cms.add(e.configMapRef.name);
      if (e.secretRef) secrets.add(e.secretRef.name);
    }
  }
  for (const v of spec.volumes ?? []) {
    if (v.configMap) cms.add(v.configMap.name);
    if (v.secret) secrets.add(v.secret.secretName);
  }
  return { configMaps: [...cms].sort(), secrets: [...secrets].sort() };
}

/**
 * The digest of the referenced ConfigMaps' and Secrets' content in `namespace`, or undefined
 * when the spec references none. A missing object digests as absent, so creating it later
 * rolls out pods that can then start.
 */
export function configDigest(spec: PodSpec, namespace: string, cache: CacheReader): string | undefined {
  const refs = configReferences(spec);
  if (refs.configMaps.length === 0 && refs.secrets.length === 0) return undefined;
  const parts: unknown[] = [];
  for (const name of refs.configMaps) {
    const cm = cache.get<ConfigMap>({ kind: 'ConfigMap', namespace, name });
    parts.push(['ConfigMap', name, cm ? { data: cm.data ?? {}, binaryData: cm.binaryData ?? {} } : null]);
  }
  for (const name of refs.secrets) {
    const s = cache.get<Secret>({ kind: 'Secret', namespace, name });
    parts.push(['Secret', name, s ? { data: s.data ?? {}, stringData: s.stringData ?? {} } : null]);
  }
  return createHash('sha256').update(canonicalJson(parts)).digest('hex').slice(0, 16);
}

/** The template a Deployment's new ReplicaSet gets: its own, plus the config hash annotation. */
export function desiredTemplate(template: PodTemplateSpec, namespace: string, cache: CacheReader): PodTemplateSpec {
  const t = structuredClone(template);
  const digest = configDigest(t.spec, namespace, cache);
  if (digest !== undefined) {
    t.metadata = { ...(t.metadata ?? {}), annotations: { ...(t.metadata?.annotations ?? {}), [CONFIG_HASH_ANNOTATION]: digest } };
  }
  return t;
}
