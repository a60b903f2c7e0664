/**
 * `gantry plan` and `gantry validate`: what a ref would change, and whether manifests are valid.
 * These are the pull-request review commands; they never write anything.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { makePlan } from '../../diff/plan.js';
import { annotateRolls } from '../../diff/rolls.js';
import { renderPlan } from '../../diff/render.js';
import { planIsEmpty, type Plan } from '../../diff/types.js';
import { GantryError } from '../../errors.js';
import type { KubeObject } from '../../model/types.js';
import { renderCapacity } from '../../scheduler/plan-capacity.js';
import { admissionRefusals, planAgainstLive, readLiveState, type LiveState } from '../../api/plan.js';
import { dataPaths, authFromEnv, defaultDataDir } from '../../config.js';
import { openSqliteStore } from '../../store/sqlite.js';
import { DirSource } from '../../sync/dir-source.js';
import { GitSource } from '../../sync/git-source.js';
import { loadRevision, resolveAndLoad } from '../../sync/load-revision.js';
import { SopsDecryptor } from '../../sync/sops/decryptor.js';
import { formatIssue } from '../../sync/loop.js';
import { isRemoteUrl } from '../../sync/open-source.js';
import type { DesiredSet, ManifestIssue, Source } from '../../sync/types.js';
import { validateObject } from '../../sync/validate.js';

/** Exit codes of `gantry plan`, as documented in the README. */
export const PlanExit = { NoChanges: 0, Invalid: 1, Changes: 2 } as const;

/** Options of `gantry plan`. */
export interface PlanOptions {
  repo: string;
  path?: string;
  against?: string;
  live?: boolean;
  format: 'text' | 'markdown' | 'json';
  dataDir: string;
  color?: boolean;
}

/** The outcome of loading one side of a plan. */
type Loaded = { ok: true; set: DesiredSet } | { ok: false; issues: ManifestIssue[]; label: string };

/**
 * Loads and validates the manifests of `ref` (or the working tree when ref is undefined).
 * SOPS-encrypted Secrets are decrypted with the age keys gantry would use (the data directory's,
 * or SOPS_AGE_KEY / SOPS_AGE_KEY_FILE in CI), so a plan shows the Secrets they hold, values hidden.
 */
async function loadSide(source: Source, ref: string | undefined, label: string, decryptor: SopsDecryptor): Promise<Loaded> {
  const loaded = await resolveAndLoad(source, ref, { decryptor });
  return loaded.ok ? { ok: true, set: loaded.set } : { ok: false, issues: loaded.issues, label };
}

/**
 * Runs a plan and returns the text to print and the exit code: 0 no changes, 2 changes,
 * 1 invalid manifests (on either side).
 */
export async function runPlan(ref: string | undefined, o: PlanOptions): Promise<{ output: string; exitCode: number }> {
  const scratch = await mkdtemp(join(tmpdir(), 'gantry-plan-'));
  try {
    const remote = isRemoteUrl(o.repo);
    const repoPath = remote ? o.repo : resolve(o.repo);
    const git = (): GitSource => new GitSource({ url: repoPath, cacheDir: join(scratch, 'source'), path: o.path, auth: authFromEnv() });
    // Without a ref, a local repo's working tree is planned: uncommitted edits included.
    const desiredSource: Source = ref === undefined && !remote ? new DirSource({ root: repoPath, path: o.path }) : git();
    const decryptor = new SopsDecryptor({ dataDir: o.dataDir });
    const desired = await loadSide(desiredSource, ref, ref ?? 'working tree', decryptor);
    if (!desired.ok) return invalid(desired);

    const storePath = dataPaths(o.dataDir).store;
    const useLive = o.live || (o.against === undefined && existsSync(storePath));
    let liveState: LiveState | undefined;
    let live: KubeObject[] = [];
    let sides: { desired: string; against: string } | undefined;
    if (useLive) {
      if (!existsSync(storePath)) {
        throw new GantryError('InvalidArgument', `--live: no gantry store at ${storePath}; start gantry first or pass --against REF`);
      }
      const store = openSqliteStore(storePath, { readonly: true });
      try {
        liveState = await readLiveState(store);
      } finally {
        await store.close();
      }
    } else {
      const source = git();
      const target = await againstTarget(source, o.against);
      // Like a pull request's diff: against the point the change branched from the target, so
      // that commits landed on the target since are not shown as reverted by the change.
      const desiredCommit = desired.set.revision?.commit !== 'working-tree'
        ? desired.set.revision?.commit
        : await source.resolve('HEAD').then((r) => r.commit, () => undefined);
      const tip = await source.resolve(target.ref);
      const base = desiredCommit ? await source.mergeBase(tip.commit, desiredCommit) : undefined;
      const againstCommit = base ?? tip.commit;
      const note = base === undefined
        ? desiredCommit ? ' (no common history: its tip)' : ''
        : ' (merge base)';
      const againstLabel = `${target.ref}@${againstCommit.slice(0, 7)}${note}${target.note}`;
      const against = await loadSide(source, againstCommit, againstLabel, decryptor);
      if (!against.ok) return invalid(against);
      // The other ref, as gantry would have stored it: planned against nothing, then taken as live.
      live = makePlan(against.set, [], {}).create.map((e) => e.desired!);
      sides = { desired: desiredLabel(ref, desired.set.revision?.commit), against: againstLabel };
    }
    // Against the live store: the same code as the API's plan route (capacity check included).
    const { plan, capacity, refused } = liveState ? planAgainstLive(desired.set, liveState) : planAgainstRevision(desired.set, live);
    const desiredSide = sides?.desired ?? desiredLabel(ref, desired.set.revision?.commit);
    const againstSide = sides?.against ?? 'the live state';
    // Problems only admission finds (a quota, a missing ServiceAccount) reject the revision as a
    // sync would: the plan says so instead of showing changes that would never be applied.
    if (refused.length > 0) return invalid({ label: `${desiredSide} against ${againstSide}`, issues: refused });
    const header = o.format === 'text' ? `Plan for ${desiredSide} against ${againstSide}\n\n` : '';
    let output = header + renderPlan(plan, { format: o.format, color: o.color, sides });
    // The capacity check needs nodes: it runs against the live cluster only.
    if (capacity) {
      if (o.format === 'json') {
        const doc = JSON.parse(output) as Record<string, unknown>;
        doc.capacity = capacity;
        output = JSON.stringify(doc, null, 2);
      } else {
        output = `${output.trimEnd()}\n\n${renderCapacity(capacity, o.format)}\n`;
      }
    }
    return { output, exitCode: planIsEmpty(plan) ? PlanExit.NoChanges : PlanExit.Changes };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }

  function invalid(side: { issues: ManifestIssue[]; label: string }): { output: string; exitCode: number } {
    return { output: renderIssues(side.label, side.issues, o.format), exitCode: PlanExit.Invalid };
  }
}

/**
 * The plan of `desired` against another revision's objects (no nodes, so no capacity check;
 * admission sees that revision's objects, not the pods and claims a cluster made of them).
 */
function planAgainstRevision(desired: DesiredSet, other: KubeObject[]): { plan: Plan; capacity?: undefined; refused: ManifestIssue[] } {
  const plan = makePlan(desired, other, { revision: desired.revision?.commit });
  annotateRolls(plan);
  return { plan, refused: admissionRefusals(plan, other) };
}

/** `HEAD@def5678`, `feature@abc1234`, or `working tree` for uncommitted files. */
function desiredLabel(ref: string | undefined, commit: string | undefined): string {
  if (ref === undefined || commit === undefined || commit === 'working-tree') return 'working tree';
  return `${ref}@${commit.slice(0, 7)}`;
}

/**
 * The ref to compare with: `--against`, else `origin/main`, else `main`, else HEAD, with a note
 * saying so when it was not the usual target (so a reader knows what "no changes" means).
 */
async function againstTarget(source: GitSource, against: string | undefined): Promise<{ ref: string; note: string }> {
  if (against !== undefined) return { ref: against, note: '' };
  for (const ref of DEFAULT_TARGETS) if (await source.has(ref)) return { ref, note: '' };
  return { ref: 'HEAD', note: `, as neither ${DEFAULT_TARGETS.join(' nor ')} exists` };
}

/** Targets a pull request is usually made against, in the order tried. */
const DEFAULT_TARGETS = ['origin/main', 'main'];

/**
 * Manifest problems in the plan's format: text lines, a JSON document, or a Markdown list
 * (file, object, problem) to post as a pull-request comment.
 */
export function renderIssues(label: string, issues: readonly ManifestIssue[], format: PlanOptions['format']): string {
  const count = `${issues.length} problem${issues.length === 1 ? '' : 's'}`;
  if (format === 'json') return JSON.stringify({ valid: false, ref: label, issues }, null, 2);
  if (format === 'markdown') {
    const md = (x: string): string => `\`${x.replace(/`/g, "'")}\``;
    const items = issues.map((i) => {
      const file = i.kustomization ? `${i.kustomization} → ${i.file}` : i.file;
      const where = md(i.line ? `${file}:${i.line}` : file);
      const field = i.field && !i.message.includes(i.field) ? ` (field ${md(i.field)})` : '';
      return `- ${where}${i.object ? ` ${md(i.object)}` : ''}${field}: ${i.message.replace(/([\\*_[\]<>|])/g, '\\$1')}`;
    });
    return [`### gantry plan: ${md(label)} is invalid`, '', `**${count}; nothing from this revision would be applied.**`, '', ...items, ''].join('\n');
  }
  const lines = issues.map((i) => `  ${formatIssue(i)}`);
  return `${label} is invalid (${count}):\n${lines.join('\n')}`;
}

/**
 * `gantry validate [PATH]`: 0 when every manifest is valid, 1 otherwise. Inside a Git work tree
 * the work tree is the repository: a kustomization under PATH may read a base beside it
 * (`../../base`), as a sync of that path would; outside one, PATH itself is the root.
 */
export async function runValidate(path: string): Promise<{ output: string; exitCode: number }> {
  const root = resolve(path);
  if (!existsSync(root)) throw new GantryError('InvalidArgument', `${path}: no such directory`);
  const source = DirSource.around(root);
  const rev = await source.resolve();
  const decryptor = new SopsDecryptor({ dataDir: defaultDataDir() });
  const { objects, issues } = await loadRevision(source, rev.commit, { validate: validateObject, decryptor });
  if (issues.length > 0) {
    return {
      output: `${issues.map(formatIssue).join('\n')}\n\n${issues.length} problem${issues.length === 1 ? '' : 's'} in ${path}`,
      exitCode: 1,
    };
  }
  const fileCount = new Set(objects.map((d) => d.source.file)).size;
  return { output: `${objects.length} object${objects.length === 1 ? '' : 's'} in ${fileCount} file${fileCount === 1 ? '' : 's'} valid`, exitCode: 0 };
}
