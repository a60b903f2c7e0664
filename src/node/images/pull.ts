/**
 * Pulls an image from a Docker Registry HTTP API v2 registry into containerd.
 */
import { GantryError, isGantryError } from '../../errors.js';
import type { ContainerdClient } from '../containerd/client.js';
import { storeImage, type LocalImage } from './image-store.js';
import { parseReference } from './reference.js';
import { RegistryClient, type CredentialsByHost, type RegistryCredentials } from './registry.js';

/** Options for {@link pullImage}. */
export interface PullOptions {
  /** Credentials by registry host (e.g. from {@link parseDockerConfigJson} of imagePullSecrets), or for the image's registry. */
  auth?: CredentialsByHost | RegistryCredentials;
  /** Registry hosts allowed over plain HTTP (loopback always is). */
  insecureRegistries?: string[];
  /** `os/arch`; default this machine's linux platform. */
  platform?: string;
  signal?: AbortSignal;
}

/** Result of a pull: the image as stored in containerd. */
export type PulledImage = LocalImage;

/**
 * Pulls `ref` (e.g. `busybox`, `localhost:5000/app:1.0`, `repo@sha256:…`) and unpacks it.
 * @throws GantryError ImagePullFailed with the registry's message ("manifest unknown",
 *   "authentication required", digest mismatches); InvalidArgument for a malformed reference.
 */
export async function pullImage(client: ContainerdClient, ref: string, opts: PullOptions = {}): Promise<PulledImage> {
  const parsed = parseReference(ref);
  const credentials = pickCredentials(opts.auth, parsed.registry);
  const registry = new RegistryClient({ registry: parsed.registry, credentials, insecureRegistries: opts.insecureRegistries, signal: opts.signal });
  try {
    const root = await registry.getManifest(parsed.repository, parsed.digest ?? parsed.tag ?? 'latest');
    return await storeImage(client, {
      name: parsed.name,
      target: { media_type: root.mediaType, digest: root.digest, size: root.size },
      targetBody: root.body,
      source: { open: (desc, what) => registry.getBlob(parsed.repository, desc.digest, what) },
      platform: opts.platform,
      signal: opts.signal,
    });
  } catch (err) {
    if (isGantryError(err, 'ImagePullFailed')) {
      throw new GantryError('ImagePullFailed', `cannot pull ${ref}: ${err.message}`, { cause: err });
    }
    throw err;
  }
}

function pickCredentials(auth: PullOptions['auth'], registry: string): RegistryCredentials | undefined {
  if (!auth) return undefined;
  if ('username' in auth && typeof auth.username === 'string') return auth as RegistryCredentials;
  return (auth as CredentialsByHost)[registry];
}
