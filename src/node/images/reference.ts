/**
 * Image references parsed the way Docker does: `busybox` is `docker.io/library/busybox:latest`,
 * the first path component is a registry host only when it has a `.` or `:` or is `localhost`,
 * and `name@sha256:…` pins a digest. Pure functions.
 */
import { GantryError } from '../../errors.js';

/** Docker Hub's canonical name and the host its API actually lives on. */
export const DOCKER_HUB = 'docker.io';
const DOCKER_HUB_API = 'registry-1.docker.io';

/** A parsed image reference. */
export interface ImageReference {
  /** Registry host (with port), e.g. `docker.io`, `localhost:5000`. */
  registry: string;
  /** Repository path, e.g. `library/busybox`. */
  repository: string;
  /** Tag; `latest` when neither tag nor digest is given. Undefined for digest-only references. */
  tag?: string;
  /** `sha256:<64 hex>` when pinned. */
  digest?: string;
  /** Fully qualified name, e.g. `docker.io/library/busybox:latest` (the containerd image name). */
  name: string;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const HOST = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::\d+)?$/;

/**
 * Parses `text` like Docker's normalizer.
 * @throws GantryError InvalidArgument naming what is wrong with the reference.
 */
export function parseReference(text: string): ImageReference {
  const bad = (why: string): GantryError => new GantryError('InvalidArgument', `invalid image reference "${text}": ${why}`);
  if (!text || text.trim() !== text) throw bad('empty or surrounded by spaces');
  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw bad('digest must be sha256: followed by 64 lowercase hex digits');
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(`tag "${tag}" is not valid`);
  }
  let registry = DOCKER_HUB;
  let repository = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('[')) {
      registry = first;
      repository = rest.slice(slash + 1);
      if (!HOST.test(registry)) throw bad(`registry host "${registry}" is not valid`);
    }
  }
  if (registry === 'index.docker.io' || registry === DOCKER_HUB_API) registry = DOCKER_HUB;
  if (!repository) throw bad('repository name is empty');
  if (repository !== repository.toLowerCase()) throw bad('repository name must be lowercase');
  for (const part of repository.split('/')) {
    if (!COMPONENT.test(part)) throw bad(`path component "${part}" is not valid`);
  }
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`;
  if (!tag && !digest) tag = 'latest';
  const base = `${registry}/${repository}`;
  const name = `${base}${tag ? `:${tag}` : ''}${digest ? `@${digest}` : ''}`;
  return { registry, repository, tag, digest, name };
}

/** The host to send Registry API requests to (Docker Hub's API is not on docker.io). */
export function registryApiHost(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_API : registry;
}

/** The name of a host in a registry reference without its port, for loopback checks. */
export function registryHostname(registry: string): string {
  if (registry.startsWith('[')) return registry.slice(1, registry.indexOf(']'));
  const colon = registry.lastIndexOf(':');
  return colon >= 0 ? registry.slice(0, colon) : registry;
}
