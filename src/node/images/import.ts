/**
 * Air-gap import: OCI image layouts (directories with `oci-layout`, `index.json`, `blobs/`),
 * uncompressed tarballs of them (`.tar`), and classic `docker save` tarballs found in an images
 * directory are stored in containerd and unpacked, through the same code as a registry pull.
 *
 * Image names come from each index.json entry's `io.containerd.image.name` annotation, else from
 * `org.opencontainers.image.ref.name` when that is a full reference; a bare tag there (as skopeo
 * writes) becomes `import.local/<layout name>:<tag>`.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { GantryError, errorMessage } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { ContainerdClient } from '../containerd/client.js';
import type { Descriptor } from '../containerd/types.js';
import { getImage, storeImage, type BlobSource, type LocalImage } from './image-store.js';
import { parseReference } from './reference.js';
import { MediaTypes } from './registry.js';
import { indexTar } from './tar.js';

/** Outcome for one image of an import. */
export interface ImportResult {
  /** File or directory the image came from. */
  source: string;
  name: string;
  digest: string;
  /** True when containerd already had this name at this digest, unpacked. */
  skipped: boolean;
  image: LocalImage;
}

/** Options for {@link importImages} and {@link importLayout}. */
export interface ImportOptions {
  platform?: string;
  signal?: AbortSignal;
  logger?: Logger;
}

interface Layout {
  /** Reads a file of the layout by its path inside it (`index.json`, `blobs/sha256/…`). */
  read(rel: string): Promise<Buffer>;
  stream(rel: string): Promise<AsyncIterable<Uint8Array>>;
  label: string;
}

function dirLayout(dir: string): Layout {
  return {
    label: dir,
    read: (rel) => readFile(path.join(dir, rel)),
    stream: async (rel) => createReadStream(path.join(dir, rel)),
  };
}

async function tarLayout(file: string): Promise<Layout> {
  const members = await indexTar(file);
  const find = (rel: string): { offset: number; size: number } => {
    const m = members.get(rel);
    if (!m) throw new GantryError('ImagePullFailed', `${file} has no ${rel}`);
    return m;
  };
  const stream = async (rel: string): Promise<AsyncIterable<Uint8Array>> => {
    const m = find(rel);
    return m.size === 0 ? Readable.from([]) : createReadStream(file, { start: m.offset, end: m.offset + m.size - 1 });
  };
  return {
    label: file,
    stream,
    async read(rel) {
      const parts: Buffer[] = [];
      for await (const chunk of await stream(rel)) parts.push(Buffer.from(chunk));
      return Buffer.concat(parts);
    },
  };
}

function blobPath(digest: string): string {
  const [algo, hex] = digest.split(':');
  if (!algo || !hex || !/^[a-z0-9]+$/.test(algo) || !/^[a-f0-9]+$/.test(hex)) throw new GantryError('ImagePullFailed', `invalid digest ${digest}`);
  return `blobs/${algo}/${hex}`;
}

interface IndexEntry {
  mediaType?: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

/** The image name of an index.json entry (see module comment). */
export function layoutImageName(annotations: Record<string, string> | undefined, layoutName: string): string | undefined {
  const full = annotations?.['io.containerd.image.name'];
  if (full) return parseReference(full).name;
  const ref = annotations?.['org.opencontainers.image.ref.name'];
  if (!ref) return undefined;
  if (ref.includes('/') || (ref.includes(':') && !ref.startsWith(':'))) {
    try {
      return parseReference(ref).name;
    } catch {
      // not a full reference: treat as a tag below
    }
  }
  const base = layoutName.toLowerCase().replace(/\.tar$/, '').replace(/[^a-z0-9._-]+/g, '-').replace(/^[^a-z0-9]+/, '') || 'image';
  return parseReference(`import.local/${base}:${ref}`).name;
}

/** One image of a `docker save` tarball's manifest.json. */
interface DockerSaveEntry {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

async function hashMember(layout: Layout, rel: string): Promise<{ digest: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of await layout.stream(rel)) {
    hash.update(chunk);
    size += chunk.byteLength;
  }
  return { digest: `sha256:${hash.digest('hex')}`, size };
}

/**
 * Imports the images of a classic `docker save` tarball (manifest.json, config JSON, uncompressed
 * layer tars) by describing each as a Docker v2 manifest over the tarball's members.
 */
async function importDockerSave(client: ContainerdClient, source: string, layout: Layout, opts: ImportOptions): Promise<ImportResult[]> {
  let entries: DockerSaveEntry[];
  try {
    entries = JSON.parse((await layout.read('manifest.json')).toString('utf8')) as DockerSaveEntry[];
  } catch (err) {
    throw new GantryError('ImagePullFailed', `${source} is neither an OCI image layout (oci-layout, index.json) nor a docker save tarball (manifest.json): ${errorMessage(err)}`, { cause: err });
  }
  const results: ImportResult[] = [];
  for (const entry of entries) {
    const names = (entry.RepoTags ?? []).map((t) => parseReference(t).name);
    if (!names.length) {
      opts.logger?.warn({ source, config: entry.Config }, 'skipping docker save image without RepoTags');
      continue;
    }
    const members = new Map<string, string>();
    const config = await hashMember(layout, entry.Config);
    members.set(config.digest, entry.Config);
    const layers = [];
    for (const rel of entry.Layers) {
      const l = await hashMember(layout, rel);
      members.set(l.digest, rel);
      layers.push({ mediaType: 'application/vnd.docker.image.rootfs.diff.tar', digest: l.digest, size: l.size });
    }
    const manifest = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.dockerManifest, config: { mediaType: MediaTypes.dockerConfig, ...config }, layers }),
    );
    const target: Descriptor = { media_type: MediaTypes.dockerManifest, digest: `sha256:${createHash('sha256').update(manifest).digest('hex')}`, size: manifest.length };
    const blobs: BlobSource = {
      open: async (desc) => {
        const rel = members.get(desc.digest);
        if (!rel) throw new GantryError('ImagePullFailed', `${source} has no blob ${desc.digest}`);
        return layout.stream(rel);
      },
    };
    for (const name of names) {
      const present = await getImage(client, name, { platform: opts.platform });
      if (present && present.digest === target.digest) {
        results.push({ source, name, digest: target.digest, skipped: true, image: present });
        continue;
      }
      const image = await storeImage(client, { name, target, targetBody: manifest, source: blobs, platform: opts.platform, signal: opts.signal });
      opts.logger?.info({ source, name, digest: target.digest }, 'imported image');
      results.push({ source, name, digest: target.digest, skipped: false, image });
    }
  }
  return results;
}

/**
 * Imports every named image of one OCI layout (directory or `.tar`), or of a `docker save`
 * tarball (used when there is no oci-layout file).
 */
export async function importLayout(client: ContainerdClient, source: string, opts: ImportOptions = {}): Promise<ImportResult[]> {
  const st = await stat(source);
  const layout = st.isDirectory() ? dirLayout(source) : await tarLayout(source);
  let index: { manifests?: IndexEntry[] };
  const isOci = await layout.read('oci-layout').then(() => true, () => false);
  if (!isOci) return importDockerSave(client, source, layout, opts);
  try {
    index = JSON.parse((await layout.read('index.json')).toString('utf8')) as { manifests?: IndexEntry[] };
  } catch (err) {
    throw new GantryError('ImagePullFailed', `${source} is not an OCI image layout (need oci-layout and index.json): ${errorMessage(err)}`, { cause: err });
  }
  const blobs: BlobSource = { open: (desc) => layout.stream(blobPath(desc.digest)) };
  const results: ImportResult[] = [];
  for (const entry of index.manifests ?? []) {
    const name = layoutImageName(entry.annotations, path.basename(source));
    if (!name) {
      opts.logger?.warn({ source, digest: entry.digest }, 'skipping image without a name annotation');
      continue;
    }
    const present = await getImage(client, name, { platform: opts.platform });
    if (present && present.digest === entry.digest) {
      results.push({ source, name, digest: entry.digest, skipped: true, image: present });
      continue;
    }
    const target: Descriptor = { media_type: entry.mediaType ?? '', digest: entry.digest, size: Number(entry.size) };
    const targetBody = await layout.read(blobPath(entry.digest));
    const image = await storeImage(client, { name, target, targetBody, source: blobs, platform: opts.platform, signal: opts.signal });
    opts.logger?.info({ source, name, digest: entry.digest }, 'imported image');
    results.push({ source, name, digest: entry.digest, skipped: false, image });
  }
  return results;
}

/** Outcome of {@link importImages}. */
export interface ImportSummary {
  imported: ImportResult[];
  /** Sources that could not be imported, with why (one bad file does not stop the others). */
  failed: { source: string; error: GantryError }[];
}

/**
 * Imports every OCI layout directory and `.tar` file directly inside `dir` (sorted by name).
 * A missing directory imports nothing.
 */
export async function importImages(client: ContainerdClient, dir: string, opts: ImportOptions = {}): Promise<ImportSummary> {
  const entries = await readdir(dir, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    throw err;
  });
  const summary: ImportSummary = { imported: [], failed: [] };
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const full = path.join(dir, e.name);
    if (!(e.isDirectory() || (e.isFile() && e.name.endsWith('.tar')))) continue;
    try {
      summary.imported.push(...(await importLayout(client, full, opts)));
    } catch (err) {
      const error = err instanceof GantryError ? err : new GantryError('ImagePullFailed', `cannot import ${full}: ${errorMessage(err)}`, { cause: err });
      summary.failed.push({ source: full, error });
      opts.logger?.error({ source: full, err: error.message }, 'image import failed');
    }
  }
  return summary;
}
