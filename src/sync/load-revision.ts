/**
 * One revision of a source, loaded: its files under the synced directory, what their
 * kustomizations read from elsewhere in the repository, then the (pure) manifest loader. The
 * sync loop, `gantry plan` and `gantry validate` all load through here, so they see the same
 * objects with the same source paths.
 */
import { readReferencedFiles } from './kustomize/references.js';
import { loadManifests, parseKustomizationYaml, type LoadResult, type ManifestCache, type ManifestValidator } from './loader.js';
import type { Decryption } from './sops/decryptor.js';
import type { DesiredSet, ManifestIssue, Revision, Source } from './types.js';
import { validateObject } from './validate.js';

/** Options for {@link loadRevision}. */
export interface LoadRevisionOptions {
  validate?: ManifestValidator;
  /** Kept across passes: parses, references and renders of unchanged files are reused. */
  cache?: ManifestCache;
  /** Decrypts the revision's SOPS-encrypted files before they load (see sops/decryptor.ts). */
  decryptor?: Decryption;
  signal?: AbortSignal;
}

/** Reads and loads `commit` of `source`; see {@link loadManifests} for the result. */
export async function loadRevision(source: Source, commit: string, opts: LoadRevisionOptions = {}): Promise<LoadResult> {
  const files = await source.files(commit, { signal: opts.signal });
  const encrypted = await opts.decryptor?.prepare(files);
  const referenced = await readReferencedFiles(source, files, {
    commit,
    parseKustomization: parseKustomizationYaml,
    memo: opts.cache?.referenceMemo(),
    signal: opts.signal,
  });
  return loadManifests(files, { validate: opts.validate, cache: opts.cache, referenced, encrypted });
}

/** A revision's manifests: valid (a desired set), or the problems found in them. */
export type LoadedRevision =
  | { ok: true; set: DesiredSet; revision: Revision }
  | { ok: false; issues: ManifestIssue[]; revision: Revision };

/**
 * Resolves `ref` (the source's followed ref when undefined; for a directory source, its files
 * as they are), then loads and validates that commit: what `gantry plan` and the API's plan
 * route compare with the live state (or with another revision).
 * @throws GantryError RefNotFound when the ref does not resolve; SourceUnavailable when the
 *   source cannot be read.
 */
export async function resolveAndLoad(source: Source, ref: string | undefined, opts: { signal?: AbortSignal; decryptor?: Decryption } = {}): Promise<LoadedRevision> {
  const revision = await source.resolve(ref, { signal: opts.signal });
  const { objects, issues } = await loadRevision(source, revision.commit, { validate: validateObject, signal: opts.signal, decryptor: opts.decryptor });
  if (issues.length > 0) return { ok: false, issues, revision };
  return { ok: true, set: { revision, objects }, revision };
}
