/**
 * Labels and annotations gantry itself sets. Objects applied from a repo carry the managed-by
 * mark and their source path; pruning only ever touches objects with the mark.
 */

/** Prefix of every annotation gantry owns; the diff normalizer drops these. */
export const GANTRY_PREFIX = 'gantry.dev/';

/** Marks an object as applied (and so prunable) by gantry's sync. Value: `gantry`. */
export const MANAGED_BY = 'gantry.dev/managed-by';
/** The repo path (and line) the object was declared in, e.g. `deploy/web.yaml:12`. */
export const SOURCE_PATH = 'gantry.dev/source-path';
/** Value of {@link MANAGED_BY}. */
export const MANAGED_BY_VALUE = 'gantry';

/** True when gantry's sync applied this object and may prune it. */
export function isManaged(meta: { annotations?: Record<string, string> }): boolean {
  return meta.annotations?.[MANAGED_BY] === MANAGED_BY_VALUE;
}
