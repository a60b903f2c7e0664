/**
 * Template identity for Deployments: the pod-template-hash, as Kubernetes computes it (FNV-32a
 * rendered in "safe" characters). The config hash that makes a referenced ConfigMap's or
 * Secret's content part of the template is stamped on the Deployment itself when the desired
 * state is applied (see model/config-hash.ts), so the controller takes the template as it is.
 */
import type { PodTemplateSpec } from '../../model/types.js';
import { canonicalJson } from '../../model/json.js';

export { CONFIG_HASH_ANNOTATION } from '../../model/config-hash.js';

/** Label Kubernetes puts on ReplicaSets (selector, template) and their pods. */
export const POD_TEMPLATE_HASH_LABEL = 'pod-template-hash';

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
