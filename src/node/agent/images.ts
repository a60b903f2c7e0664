/**
 * Images for pod containers: imagePullPolicy (Always / IfNotPresent / Never, defaulted as
 * Kubernetes does), credentials from `imagePullSecrets`, one pull per image at a time however many
 * pods ask, and the kubelet's back-off after failures (ErrImagePull, then ImagePullBackOff).
 * What happened is reported in the kubelet's words for its Events: Pulling, then Pulled with the
 * pull's time and the image's size, or Pulled "already present on machine".
 */
import { GantryError, isGantryError } from '../../errors.js';
import type { KubeletMetrics } from '../../metrics/index.js';
import type { Container, Secret } from '../../model/types.js';
import type { ContainerdClient } from '../containerd/client.js';
import { getImage, normalizeImageName, type LocalImage } from '../images/image-store.js';
import { pullImage } from '../images/pull.js';
import { parseReference } from '../images/reference.js';
import { parseDockerConfigJson, type CredentialsByHost } from '../images/registry.js';
import { Backoff } from './backoff.js';
import { goDuration } from '../../model/time.js';

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
  /** Counts pulls by result and times the successful ones (`gantry_kubelet_image_pull*`). */
  metrics?: KubeletMetrics;
}

/** What became of a container's image, as the kubelet reports it in Events (reasons and wording are its own). */
export interface ImageEvent {
  type: 'Normal' | 'Warning';
  reason: 'Pulling' | 'Pulled' | 'Failed' | 'BackOff' | 'ErrImageNeverPull' | 'InspectFailed';
  message: string;
}

/** Options of {@link ImageManager.ensure}. */
export interface EnsureOptions {
  /** Registry credentials by host (from the pod's imagePullSecrets). */
  auth: CredentialsByHost;
  signal?: AbortSignal;
  /**
   * Hears Pulling before a pull, Pulled after one or when the image was already present, and
   * Failed, BackOff, ErrImageNeverPull or InspectFailed when it is not available.
   */
  report?: (ev: ImageEvent) => void;
}

/** A pull in progress: callers asking meanwhile share it. */
interface Inflight {
  image: Promise<LocalImage>;
  /** When the pull itself began (epoch ms). */
  startedAt: number;
}

/** Ensures images per pull policy, deduplicating concurrent pulls. */
export class ImageManager {
  private inflight = new Map<string, Inflight>();
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
  async ensure(podUid: string, c: Container, opts: EnsureOptions): Promise<LocalImage | ImageWaiting> {
    const { auth, signal, report } = opts;
    const asked = this.now();
    const policy = effectivePullPolicy(c);
    let name: string;
    try {
      name = normalizeImageName(c.image);
    } catch (err) {
      const message = `Failed to apply default image tag "${c.image}": ${(err as Error).message}`;
      report?.({ type: 'Warning', reason: 'InspectFailed', message });
      return { reason: 'InvalidImageName', message };
    }
    if (policy !== 'Always') {
      const present = await this.local(name);
      if (present) {
        report?.({ type: 'Normal', reason: 'Pulled', message: `Container image "${c.image}" already present on machine` });
        return present;
      }
      if (policy === 'Never') {
        const message = `Container image "${c.image}" is not present with pull policy of Never`;
        report?.({ type: 'Warning', reason: 'ErrImageNeverPull', message });
        return { reason: 'ErrImageNeverPull', message };
      }
    }
    const key = `${podUid}/${name}`;
    const failed = this.failures.get(key);
    if (failed) {
      const wait = this.backoff.remaining(key, failed.at, this.now());
      if (wait > 0) {
        report?.({ type: 'Normal', reason: 'BackOff', message: `Back-off pulling image "${c.image}"` });
        return { reason: 'ImagePullBackOff', message: `Back-off pulling image "${c.image}": ${failed.message}`, retryAfterMs: wait };
      }
    }
    try {
      report?.({ type: 'Normal', reason: 'Pulling', message: `Pulling image "${c.image}"` });
      const pull = this.pull(name, auth, signal);
      const image = await pull.image;
      this.failures.delete(key);
      this.backoff.reset(key);
      if (report) {
        // The kubelet's wording: the pull's time, then the time since this container asked. A
        // container that joined a pull under way counts the pull from when it joined.
        const done = this.now();
        const size = await this.imageSize(image).catch(() => undefined);
        report({
          type: 'Normal',
          reason: 'Pulled',
          message: `Successfully pulled image "${c.image}" in ${goMillis(done - Math.max(pull.startedAt, asked))} (${goMillis(done - asked)} including waiting).${size !== undefined ? ` Image size: ${size} bytes.` : ''}`,
        });
      }
      return image;
    } catch (err) {
      if (!isGantryError(err) || err.code === 'RuntimeUnavailable') throw err;
      const message = err.message;
      report?.({ type: 'Warning', reason: 'Failed', message: `Failed to pull image "${c.image}": ${message}` });
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
  private pull(name: string, auth: CredentialsByHost, signal?: AbortSignal): Inflight {
    const running = this.inflight.get(name);
    if (running) return running;
    const metrics = this.opts.metrics;
    const started = performance.now();
    const p = pullImage(this.opts.client, name, { auth, insecureRegistries: this.opts.insecureRegistries, signal })
      .then((image) => {
        metrics?.imagePulled((performance.now() - started) / 1000);
        return image;
      }, (err: unknown) => {
        metrics?.imagePullFailed();
        throw isGantryError(err) ? err : new GantryError('ImagePullFailed', `cannot pull ${name}: ${(err as Error).message}`, { cause: err });
      })
      .finally(() => this.inflight.delete(name));
    const pull = { image: p, startedAt: this.now() };
    this.inflight.set(name, pull);
    return pull;
  }

  /**
   * The image's size as containerd's CRI reports it to the kubelet: its platform manifest, config
   * and (compressed) layers. One read of the manifest, only after a pull.
   */
  private async imageSize(image: LocalImage): Promise<number | undefined> {
    const body = await this.opts.client.readContent(image.manifestDigest);
    if (!body) return undefined;
    const m = JSON.parse(Buffer.from(body).toString('utf8')) as { config?: { size?: number }; layers?: { size?: number }[] };
    return body.length + Number(m.config?.size ?? 0) + (m.layers ?? []).reduce((n, l) => n + Number(l.size ?? 0), 0);
  }
}

/** A duration as Go prints one truncated to milliseconds (`313ms`, `1.594s`, `1m2.5s`), as the kubelet's Pulled message. */
function goMillis(ms: number): string {
  const whole = Math.max(0, Math.floor(ms));
  return goDuration(whole);
}
