/**
 * Git revision syntax over a repository reader: `HEAD~1`, `main^`, `v1.2^2~3`, `origin/main`,
 * short commit ids. isomorphic-git resolves full ref names and expands abbreviated ids, but
 * does not parse revision suffixes; this module does, so the product never needs the git binary.
 *
 * Supported (a subset of gitrevisions(7)): a base name followed by any number of `~N`, `~`,
 * `^N`, `^` and `^{commit}` suffixes. The base is tried, in git's order, as `HEAD`, a full ref
 * (`refs/...`), then `refs/<name>`, `refs/tags/<name>`, `refs/heads/<name>`,
 * `refs/remotes/<name>` and `refs/remotes/<name>/HEAD`, and finally as a commit id prefix.
 */
import { GantryError } from '../errors.js';

/** What the resolver needs from a repository: fakes in tests, isomorphic-git in the product. */
export interface RevisionReader {
  /** The object id a full ref name (`HEAD`, `refs/heads/main`) points to, or undefined. */
  ref(fullName: string): Promise<string | undefined>;
  /** The full object id a hex prefix (4+ digits) names; undefined if none; throws if ambiguous. */
  expand(prefix: string): Promise<string | undefined>;
  /** The commit id an object id peels to (annotated tags followed); throws if not a commit. */
  peel(oid: string): Promise<string>;
  /** The parent commit ids of a commit, first parent first. */
  parents(commit: string): Promise<string[]>;
}

/** One navigation step after the base name. */
export type RevisionStep = { op: '~'; n: number } | { op: '^'; n: number };

/** A parsed revision: the base name and the steps to walk from it. */
export interface ParsedRevision {
  base: string;
  steps: RevisionStep[];
}

const HEX = /^[0-9a-f]{4,40}$/i;
const SUFFIX = /(~\d*|\^\d*|\^\{commit\})$/;

/**
 * Splits `rev` into a base name and suffix steps. Throws InvalidArgument on an empty base or
 * on syntax outside the supported subset (`@{...}`, `:path`, `^{/text}`), naming the revision.
 */
export function parseRevision(rev: string): ParsedRevision {
  const steps: RevisionStep[] = [];
  let rest = rev.trim();
  for (let m = SUFFIX.exec(rest); m && rest.length > m[0].length; m = SUFFIX.exec(rest)) {
    const s = m[0];
    rest = rest.slice(0, -s.length);
    // `^{commit}` only asserts the object is a commit, which every step already ensures.
    if (s === '^{commit}') continue;
    const n = s.length > 1 ? Number(s.slice(1)) : 1;
    steps.unshift({ op: s[0] === '~' ? '~' : '^', n });
  }
  if (rest === '' || SUFFIX.test(rest) || /[:\s]|@\{|\^\{|\.\./.test(rest)) {
    throw new GantryError('InvalidArgument', `revision '${rev}': unsupported syntax (use a branch, tag, commit id, optionally followed by ~N or ^N)`);
  }
  return { base: rest, steps };
}

/** The full ref names a base name may stand for, in git's order of precedence. */
export function refCandidates(base: string): string[] {
  if (base === 'HEAD') return ['HEAD'];
  if (base.startsWith('refs/')) return [base];
  return [`refs/${base}`, `refs/tags/${base}`, `refs/heads/${base}`, `refs/remotes/${base}`, `refs/remotes/${base}/HEAD`];
}

/**
 * Resolves a revision to a full commit id. Throws RefNotFound naming the revision when the base
 * names nothing or a step walks past the root (e.g. `HEAD~5` on a 3-commit history).
 */
export async function resolveRevision(reader: RevisionReader, rev: string): Promise<string> {
  const { base, steps } = parseRevision(rev);
  let commit = await resolveBase(reader, base);
  if (commit === undefined) throw new GantryError('RefNotFound', `revision '${rev}': '${base}' is not a branch, tag or commit id`);
  return walkRevision(reader, commit, steps, rev);
}

/** Walks `steps` (parsed from `rev`, for messages) from `commit`. */
export async function walkRevision(reader: Pick<RevisionReader, 'parents'>, commit: string, steps: readonly RevisionStep[], rev: string): Promise<string> {
  for (const step of steps) {
    if (step.op === '~') {
      for (let i = 0; i < step.n; i++) commit = await nthParent(reader, commit, 1, rev);
    } else if (step.n > 0) {
      commit = await nthParent(reader, commit, step.n, rev);
    }
  }
  return commit;
}

async function resolveBase(reader: RevisionReader, base: string): Promise<string | undefined> {
  for (const full of refCandidates(base)) {
    const oid = await reader.ref(full);
    if (oid !== undefined) return reader.peel(oid);
  }
  if (HEX.test(base)) {
    const oid = await reader.expand(base.toLowerCase());
    if (oid !== undefined) return reader.peel(oid);
  }
  return undefined;
}

async function nthParent(reader: Pick<RevisionReader, 'parents'>, commit: string, n: number, rev: string): Promise<string> {
  const parents = await reader.parents(commit);
  const p = parents[n - 1];
  if (p === undefined) {
    throw new GantryError('RefNotFound', `revision '${rev}': commit ${commit.slice(0, 7)} has ${parents.length === 0 ? 'no parent' : `only ${parents.length} parent${parents.length === 1 ? '' : 's'}`}`);
  }
  return p;
}

/** True when `rev` uses syntax beyond a plain name (a `~` or `^` suffix). */
export function hasRevisionSuffix(rev: string): boolean {
  return SUFFIX.test(rev.trim());
}
