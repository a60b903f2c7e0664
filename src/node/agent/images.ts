/**
 * Images for pod containers: imagePullPolicy (Always / IfNotPresent / Never, defaulted as
 * Kubernetes does), credentials from `imagePullSecrets`, one pull per image at a time however many
 * pods ask, and the kubelet's back-off after failures (ErrImagePull, then ImagePullBackOff).
 */
import { GantryError, isGantryError } from '../../errors.js';
import type { Container, Secret } from '../../model/types.js';
import type { ContainerdClient } from '../containerd/client.js';
import { getImage, normalizeImageName, type LocalImage } from '../images/image-store.js';
import { pullImage } from '../images/pull.js';
import { parseReference } from '../images/reference.js';
import { parseDockerConfigJson, type CredentialsByHost } from '../images/registry.js';
import { Backoff } from './backoff.js';

/** Why an image is not available, as a container's waiting state. */
export interface ImageWaiting {
  reason: 'ErrImagePull' | 'ImagePullBackOff' | 'ErrImageNeverPull' | 'InvalidImageName';
  message: string;
  /** Retry after this long (back-off), when retrying makes sense. */
  retryAfterMs?: number;
}

/** The policy Kubernetes defaults to: Always for `:latest` or no tag (without digest), else IfNotPresent. */
export function effectivePullPolicy(c: Container): 'Always' | 'IfNotPresent' | 'Never' {
  if (c.imagePullPolicy) return c.imagePullPolicy;
  try {
    const ref = parseReference(c.image);
    if (ref.digest) return 'IfNotPresent';
    return !ref.tag || ref.tag === 'latest' ? 'Always' : 'IfNotPresent';
  } catch {
    return 'IfNotPresent';
  }
}

/** Credentials by registry host from `kubernetes.io/dockerconfigjson` (or legacy dockercfg) Secrets. */
export function credentialsFromSecrets(secrets: Secret[]): CredentialsByHost {
  const out: CredentialsByHost = {};
  for (const s of secrets) {
    const raw = s.data?.['.dockerconfigjson'] ?? s.data?.['.dockercfg'];
    const text = raw !== undefined ? Buffer.from(raw, 'base64').toString('utf8') : s.stringData?.['.dockerconfigjson'];
    if (!text) continue;
    try {
      const doc = s.data?.['.dockercfg'] && !s.data?.['.dockerconfigjson'] ? JSON.stringify({ auths: JSON.parse(text) }) : text;
      Object.assign(out, parseDockerConfigJson(doc));
    } catch {
      // A malformed pull secret is ignored, as the kubelet does; the pull then fails on auth.
    }
  }
  return out;
}

/** Options for {@link ImageManager}. */
export interface ImageManagerOptions {
  client: ContainerdClient;
  insecureRegistries?: string[];
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  now?: () => number;
}

/** Ensures images per pull policy, deduplicating concurrent pulls. */
export class ImageManager {
  private inflight = new Map<string, Promise<LocalImage>>();
  /** Resolved images by target digest (see {@link local}). */
  private resolved = new Map<string, LocalImage>();
  private readonly backoff: Backoff;
  /** Last failure per (pod uid, image), for ImagePullBackOff. */
  private failures = new Map<string, { at: number; message: string }>();
  private readonly now: () => number;

  constructor(private readonly opts: ImageManagerOptions) {
    this.backoff = new Backoff(opts.backoffBaseMs, opts.backoffMaxMs);
    this.now = opts.now ?? Date.now;
  }

  /**
   * The image for a container, pulling when the policy says so. Returns the image, or why it is
   * not available (never throws for pull failures).
   */
  async ensure(podUid: string, c: Container, auth: CredentialsByHost, signal?: AbortSignal): Promise<LocalImage | ImageWaiting> {
    const policy = effectivePullPolicy(c);
    let name: string;
    try {
      name = normalizeImageName(c.image);
    } catch (err) {
      return { reason: 'InvalidImageName', message: `Failed to apply default image tag "${c.image}": ${(err as Error).message}` };
    }
    if (policy !== 'Always') {
      const present = await this.local(name);
      if (present) return present;
      if (policy === 'Never') return { reason: 'ErrImageNeverPull', message: `Container image "${c.image}" is not present with pull policy of Never` };
    }
    const key = `${podUid}/${name}`;
    const failed = this.failures.get(key);
    if (failed) {
      const wait = this.backoff.remaining(key, failed.at, this.now());
      if (wait > 0) return { reason: 'ImagePullBackOff', message: `Back-off pulling image "${c.image}": ${failed.message}`, retryAfterMs: wait };
    }
    try {
      const image = await this.pull(name, auth, signal);
      this.failures.delete(key);
      this.backoff.reset(key);
      return image;
    } catch (err) {
      if (!isGantryError(err) || err.code === 'RuntimeUnavailable') throw err;
      const message = err.message;
      const at = this.now();
      this.failures.set(key, { at, message });
      const delay = this.backoff.next(key, at);
      return { reason: 'ErrImagePull', message, retryAfterMs: delay };
    }
  }

  /**
   * The image as containerd holds it. A resolved image (manifest, config, snapshot check: four
   * round trips) is kept by its target digest, so a start costs one look-up of the name, which
   * still notices a re-tagged or removed image.
   */
  private async local(name: string): Promise<LocalImage | undefined> {
    const record = await this.opts.client.getImageRecord(name);
    if (!record) return undefined;
    const known = this.resolved.get(record.target.digest);
    if (known && known.name === name) return known;
    const image = await getImage(this.opts.client, name);
    if (image) this.resolved.set(image.digest, image);
    return image;
  }

  /** Drops what is kept of an image (its snapshot may be gone: a container create failed with it). */
  forgetImage(digest: string): void {
    this.resolved.delete(digest);
  }

  /** Forgets a pod's pull failures (when it goes away). */
  forgetPod(podUid: string): void {
    for (const k of this.failures.keys()) if (k.startsWith(`${podUid}/`)) this.failures.delete(k);
    this.backoff.resetPrefix(`${podUid}/`);
  }

  /** One pull per image name at a time; callers asking meanwhile share its result. */
  private pull(name: string, auth: CredentialsByHost, signal?: AbortSignal): Promise<LocalImage> {
    const running = this.inflight.get(name);
    if (running) return running;
    const p = pullImage(this.opts.client, name, { auth, insecureRegistries: this.opts.insecureRegistries, signal })
      .catch((err: unknown) => {
        throw isGantryError(err) ? err : new GantryError('ImagePullFailed', `cannot pull ${name}: ${(err as Error).message}`, { cause: err });
      })
      .finally(() => this.inflight.delete(name));
    this.inflight.set(name, p);
    return p;
  }
}
