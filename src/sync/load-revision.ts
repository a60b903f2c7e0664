/**
 * One revision of a source, loaded: its files under the synced directory, what their
 * kustomizations read from elsewhere in the repository, then the (pure) manifest loader. The
 * sync loop, `gantry plan` and `gantry validate` all load through here, so they see the same
 * objects with the same source paths.
 */
import { readReferencedFiles } from './kustomize/references.js';
import { loadManifests, parseKustomizationYaml, type LoadResult, type ManifestCache, type ManifestValidator } from './loader.js';
import type { Source } from './types.js';

/** Options for {@link loadRevision}. */
export interface LoadRevisionOptions {
  validate?: ManifestValidator;
  /** Kept across passes: parses, references and renders of unchanged files are reused. */
  cache?: ManifestCache;
  signal?: AbortSignal;
}

/** Reads and loads `commit` of `source`; see {@link loadManifests} for the result. */
export async function loadRevision(source: Source, commit: string, opts: LoadRevisionOptions = {}): Promise<LoadResult> {
  const files = await source.files(commit, { signal: opts.signal });
  const referenced = await readReferencedFiles(source, files, {
    commit,
    parseKustomization: parseKustomizationYaml,
    memo: opts.cache?.referenceMemo(),
    signal: opts.signal,
  });
  return loadManifests(files, { validate: opts.validate, cache: opts.cache, referenced });
}
