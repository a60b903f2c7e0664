/**
 * The ConfigMaps, Secrets and PersistentVolumeClaims a pod refers to, by name: what its node may
 * read, and what makes the node agent look at the pod again when one of them changes. Shared by the agent and by whatever
 * serves it (the store-backed node API today, the API server for remote agents).
 */
import type { Pod } from './types.js';

/** Names, in the pod's namespace. */
export interface PodReferenceNames {
  configMaps: Set<string>;
  secrets: Set<string>;
  /** Claims its volumes name (their volumes are read with them). */
  claims: Set<string>;
}

/** Names of the ConfigMaps, Secrets and claims a pod refers to (volumes, projected sources, env, envFrom, imagePullSecrets). */
export function podReferences(pod: Pod): PodReferenceNames {
  const configMaps = new Set<string>();
  const secrets = new Set<string>();
  const claims = new Set<string>();
  for (const v of pod.spec.volumes ?? []) {
    if (v.persistentVolumeClaim) claims.add(v.persistentVolumeClaim.claimName);
    if (v.configMap) configMaps.add(v.configMap.name);
    if (v.secret) secrets.add(v.secret.secretName);
    const projected = (v as { projected?: { sources?: { configMap?: { name: string }; secret?: { name: string } }[] } }).projected;
    for (const src of projected?.sources ?? []) {
      if (src.configMap) configMaps.add(src.configMap.name);
      if (src.secret) secrets.add(src.secret.name);
    }
  }
  for (const c of [...(pod.spec.initContainers ?? []), ...pod.spec.containers]) {
    for (const f of c.envFrom ?? []) {
      if (f.configMapRef) configMaps.add(f.configMapRef.name);
      if (f.secretRef) secrets.add(f.secretRef.name);
    }
    for (const e of c.env ?? []) {
      if (e.valueFrom?.configMapKeyRef) configMaps.add(e.valueFrom.configMapKeyRef.name);
      if (e.valueFrom?.secretKeyRef) secrets.add(e.valueFrom.secretKeyRef.name);
    }
  }
  for (const s of pod.spec.imagePullSecrets ?? []) secrets.add(s.name);
  return { configMaps, secrets, claims };
}


/** The kinds a pod refers to by name. */
export type ReferenceKind = 'ConfigMap' | 'Secret' | 'PersistentVolumeClaim';

/** The names of `kind` among a pod's references. */
export function referencedNames(refs: PodReferenceNames, kind: ReferenceKind): Set<string> {
  return kind === 'ConfigMap' ? refs.configMaps : kind === 'Secret' ? refs.secrets : refs.claims;
}
