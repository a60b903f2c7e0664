/**
 * Puts an image into containerd, whatever it came from (registry pull or air-gap import): content
 * writes with GC labels inside a lease, unpack into overlayfs snapshots through the Diff service,
 * the config's snapshot GC label, and the image record. Also reads a present image back
 * ({@link getImage}) for imagePullPolicy IfNotPresent/Never.
 */
import { createHash, randomBytes } from 'node:crypto';
import { GantryError, isGantryError } from '../../errors.js';
import { DEFAULT_SNAPSHOTTER, type ContainerdClient } from '../containerd/client.js';
import type { Descriptor } from '../containerd/types.js';
import { parseReference } from './reference.js';
import { MediaTypes } from './registry.js';

/** The parts of an OCI image config a container is built from. */
export interface ImageConfig {
  Entrypoint?: string[];
  Cmd?: string[];
  Env?: string[];
  WorkingDir?: string;
  User?: string;
  ExposedPorts?: Record<string, object>;
  StopSignal?: string;
  Labels?: Record<string, string>;
}

/** An image present and unpacked in containerd. */
export interface LocalImage {
  /** containerd image name, e.g. `docker.io/library/busybox:latest`. */
  name: string;
  /** Digest of the image record's target (index or manifest). */
  digest: string;
  /** Digest of the platform manifest. */
  manifestDigest: string;
  config: ImageConfig;
  /** Top chainID: the committed snapshot a container's rootfs is prepared from. */
  chainId: string;
  snapshotter: string;
}

/** Where the blobs of an image come from. */
export interface BlobSource {
  /** Opens blob `desc` (bytes are verified by the caller). `what` names it in messages. */
  open(desc: Descriptor, what: string): Promise<Buffer | AsyncIterable<Uint8Array>>;
}

/** Options for {@link storeImage}. */
export interface StoreImageOptions {
  /** containerd image name to create or update. */
  name: string;
  /** The image's root: an index or a manifest. */
  target: Descriptor;
  /** The root's bytes (already verified against `target.digest`). */
  targetBody: Buffer;
  source: BlobSource;
  /** `os/arch` to pick from an index; default linux/<host arch>. */
  platform?: string;
  snapshotter?: string;
  signal?: AbortSignal;
}

/** GC label keys (containerd's garbage collector follows these references). */
const GC = {
  config: 'containerd.io/gc.ref.content.config',
  layer: (i: number) => `containerd.io/gc.ref.content.l.${i}`,
  manifest: (i: number) => `containerd.io/gc.ref.content.m.${i}`,
  snapshot: (snapshotter: string) => `containerd.io/gc.ref.snapshot.${snapshotter}`,
};

const GO_ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };

/** The platform gantry runs images for: `linux/<arch>` of this machine. */
export function hostPlatform(): string {
  return `linux/${GO_ARCH[process.arch] ?? process.arch}`;
}

/** chainIDs of a layer stack from its diffIDs (OCI image spec). */
export function chainIds(diffIds: string[]): string[] {
  const out: string[] = [];
  for (const [i, diffId] of diffIds.entries()) {
    out.push(i === 0 ? diffId : `sha256:${createHash('sha256').update(`${out[i - 1]} ${diffId}`).digest('hex')}`);
  }
  return out;
}

/** A descriptor as OCI/registry JSON spells it (camelCase). */
export interface OciDescriptor {
  mediaType?: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { os?: string; architecture?: string; variant?: string };
}

interface ManifestDoc {
  mediaType?: string;
  config: OciDescriptor;
  layers: OciDescriptor[];
}

/** An OCI index / Docker manifest list. */
export interface IndexDoc {
  manifests: OciDescriptor[];
}

interface ConfigDoc {
  config?: ImageConfig;
  rootfs?: { type?: string; diff_ids?: string[] };
  os?: string;
  architecture?: string;
}

/** True for OCI index and Docker manifest list media types. */
export function isIndexType(mediaType: string): boolean {
  return mediaType === MediaTypes.ociIndex || mediaType === MediaTypes.dockerList;
}

/** Registry/OCI JSON descriptors use camelCase; containerd's use snake_case. */
function toDescriptor(d: OciDescriptor): Descriptor {
  return { media_type: d.mediaType ?? '', digest: d.digest, size: Number(d.size) };
}

function parseJson<T>(body: Buffer, what: string): T {
  try {
    return JSON.parse(body.toString('utf8')) as T;
  } catch {
    throw new GantryError('ImagePullFailed', `${what} is not valid JSON`);
  }
}

function sha256(body: Buffer): string {
  return `sha256:${createHash('sha256').update(body).digest('hex')}`;
}

/** Picks the manifest for `platform` (`os/arch[/variant]`) from an index. */
export function selectManifest(index: IndexDoc, platform: string, what: string): Descriptor {
  const [os, arch, variant] = platform.split('/');
  const match = index.manifests.find(
    (m) => m.platform?.os === os && m.platform?.architecture === arch && (!variant || !m.platform?.variant || m.platform.variant === variant),
  );
  // Single-manifest indexes without platform (e.g. OCI layouts) are taken as they are.
  const only = index.manifests.length === 1 && !index.manifests[0]!.platform ? index.manifests[0] : undefined;
  const chosen = match ?? only;
  if (!chosen) {
    const have = index.manifests.map((m) => `${m.platform?.os ?? '?'}/${m.platform?.architecture ?? '?'}`).join(', ');
    throw new GantryError('ImagePullFailed', `${what} has no ${platform} image (it has: ${have || 'none'})`);
  }
  return toDescriptor(chosen);
}

async function readSmall(source: BlobSource, desc: Descriptor, what: string): Promise<Buffer> {
  const data = await source.open(desc, what);
  let body: Buffer;
  if (Buffer.isBuffer(data)) body = data;
  else {
    const parts: Buffer[] = [];
    let len = 0;
    for await (const chunk of data) {
      parts.push(Buffer.from(chunk));
      len += chunk.byteLength;
      if (len > 4 << 20) throw new GantryError('ImagePullFailed', `${what} ${desc.digest} is larger than 4 MiB`);
    }
    body = Buffer.concat(parts);
  }
  const got = sha256(body);
  if (got !== desc.digest) throw new GantryError('ImagePullFailed', `${what} ${desc.digest} digest mismatch: got ${got}`);
  if (body.length !== desc.size) throw new GantryError('ImagePullFailed', `${what} ${desc.digest} size mismatch: got ${body.length} bytes, expected ${desc.size}`);
  return body;
}

/** Writes a blob unless present, turning verification failures into ImagePullFailed. */
async function putBlob(client: ContainerdClient, source: BlobSource | Buffer, desc: Descriptor, what: string, opts: { labels?: Record<string, string>; signal?: AbortSignal }): Promise<void> {
  const existing = await client.contentInfo(desc.digest);
  if (existing) {
    if (opts.labels) await client.updateContentLabels(desc.digest, { ...existing.labels, ...opts.labels });
    return;
  }
  const data = Buffer.isBuffer(source) ? source : await source.open(desc, what);
  try {
    await client.writeContent(data, { digest: desc.digest, size: desc.size, labels: opts.labels, what, signal: opts.signal });
  } catch (err) {
    if (isGantryError(err, 'InvalidArgument')) throw new GantryError('ImagePullFailed', err.message, { cause: err });
    throw err;
  }
}

/**
 * Unpacks `layers` into committed snapshots named by chainID, skipping those already present.
 * @returns the top chainID.
 */
export async function unpackLayers(
  client: ContainerdClient,
  layers: Descriptor[],
  diffIds: string[],
  opts: { snapshotter?: string; signal?: AbortSignal } = {},
): Promise<string> {
  const snapshotter = opts.snapshotter ?? DEFAULT_SNAPSHOTTER;
  const chain = chainIds(diffIds);
  let parent = '';
  for (const [i, layer] of layers.entries()) {
    const chainId = chain[i]!;
    if (await client.statSnapshot(chainId, snapshotter)) {
      parent = chainId;
      continue;
    }
    const key = `extract-${randomBytes(6).toString('hex')} ${chainId}`;
    const mounts = await client.prepareSnapshot(key, parent, { snapshotter });
    try {
      const applied = await client.applyDiff(layer, mounts, { signal: opts.signal });
      if (applied.digest !== diffIds[i]) {
        throw new GantryError('ImagePullFailed', `layer ${layer.digest} unpacked to ${applied.digest}, but the image config says diff_id ${diffIds[i]}`);
      }
      try {
        await client.commitSnapshot(chainId, key, { snapshotter });
      } catch (err) {
        // Another unpack of the same layer won the race: its snapshot is identical.
        if (!isGantryError(err, 'AlreadyExists')) throw err;
        await client.removeSnapshot(key, snapshotter);
      }
    } catch (err) {
      await client.removeSnapshot(key, snapshotter).catch(() => undefined);
      throw err;
    }
    parent = chainId;
  }
  return parent;
}

/**
 * Stores an image (index or manifest, config, layers) in containerd, unpacks it and points image
 * record `name` at it. Idempotent: present blobs and snapshots are not fetched again.
 */
export async function storeImage(client: ContainerdClient, opts: StoreImageOptions): Promise<LocalImage> {
  const snapshotter = opts.snapshotter ?? DEFAULT_SNAPSHOTTER;
  const platform = opts.platform ?? hostPlatform();
  return client.withLease(async (l) => {
    let manifestDesc = opts.target;
    let manifestBody = opts.targetBody;
    let indexLabels: Record<string, string> | undefined;
    if (isIndexType(opts.target.media_type)) {
      const index = parseJson<IndexDoc>(opts.targetBody, `index ${opts.target.digest}`);
      manifestDesc = selectManifest(index, platform, `image ${opts.name}`);
      manifestBody = await readSmall(opts.source, manifestDesc, 'manifest');
      const i = index.manifests.findIndex((m) => m.digest === manifestDesc.digest);
      indexLabels = { [GC.manifest(i)]: manifestDesc.digest };
    }
    const manifest = parseJson<ManifestDoc>(manifestBody, `manifest ${manifestDesc.digest}`);
    if (!manifest.config?.digest || !Array.isArray(manifest.layers)) {
      throw new GantryError('ImagePullFailed', `manifest ${manifestDesc.digest} of ${opts.name} has no config or layers (unsupported media type ${manifestDesc.media_type}?)`);
    }
    const configDesc = toDescriptor(manifest.config);
    const layers = manifest.layers.map(toDescriptor);
    const configBody = await readSmall(opts.source, configDesc, 'config');
    const config = parseJson<ConfigDoc>(configBody, `config ${configDesc.digest}`);
    const diffIds = config.rootfs?.diff_ids ?? [];
    if (diffIds.length !== layers.length) {
      throw new GantryError('ImagePullFailed', `image ${opts.name}: config lists ${diffIds.length} diff_ids for ${layers.length} layers`);
    }

    for (const layer of layers) await putBlob(l, opts.source, layer, 'layer', { signal: opts.signal });
    const chainId = layers.length ? chainIds(diffIds).at(-1)! : '';
    await putBlob(l, configBody, configDesc, 'config', { labels: chainId ? { [GC.snapshot(snapshotter)]: chainId } : {}, signal: opts.signal });
    const manifestLabels: Record<string, string> = { [GC.config]: configDesc.digest };
    layers.forEach((layer, i) => (manifestLabels[GC.layer(i)] = layer.digest));
    await putBlob(l, manifestBody, manifestDesc, 'manifest', { labels: manifestLabels, signal: opts.signal });
    if (indexLabels) await putBlob(l, opts.targetBody, opts.target, 'index', { labels: indexLabels, signal: opts.signal });

    const top = await unpackLayers(l, layers, diffIds, { snapshotter, signal: opts.signal });
    await l.putImageRecord({ name: opts.name, target: { media_type: opts.target.media_type, digest: opts.target.digest, size: opts.target.size } });
    return {
      name: opts.name,
      digest: opts.target.digest,
      manifestDigest: manifestDesc.digest,
      config: config.config ?? {},
      chainId: top,
      snapshotter,
    };
  });
}

/**
 * The present, unpacked image `name` (a reference such as `busybox` is normalized first), or
 * undefined when containerd has no such image or its snapshots are gone.
 */
export async function getImage(client: ContainerdClient, name: string, opts: { platform?: string; snapshotter?: string } = {}): Promise<LocalImage | undefined> {
  const snapshotter = opts.snapshotter ?? DEFAULT_SNAPSHOTTER;
  const fullName = normalizeImageName(name);
  const record = await client.getImageRecord(fullName);
  if (!record) return undefined;
  const read = async (desc: Descriptor, what: string): Promise<Buffer | undefined> => {
    try {
      return await client.readContent(desc.digest);
    } catch (err) {
      if (isGantryError(err, 'NotFound')) return undefined;
      throw new GantryError('Internal', `cannot read ${what} ${desc.digest} of image ${fullName}: ${(err as Error).message}`, { cause: err });
    }
  };
  let manifestDesc = record.target;
  let body = await read(record.target, 'target');
  if (!body) return undefined;
  if (isIndexType(record.target.media_type)) {
    manifestDesc = selectManifest(parseJson<IndexDoc>(body, `index ${record.target.digest}`), opts.platform ?? hostPlatform(), `image ${fullName}`);
    body = await read(manifestDesc, 'manifest');
    if (!body) return undefined;
  }
  const manifest = parseJson<ManifestDoc>(body, `manifest ${manifestDesc.digest}`);
  const configBody = await read(toDescriptor(manifest.config), 'config');
  if (!configBody) return undefined;
  const config = parseJson<ConfigDoc>(configBody, `config ${manifest.config.digest}`);
  const chain = chainIds(config.rootfs?.diff_ids ?? []);
  const chainId = chain.at(-1) ?? '';
  if (chainId && !(await client.statSnapshot(chainId, snapshotter))) return undefined;
  return { name: fullName, digest: record.target.digest, manifestDigest: manifestDesc.digest, config: config.config ?? {}, chainId, snapshotter };
}

/** containerd image name for a user-written reference (`busybox` → `docker.io/library/busybox:latest`). */
export function normalizeImageName(name: string): string {
  return parseReference(name).name;
}
