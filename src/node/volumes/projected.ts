/**
 * The service-account token sources of projected volumes (the `kube-api-access-…` volume
 * admission adds, or one a manifest declares): which tokens the agent fetches for a pod (see
 * ../agent/tokens.ts) and the key each is held under. The files themselves are written by
 * `projectedPayload` (./payload.ts).
 */
import { DEFAULT_TOKEN_EXPIRATION_SECONDS } from '../../model/serviceaccount.js';
import type { Pod, VolumeProjection } from '../../model/types.js';

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
