/**
 * Builds a small OCI image layout from the host's static busybox (Debian `busybox-static`), without
 * network: one gzip layer with /bin/busybox, a symlink per applet, /etc/passwd and /etc/group
 * (root, nobody) and /tmp. Deterministic (sorted members, zero mtimes, root owner) so the same
 * busybox always yields the same digests. Used by setup for the air-gap images dir and by tests.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { GantryError } from '../../errors.js';
import { hostPlatform } from './image-store.js';
import { parseReference } from './reference.js';
import { MediaTypes } from './registry.js';
import { writeTar, type TarEntry } from './tar.js';

/** The image name the busybox image gets unless told otherwise. */
export const DEFAULT_BUSYBOX_IMAGE = 'gantry.local/busybox:latest';

/** Options for {@link buildBusyboxImage}. */
export interface BuildBusyboxOptions {
  /** Directory to write the OCI layout into (created). */
  outDir: string;
  /** Image name; default {@link DEFAULT_BUSYBOX_IMAGE}. */
  name?: string;
  /** Path of a statically linked busybox; default `/bin/busybox`. */
  busybox?: string;
  /** Extra regular files in the rootfs, by path (e.g. `{'etc/motd': 'hi'}`), to make distinct images. */
  files?: Record<string, string | Buffer>;
  /** Image config overrides (e.g. `{ Cmd: ['httpd', '-f'] }`). */
  config?: { Entrypoint?: string[]; Cmd?: string[]; Env?: string[]; WorkingDir?: string; User?: string; ExposedPorts?: Record<string, object> };
}

/** What was built. */
export interface BuiltImage {
  name: string;
  /** Digest of the manifest (what index.json points at). */
  manifestDigest: string;
  configDigest: string;
  layerDigest: string;
  diffId: string;
  /** Blobs by digest (for pushing to a registry). */
  blobs: Map<string, { mediaType: string; data: Buffer }>;
  /** The manifest bytes. */
  manifest: Buffer;
}

const PASSWD = 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n';
const GROUP = 'root:x:0:\nnobody:x:65534:\n';
const HOSTS = '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n';
const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function digestOf(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** The rootfs layer (uncompressed tar) for `busybox` with links for `applets` (paths like `bin/sh`). */
export function busyboxRootfsTar(busybox: Buffer, applets: string[], files: Record<string, string | Buffer> = {}): Buffer {
  const entries = new Map<string, TarEntry>();
  const dir = (name: string, mode = 0o755): void => {
    if (!entries.has(name)) entries.set(name, { name, type: 'dir', mode });
  };
  for (const d of ['bin', 'dev', 'etc', 'home', 'proc', 'sbin', 'sys', 'usr', 'usr/bin', 'usr/sbin', 'var']) dir(d);
  dir('tmp', 0o1777);
  dir('root', 0o700);
  entries.set('bin/busybox', { name: 'bin/busybox', type: 'file', mode: 0o755, data: busybox });
  entries.set('etc/passwd', { name: 'etc/passwd', type: 'file', data: Buffer.from(PASSWD) });
  entries.set('etc/group', { name: 'etc/group', type: 'file', data: Buffer.from(GROUP) });
  entries.set('etc/hosts', { name: 'etc/hosts', type: 'file', data: Buffer.from(HOSTS) });
  for (const applet of applets) {
    const name = applet.replace(/^\/+/, '');
    if (!name || entries.has(name)) continue;
    const parent = path.posix.dirname(name);
    if (parent !== '.') dir(parent);
    entries.set(name, { name, type: 'symlink', linkname: '/bin/busybox' });
  }
  for (const [file, content] of Object.entries(files)) {
    const name = file.replace(/^\/+/, '');
    let parent = path.posix.dirname(name);
    while (parent !== '.') {
      dir(parent);
      parent = path.posix.dirname(parent);
    }
    entries.set(name, { name, type: 'file', data: Buffer.isBuffer(content) ? content : Buffer.from(content) });
  }
  // Sorted by path so the archive (and its digest) only depends on the inputs.
  const sorted = [...entries.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return writeTar(sorted);
}

/**
 * Writes an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/…`) for a busybox image to
 * `opts.outDir`. index.json carries `io.containerd.image.name` (full name) and
 * `org.opencontainers.image.ref.name` (the tag), as containerd's export does.
 * @throws GantryError InvalidArgument when busybox is missing or not runnable.
 */
export async function buildBusyboxImage(opts: BuildBusyboxOptions): Promise<BuiltImage> {
  const ref = parseReference(opts.name ?? DEFAULT_BUSYBOX_IMAGE);
  const bin = opts.busybox ?? '/bin/busybox';
  let busybox: Buffer;
  let applets: string[];
  try {
    busybox = await readFile(bin);
    applets = execFileSync(bin, ['--list-full'], { encoding: 'utf8' }).split('\n').filter(Boolean).sort();
  } catch (err) {
    throw new GantryError('InvalidArgument', `cannot use ${bin} to build the busybox image (Debian: apt-get install busybox-static): ${(err as Error).message}`, { cause: err });
  }
  const tar = busyboxRootfsTar(busybox, applets, opts.files);
  const layer = gzipSync(tar, { level: 9 });
  const diffId = digestOf(tar);
  const [os, architecture] = hostPlatform().split('/') as [string, string];
  const created = '1970-01-01T00:00:00Z';
  const config = Buffer.from(
    JSON.stringify({
      created,
      architecture,
      os,
      config: { Env: [PATH_ENV], Cmd: ['sh'], WorkingDir: '/', ...opts.config },
      rootfs: { type: 'layers', diff_ids: [diffId] },
      history: [{ created, created_by: 'gantry: busybox-static rootfs' }],
    }),
  );
  const layerDesc = { mediaType: MediaTypes.ociLayerGzip, digest: digestOf(layer), size: layer.length };
  const configDesc = { mediaType: MediaTypes.ociConfig, digest: digestOf(config), size: config.length };
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociManifest, config: configDesc, layers: [layerDesc] }));
  const manifestDigest = digestOf(manifest);
  const index = {
    schemaVersion: 2,
    mediaType: MediaTypes.ociIndex,
    manifests: [
      {
        mediaType: MediaTypes.ociManifest,
        digest: manifestDigest,
        size: manifest.length,
        platform: { architecture, os },
        annotations: { 'io.containerd.image.name': ref.name, 'org.opencontainers.image.ref.name': ref.tag ?? 'latest' },
      },
    ],
  };
  const blobs = new Map<string, { mediaType: string; data: Buffer }>([
    [layerDesc.digest, { mediaType: layerDesc.mediaType, data: layer }],
    [configDesc.digest, { mediaType: configDesc.mediaType, data: config }],
    [manifestDigest, { mediaType: MediaTypes.ociManifest, data: manifest }],
  ]);
  const blobDir = path.join(opts.outDir, 'blobs', 'sha256');
  await mkdir(blobDir, { recursive: true });
  for (const [digest, blob] of blobs) await writeFile(path.join(blobDir, digest.slice('sha256:'.length)), blob.data);
  await writeFile(path.join(opts.outDir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(path.join(opts.outDir, 'index.json'), JSON.stringify(index));
  return { name: ref.name, manifestDigest, configDigest: configDesc.digest, layerDigest: layerDesc.digest, diffId, blobs, manifest };
}
