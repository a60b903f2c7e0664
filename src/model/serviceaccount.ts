/**
 * Service accounts as Kubernetes defines them: the user names and groups a service-account token
 * authenticates as, the bound token's claims, and the pod admission that the API server's
 * ServiceAccount plugin makes when a pod is created (pure: the caller looks the account up).
 *
 * Admission, as Kubernetes' plugin does it: `spec.serviceAccountName` defaults to `default` (and
 * the deprecated `spec.serviceAccount` mirrors it); the account's `imagePullSecrets` are copied to
 * a pod that names none; and unless `automountServiceAccountToken` is false (the pod's setting
 * wins over the account's), every container without a mount at
 * `/var/run/secrets/kubernetes.io/serviceaccount` gets one of a projected volume
 * `kube-api-access-<5 random>`: the token (`token`, 3607 s), the cluster CA
 * (`ca.crt` from the `kube-root-ca.crt` ConfigMap) and the namespace (`namespace`).
 */
import { GantryError } from '../errors.js';
import type { Pod, ServiceAccount, Volume, VolumeMount, VolumeProjection } from './types.js';
import { randomSuffix } from './generate-name.js';

/** Where containers find the token, the CA and the namespace. */
export const SERVICE_ACCOUNT_MOUNT_PATH = '/var/run/secrets/kubernetes.io/serviceaccount';
/** The admission-added volume's name prefix (a random suffix follows). */
export const TOKEN_VOLUME_PREFIX = 'kube-api-access-';
/** The ConfigMap in every namespace holding the API server's CA (`ca.crt`). */
export const ROOT_CA_CONFIGMAP = 'kube-root-ca.crt';
/** The account every namespace has, which pods naming none run as. */
export const DEFAULT_SERVICE_ACCOUNT = 'default';
/**
 * The token lifetime admission asks for: an hour and seven seconds, the odd value by which
 * Kubernetes recognises its own default.
 */
export const DEFAULT_TOKEN_EXPIRATION_SECONDS = 3607;
/** The shortest token a TokenRequest may ask for (Kubernetes' minimum, ten minutes). */
export const MIN_TOKEN_EXPIRATION_SECONDS = 600;
/** Issuer and default audience of service-account tokens, as Kubernetes' defaults. */
export const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc.cluster.local';

const USER_PREFIX = 'system:serviceaccount:';

/** The user name a service account authenticates as: `system:serviceaccount:<ns>:<name>`. */
export function serviceAccountUser(namespace: string, name: string): string {
  return `${USER_PREFIX}${namespace}:${name}`;
}

/** The namespace and name in a service-account user name, or undefined for other users. */
export function parseServiceAccountUser(user: string): { namespace: string; name: string } | undefined {
  if (!user.startsWith(USER_PREFIX)) return undefined;
  const [namespace, name, ...rest] = user.slice(USER_PREFIX.length).split(':');
  return namespace && name && rest.length === 0 ? { namespace, name } : undefined;
}

/** The groups a service account is in: every account's, its namespace's, and every authenticated user's. */
export function serviceAccountGroups(namespace: string): string[] {
  return ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'];
}

/** The private claims of a bound token (`kubernetes.io`), as Kubernetes writes them. */
export interface BoundTokenClaims {
  namespace: string;
  serviceaccount: { name: string; uid: string };
  pod?: { name: string; uid: string };
  node?: { name: string; uid?: string };
  /** Seconds since the epoch after which a client should have refreshed the token. */
  warnafter?: number;
}

/** What a token is requested for. */
export interface TokenRequestSpec {
  namespace: string;
  serviceAccount: { name: string; uid: string };
  /** The pod the token is bound to: it is refused once that pod is gone. */
  pod?: { name: string; uid: string };
  /** The pod's node, recorded in the token. */
  node?: { name: string; uid?: string };
  /** Default: the API's own audience ({@link SERVICE_ACCOUNT_ISSUER}). */
  audiences?: string[];
  expirationSeconds: number;
}

/** A token as issued. */
export interface IssuedToken {
  token: string;
  /** RFC 3339. */
  expirationTimestamp: string;
}

/** Signs bound service-account tokens (the API server's key). */
export interface ServiceAccountTokenIssuer {
  issue(spec: TokenRequestSpec): Promise<IssuedToken>;
}

/** Whether pods of `sa` get the token mounted: the pod's setting, else the account's, else yes. */
export function shouldAutomount(pod: Pod, sa: ServiceAccount | undefined): boolean {
  return pod.spec.automountServiceAccountToken ?? sa?.automountServiceAccountToken ?? true;
}

/** The account a pod runs as. */
export function podServiceAccount(pod: Pod): string {
  return pod.spec.serviceAccountName || pod.spec.serviceAccount || DEFAULT_SERVICE_ACCOUNT;
}

/** The projected volume source admission adds, as Kubernetes' `TokenVolumeSource`. */
export function tokenVolumeSources(): VolumeProjection[] {
  return [
    { serviceAccountToken: { path: 'token', expirationSeconds: DEFAULT_TOKEN_EXPIRATION_SECONDS } },
    { configMap: { name: ROOT_CA_CONFIGMAP, items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
    { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
  ];
}

/** True for the volume admission adds (by its name, as Kubernetes recognises it). */
export function isTokenVolume(v: Volume): boolean {
  return v.name.startsWith(TOKEN_VOLUME_PREFIX) && v.projected !== undefined;
}

/** Options of {@link admitPod}. */
export interface AdmitOptions {
  /** The random part of the volume name (tests pin it). */
  suffix?: () => string;
}

/**
 * The pod as the ServiceAccount admission plugin leaves it (a new object). `sa` is the account
 * the pod names, undefined when it does not exist: that refuses the pod, except for `default`,
 * which gantry's service-account controller makes in every namespace in use (a pod may be
 * created in the moment before it does; its token waits for the account).
 * @throws GantryError NotFound (waiting) naming the account, worded as Kubernetes refuses the pod.
 */
export function admitPod(pod: Pod, sa: ServiceAccount | undefined, opts: AdmitOptions = {}): Pod {
  const name = podServiceAccount(pod);
  const namespace = pod.metadata.namespace || 'default';
  if (!sa && name !== DEFAULT_SERVICE_ACCOUNT) {
    throw new GantryError('NotFound', `error looking up service account ${namespace}/${name}: serviceaccount "${name}" not found`, {
      object: `Pod/${namespace}/${pod.metadata.name}`,
      field: 'spec.serviceAccountName',
      disposition: 'waiting',
      retryAfterMs: 5000,
    });
  }
  const out: Pod = structuredClone(pod);
  out.spec.serviceAccountName = name;
  out.spec.serviceAccount = name;
  if (!out.spec.imagePullSecrets?.length && sa?.imagePullSecrets?.length) out.spec.imagePullSecrets = sa.imagePullSecrets.map((s) => ({ name: s.name }));
  if (shouldAutomount(pod, sa)) mountToken(out, opts.suffix ?? randomSuffix);
  return out;
}

/** Adds the token volume and a mount of it to every container without one at the mount path. */
function mountToken(pod: Pod, suffix: () => string): void {
  const volumes = pod.spec.volumes ?? [];
  const existing = volumes.find((v) => v.name.startsWith(TOKEN_VOLUME_PREFIX));
  const volumeName = existing?.name ?? `${TOKEN_VOLUME_PREFIX}${suffix()}`;
  const mount: VolumeMount = { name: volumeName, readOnly: true, mountPath: SERVICE_ACCOUNT_MOUNT_PATH };
  let needed = false;
  for (const c of [...(pod.spec.initContainers ?? []), ...pod.spec.containers]) {
    if ((c.volumeMounts ?? []).some((m) => m.mountPath === SERVICE_ACCOUNT_MOUNT_PATH)) continue;
    c.volumeMounts = [...(c.volumeMounts ?? []), { ...mount }];
    needed = true;
  }
  if (!existing && needed) pod.spec.volumes = [...volumes, { name: volumeName, projected: { defaultMode: 0o644, sources: tokenVolumeSources() } }];
}
