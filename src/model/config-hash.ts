/**
 * The config hash: a digest of the ConfigMaps and Secrets a pod template reads, stamped on the
 * workload's own template (annotation {@link CONFIG_HASH_ANNOTATION}) when the desired state is
 * written. Changing a referenced ConfigMap's content changes the workload's template, so its
 * controller rolls out new pods the ordinary way (what Kustomize's hashed names or Reloader do
 * for Kubernetes users).
 *
 * Why it is stamped at apply time, on the workload, and not by the workload's controller: a
 * commit that changes an image and a ConfigMap lands in one store transaction, but controllers
 * see its objects one watch event at a time. A controller that combined "the template it sees"
 * with "the ConfigMap it sees" could act between the two and make a ReplicaSet of the old image
 * with the new config (a state that never existed in Git), then a second one. With the hash in
 * the template, the one Deployment write carries both changes.
 */
import { createHash } from 'node:crypto';
import { GANTRY_PREFIX } from './annotations.js';
import { canonicalJson } from './json.js';
import type { KubeObject } from './types.js';

/** Annotation on a workload's pod template with the digest of the config it references. */
export const CONFIG_HASH_ANNOTATION = `${GANTRY_PREFIX}config-hash`;

/** Kinds whose pod template gets the config hash: their controllers roll pods on a template change. */
export const CONFIG_ROLLING_KINDS: ReadonlySet<string> = new Set(['Deployment', 'StatefulSet', 'DaemonSet']);

type Rec = Record<string, unknown>;
const rec = (v: unknown): Rec | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Rec) : undefined);
const list = (v: unknown): Rec[] => (Array.isArray(v) ? v.map(rec).filter((r): r is Rec => r !== undefined) : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** Names of the ConfigMaps and Secrets a pod spec reads, each list sorted. */
export interface ConfigReferences {
  configMaps: string[];
  secrets: string[];
}

/**
 * The ConfigMaps and Secrets a pod spec reads: env `valueFrom` and `envFrom` of containers and
 * init containers, `configMap`/`secret` volumes and projected volume sources.
 */
export function configReferences(podSpec: unknown): ConfigReferences {
  const cms = new Set<string>();
  const secrets = new Set<string>();
  const spec = rec(podSpec);
  if (!spec) return { configMaps: [], secrets: [] };
  const add = (set: Set<string>, name: unknown): void => {
    const n = str(name);
    if (n) set.add(n);
  };
  for (const c of [...list(spec.initContainers), ...list(spec.containers)]) {
    for (const e of list(c.env)) {
      const from = rec(e.valueFrom);
      add(cms, rec(from?.configMapKeyRef)?.name);
      add(secrets, rec(from?.secretKeyRef)?.name);
    }
    for (const e of list(c.envFrom)) {
      add(cms, rec(e.configMapRef)?.name);
      add(secrets, rec(e.secretRef)?.name);
    }
  }
  for (const v of list(spec.volumes)) {
    add(cms, rec(v.configMap)?.name);
    add(secrets, rec(v.secret)?.secretName);
    for (const s of list(rec(v.projected)?.sources)) {
      add(cms, rec(s.configMap)?.name);
      add(secrets, rec(s.secret)?.name);
    }
  }
  return { configMaps: [...cms].sort(), secrets: [...secrets].sort() };
}

/** Finds a ConfigMap or Secret by kind, namespace and name. */
export type ConfigLookup = (kind: 'ConfigMap' | 'Secret', namespace: string, name: string) => KubeObject | undefined;

/**
 * The digest of the referenced ConfigMaps' and Secrets' content in `namespace`, or undefined
 * when the spec references none. A missing object digests as absent, so creating it later
 * rolls out pods that can then start. Labels and annotations are not content.
 */
export function configDigest(podSpec: unknown, namespace: string, lookup: ConfigLookup): string | undefined {
  const refs = configReferences(podSpec);
  if (refs.configMaps.length === 0 && refs.secrets.length === 0) return undefined;
  const parts: unknown[] = [];
  for (const name of refs.configMaps) {
    const cm = lookup('ConfigMap', namespace, name) as (KubeObject & { data?: unknown; binaryData?: unknown }) | undefined;
    parts.push(['ConfigMap', name, cm ? { data: cm.data ?? {}, binaryData: cm.binaryData ?? {} } : null]);
  }
  for (const name of refs.secrets) {
    const s = lookup('Secret', namespace, name) as (KubeObject & { data?: unknown; stringData?: unknown }) | undefined;
    parts.push(['Secret', name, s ? { data: s.data ?? {}, stringData: s.stringData ?? {} } : null]);
  }
  return createHash('sha256').update(canonicalJson(parts)).digest('hex').slice(0, 16);
}

/**
 * Sets (or, with no digest, removes) the config hash on a workload's pod template in place:
 * `digest` is {@link configDigest} of what its template references. Other kinds are left alone.
 */
export function setConfigHash(obj: KubeObject, digest: string | undefined): void {
  if (!CONFIG_ROLLING_KINDS.has(obj.kind)) return;
  const template = rec(rec(obj.spec)?.template);
  if (!template) return;
  const meta = rec(template.metadata) ?? {};
  const annotations = { ...(rec(meta.annotations) as Record<string, string> | undefined) };
  if (digest === undefined) delete annotations[CONFIG_HASH_ANNOTATION];
  else annotations[CONFIG_HASH_ANNOTATION] = digest;
  if (Object.keys(annotations).length > 0) meta.annotations = annotations;
  else delete meta.annotations;
  if (Object.keys(meta).length > 0) template.metadata = meta;
  else delete template.metadata;
}
