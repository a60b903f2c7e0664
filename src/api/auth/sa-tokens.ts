/**
 * Bound service-account tokens, as Kubernetes issues and checks them: JWTs signed ES256 with the
 * key in `<data-dir>/pki/sa.key` (made at first start; servers sharing an etcd store need the same
 * file, as Kubernetes API servers share `--service-account-key-file`), issued by
 * `https://kubernetes.default.svc.cluster.local` for that audience unless another is asked, with
 * `sub` = `system:serviceaccount:<ns>:<name>` and the `kubernetes.io` claims naming the account,
 * the pod and the node by name and uid.
 *
 * A token is accepted while its signature, issuer, audience and lifetime hold and what it is bound
 * to still exists: the ServiceAccount with the same uid and, for a pod's token, the pod with the
 * same uid — a pod deleted more than a minute ago (the grace Kubernetes gives a terminating pod)
 * or replaced by another of its name makes its token worthless.
 *
 * jose does the JWT work (signing, claim checks, JWK export): it is the maintained, dependency-free
 * JOSE library for Node and the one @kubernetes/client-node already brings in.
 */
import { createHash, createPublicKey, randomUUID, webcrypto } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { errors as joseErrors, exportJWK, importPKCS8, importSPKI, jwtVerify, SignJWT, type JWK } from 'jose';
import { GantryError } from '../../errors.js';
import {
  SERVICE_ACCOUNT_ISSUER,
  serviceAccountUser,
  type BoundTokenClaims,
  type IssuedToken,
  type ServiceAccountTokenIssuer,
  type TokenRequestSpec,
} from '../../model/serviceaccount.js';
import type { Pod, ServiceAccount } from '../../model/types.js';
import { generateKeyPair, writeSecret } from './pki.js';
import { k8sTime } from '../../model/time.js';

const ALG = 'ES256';
/** Tokens whose signature is remembered at most (a node's worth of pods, many times over). */
const VERIFIED_CACHE_SIZE = 10_000;
/** How long a deleted pod's token keeps working: its graceful shutdown may still call the API. */
const DELETED_POD_GRACE_MS = 60_000;

/** Where the signing key lives in a data directory. */
export function signingKeyPaths(dataDir: string): { key: string; pub: string } {
  const dir = path.join(dataDir, 'pki');
  return { key: path.join(dir, 'sa.key'), pub: path.join(dir, 'sa.pub') };
}

/** What a token check needs to read: the account and the pod a token names. */
export interface BoundObjectLookup {
  serviceAccount(namespace: string, name: string): Promise<ServiceAccount | undefined>;
  pod(namespace: string, name: string): Promise<Pod | undefined>;
}

/** Who a valid token is. */
export interface ServiceAccountIdentity {
  /** `system:serviceaccount:<ns>:<name>`. */
  user: string;
  namespace: string;
  name: string;
  uid: string;
  pod?: { name: string; uid: string };
  node?: { name: string; uid?: string };
}

/** Options of {@link ServiceAccountTokens}. */
export interface ServiceAccountTokensOptions {
  /** The audiences the API accepts (default: the issuer). */
  apiAudiences?: string[];
  /** Milliseconds since the epoch (tests move the clock). */
  now?: () => number;
}

/** The PEM texts of the signing key pair. */
interface KeyPem {
  privatePem: string;
  publicPem: string;
}

/** Issues and verifies bound service-account tokens with one key. */
export class ServiceAccountTokens implements ServiceAccountTokenIssuer {
  readonly keyId: string;
  readonly apiAudiences: string[];
  private readonly now: () => number;
  /** Tokens whose signature checked out, oldest first, with their claims. */
  private readonly verified = new Map<string, { payload: Record<string, unknown>; exp: number }>();

  private constructor(
    private readonly privateKey: webcrypto.CryptoKey,
    private readonly publicKey: webcrypto.CryptoKey,
    publicPem: string,
    opts: ServiceAccountTokensOptions,
  ) {
    // As Kubernetes derives it: the SHA-256 of the public key's DER, base64url.
    this.keyId = createHash('sha256').update(createPublicKey(publicPem).export({ type: 'spki', format: 'der' })).digest('base64url');
    this.apiAudiences = opts.apiAudiences ?? [SERVICE_ACCOUNT_ISSUER];
    this.now = opts.now ?? Date.now;
  }

  /**
   * Loads the signing key of `dataDir` (`pki/sa.key`), making it at first start.
   * @throws GantryError InvalidArgument when the file is not an ECDSA P-256 key.
   */
  static async open(dataDir: string, opts: ServiceAccountTokensOptions = {}): Promise<ServiceAccountTokens> {
    const p = signingKeyPaths(dataDir);
    const pem = existsSync(p.key) ? await readKeyPair(p.key) : await makeKeyPair(p.key, p.pub);
    return ServiceAccountTokens.fromPem(pem, opts, p.key);
  }

  /** Tokens signed with a key given as PEM (PKCS#8 private, SPKI public). */
  static async fromPem(pem: KeyPem, opts: ServiceAccountTokensOptions = {}, file = 'the service account key'): Promise<ServiceAccountTokens> {
    try {
      const priv = await importPKCS8(pem.privatePem, ALG);
      const pub = await importSPKI(pem.publicPem, ALG, { extractable: true });
      return new ServiceAccountTokens(priv as webcrypto.CryptoKey, pub as webcrypto.CryptoKey, pem.publicPem, opts);
    } catch (err) {
      throw new GantryError('InvalidArgument', `${file}: not an ECDSA P-256 key in PKCS#8 PEM (${(err as Error).message}); remove it to make a new one (tokens signed with the old key then stop working)`);
    }
  }

  /** Signs a token for `spec`. */
  async issue(spec: TokenRequestSpec): Promise<IssuedToken> {
    const iat = Math.floor(this.now() / 1000);
    const exp = iat + spec.expirationSeconds;
    const claims: BoundTokenClaims = {
      namespace: spec.namespace,
      serviceaccount: { ...spec.serviceAccount },
      ...(spec.pod ? { pod: { ...spec.pod } } : {}),
      ...(spec.node ? { node: { ...spec.node } } : {}),
    };
    const token = await new SignJWT({ 'kubernetes.io': claims })
      .setProtectedHeader({ alg: ALG, kid: this.keyId })
      .setIssuer(SERVICE_ACCOUNT_ISSUER)
      .setSubject(serviceAccountUser(spec.namespace, spec.serviceAccount.name))
      .setAudience(spec.audiences?.length ? spec.audiences : this.apiAudiences)
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(exp)
      .setJti(randomUUID())
      .sign(this.privateKey);
    return { token, expirationTimestamp: k8sTime(exp * 1000) };
  }

  /**
   * The identity of a token the API should accept, checking what it is bound to.
   * @throws GantryError AuthFailed saying why it is refused.
   */
  async verify(token: string, lookup: BoundObjectLookup): Promise<ServiceAccountIdentity> {
    const payload = await this.checkedClaims(token);
    const k = payload['kubernetes.io'] as Partial<BoundTokenClaims> | undefined;
    const ns = k?.namespace;
    const sa = k?.serviceaccount;
    if (!ns || !sa?.name || !sa.uid || payload.sub !== serviceAccountUser(ns, sa.name)) throw new GantryError('AuthFailed', 'the token does not name a service account');
    const account = await lookup.serviceAccount(ns, sa.name);
    if (!account || account.metadata.uid !== sa.uid) throw new GantryError('AuthFailed', `service account ${ns}/${sa.name} has been deleted (or replaced) since the token was issued`);
    if (k.pod) {
      const pod = await lookup.pod(ns, k.pod.name);
      if (!pod || pod.metadata.uid !== k.pod.uid) throw new GantryError('AuthFailed', `the token is bound to pod ${ns}/${k.pod.name}, which is gone`);
      const deleted = pod.metadata.deletionTimestamp ? Date.parse(pod.metadata.deletionTimestamp) : undefined;
      if (deleted !== undefined && deleted < this.now() - DELETED_POD_GRACE_MS) throw new GantryError('AuthFailed', `the token is bound to pod ${ns}/${k.pod.name}, which is being deleted`);
    }
    return {
      user: serviceAccountUser(ns, sa.name),
      namespace: ns,
      name: sa.name,
      uid: sa.uid,
      ...(k.pod ? { pod: { name: k.pod.name, uid: k.pod.uid } } : {}),
      ...(k.node ? { node: { ...k.node } } : {}),
    };
  }

  /**
   * The claims of a token whose signature, issuer, audience and lifetime hold. A pod presents the
   * same token on every call: its signature is checked once and remembered until it expires (the
   * lifetime is checked on every call all the same, and what it is bound to by the caller).
   */
  private async checkedClaims(token: string): Promise<Record<string, unknown>> {
    const known = this.verified.get(token);
    if (known) {
      if (known.exp * 1000 > this.now()) return known.payload;
      this.verified.delete(token);
      throw new GantryError('AuthFailed', 'the service account token has expired');
    }
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, this.publicKey, { issuer: SERVICE_ACCOUNT_ISSUER, audience: this.apiAudiences, algorithms: [ALG], currentDate: new Date(this.now()) }));
    } catch (err) {
      throw new GantryError('AuthFailed', tokenErrorText(err));
    }
    if (this.verified.size >= VERIFIED_CACHE_SIZE) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(token, { payload, exp: Number(payload.exp) });
    return payload;
  }

  /** The public key as a JWK Set (`/openid/v1/jwks`). */
  async jwks(): Promise<{ keys: JWK[] }> {
    return { keys: [{ ...(await exportJWK(this.publicKey)), kid: this.keyId, alg: ALG, use: 'sig' }] };
  }
}

/** True when `text` looks like a JWT (three base64url parts): the API tries it as a service-account token. */
export function looksLikeJwt(text: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(text);
}

function tokenErrorText(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return 'the service account token has expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `the service account token's ${err.claim} claim is not accepted (${err.reason})`;
  if (err instanceof joseErrors.JWSSignatureVerificationFailed || err instanceof joseErrors.JOSEAlgNotAllowed) return 'the service account token is not signed by this cluster';
  return `not a service account token of this cluster (${(err as Error).message})`;
}

async function readKeyPair(keyFile: string): Promise<KeyPem> {
  const privatePem = await readFile(keyFile, 'utf8');
  let publicPem: string;
  try {
    publicPem = createPublicKey(privatePem).export({ type: 'spki', format: 'pem' }).toString();
  } catch (err) {
    throw new GantryError('InvalidArgument', `${keyFile}: not a private key in PEM (${(err as Error).message}); remove it to make a new one`);
  }
  return { privatePem, publicPem };
}

async function makeKeyPair(keyFile: string, pubFile: string): Promise<KeyPem> {
  await mkdir(path.dirname(keyFile), { recursive: true, mode: 0o700 });
  const { key: privatePem, publicKey: publicPem } = await generateKeyPair();
  await writeSecret(keyFile, privatePem);
  await writeSecret(pubFile, publicPem);
  return { privatePem, publicPem };
}
