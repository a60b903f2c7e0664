/**
 * What a projected volume holds (pure): the files of each source in one directory, as the kubelet
 * projects them — a service-account token (fetched by the agent beforehand, see
 * ../agent/tokens.ts), ConfigMap and Secret keys (as their own volumes do), and pod metadata
 * fields (downwardAPI `fieldRef`). Every file gets the item's `mode` or the volume's
 * `defaultMode` (0644). This is the shape of the `kube-api-access-…` volume admission adds.
 */
import { GantryError } from '../../errors.js';
import { podMetadataField } from '../../model/pod-fields.js';
import { DEFAULT_TOKEN_EXPIRATION_SECONDS } from '../../model/serviceaccount.js';
import type { Pod, ProjectedVolumeSource, VolumeProjection } from '../../model/types.js';
import type { PodReferences } from '../types.js';
import { configMapPayload, DEFAULT_FILE_MODE, secretPayload, validateRelativePath, type Payload } from './payload.js';

/** The key of a token source: tokens differ by audience and lifetime only. */
export function tokenSourceKey(src: NonNullable<VolumeProjection['serviceAccountToken']>): string {
  return `${src.audience ?? ''}|${src.expirationSeconds ?? DEFAULT_TOKEN_EXPIRATION_SECONDS}`;
}

/** Every token source of the pod's projected volumes. */
export function tokenSources(pod: Pod): NonNullable<VolumeProjection['serviceAccountToken']>[] {
  const out: NonNullable<VolumeProjection['serviceAccountToken']>[] = [];
  for (const v of pod.spec.volumes ?? []) for (const s of v.projected?.sources ?? []) if (s.serviceAccountToken) out.push(s.serviceAccountToken);
  return out;
}

/**
 * The files of a projected volume.
 * @throws GantryError NotFound (waiting) for a missing ConfigMap/Secret or a token not fetched
 *   yet; InvalidArgument for a path that leaves the volume or a field the downward API has not.
 */
export function projectedPayload(src: ProjectedVolumeSource, pod: Pod, refs: PodReferences, volume: string): Payload {
  const mode = src.defaultMode ?? DEFAULT_FILE_MODE;
  const out: Payload = new Map();
  const add = (files: Payload): void => {
    for (const [p, f] of files) out.set(p, f);
  };
  for (const s of src.sources) {
    if (s.serviceAccountToken) {
      const t = s.serviceAccountToken;
      validateRelativePath(t.path, `projected volume "${volume}" serviceAccountToken path`);
      const token = refs.tokens?.get(tokenSourceKey(t));
      if (token === undefined) throw new GantryError('NotFound', `the service account token of volume "${volume}" is not fetched yet`, { disposition: 'waiting', retryAfterMs: 2000 });
      out.set(t.path, { data: Buffer.from(token, 'utf8'), mode });
    } else if (s.configMap) {
      add(configMapPayload({ ...s.configMap, defaultMode: mode }, refs.configMaps.get(s.configMap.name), volume));
    } else if (s.secret) {
      add(secretPayload({ ...s.secret, defaultMode: mode }, refs.secrets.get(s.secret.name), volume));
    } else if (s.downwardAPI) {
      for (const item of s.downwardAPI.items ?? []) {
        validateRelativePath(item.path, `projected volume "${volume}" downwardAPI path`);
        const value = item.fieldRef ? podMetadataField(pod, item.fieldRef.fieldPath) : undefined;
        if (value === undefined) {
          throw new GantryError('InvalidArgument', `projected volume "${volume}" downwardAPI item "${item.path}": only metadata fields (name, namespace, uid, labels, annotations) are supported`, { disposition: 'stalled' });
        }
        out.set(item.path, { data: Buffer.from(value, 'utf8'), mode: item.mode ?? mode });
      }
    }
  }
  return out;
}
