/**
 * One revision of a Source, loaded and validated: what `gantry plan` and the API's plan route
 * compare with the live state (or with another revision).
 */
import { loadManifests } from './loader.js';
import type { DesiredSet, ManifestIssue, Revision, Source } from './types.js';
import { validateObject } from './validate.js';

/** A revision's manifests: valid (a desired set), or the problems found in them. */
export type LoadedRevision =
  | { ok: true; set: DesiredSet; revision: Revision }
  | { ok: false; issues: ManifestIssue[]; revision: Revision };

/**
 * Resolves `ref` (the source's followed ref when undefined; for a directory source, its files
 * as they are), then loads and validates the manifests of that commit.
 * @throws GantryError RefNotFound when the ref does not resolve; SourceUnavailable when the
 *   source cannot be read.
 */
export async function loadRevision(source: Source, ref: string | undefined, opts: { signal?: AbortSignal } = {}): Promise<LoadedRevision> {
  const revision = await source.resolve(ref, opts);
  const files = await source.files(revision.commit, opts);
  const { objects, issues } = loadManifests(files, { validate: validateObject });
  if (issues.length > 0) return { ok: false, issues, revision };
  return { ok: true, set: { revision, objects }, revision };
}
