/**
 * Rollback the GitOps way: a revert commit on the branch gantry follows, made with the `git`
 * command (isomorphic-git has no revert or three-way merge of trees), never a change of the live
 * state behind the repository's back. The sync loop then applies the revert like any commit (at
 * once for a local repository, whose refs it watches).
 *
 * - A local repository: reverted in place when the branch is checked out there with a clean work
 *   tree, else in a temporary worktree whose commit then moves the branch (compare-and-swap, so a
 *   commit landing meanwhile is never overwritten).
 * - An http(s) remote with credentials: cloned into a temporary directory, reverted, pushed.
 * - An http(s) remote without credentials, or when asked to print: the exact git commands.
 *
 * A revert that conflicts with later commits is refused and nothing is left behind.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { GitAuth } from '../config.js';
import { GantryError } from '../errors.js';
import { isRemoteUrl } from './open-source.js';
import { authHeaders } from './git-source.js';

/** What to revert, where. */
export interface RollbackRequest {
  /** The desired-state repo: a local path, or an http(s) URL. */
  repo: string;
  /** The branch gantry follows (default: the repository's current branch, `main` for a remote). */
  branch?: string;
  /** The revision to revert (any Git revision syntax). */
  revision: string;
  /** Credentials for an http(s) repo; without them the commands are printed. */
  auth?: GitAuth;
  /** Print the git commands instead of running them. */
  print?: boolean;
}

/** What {@link rollback} did. */
export type RollbackResult =
  | { done: true; reverted: string; subject: string; commit: string; branch: string }
  | { done: false; commands: string[]; why: string };

interface GitRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs git; resolves with its exit code and output (never rejects on a non-zero exit). */
function runGit(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<GitRun> {
  return new Promise((resolve, reject) => {
    execFile('git', args, { cwd: opts.cwd, env: { ...process.env, GIT_TERMINAL_PROMPT: '0', ...opts.env }, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') {
        reject(new GantryError('InvalidArgument', 'gantry rollback needs the git command: install git (apt-get install git)'));
        return;
      }
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout: stdout.trim(), stderr: stderr.trim() });
    });
  });
}

/** Runs git and returns stdout; a failure becomes a GantryError saying what was being done. */
async function git(args: string[], doing: string, opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  const r = await runGit(args, opts);
  if (r.code !== 0) {
    const identity = /Author identity unknown|Please tell me who you are|empty ident/i.test(r.stderr);
    const why = identity ? 'git does not know who you are: set git config --global user.name and user.email (the revert commit is yours)' : r.stderr || r.stdout;
    throw new GantryError('InvalidArgument', `cannot roll back: ${doing}: ${why}`);
  }
  return r.stdout;
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The exact commands that make the revert by hand. */
export function rollbackCommands(req: { repo: string; branch: string; revision: string }, opts: { merge?: boolean } = {}): string[] {
  const revert = `git revert --no-edit${opts.merge ? ' -m 1' : ''} ${shellQuote(req.revision)}`;
  if (isRemoteUrl(req.repo)) {
    return [`git clone --branch ${shellQuote(req.branch)} ${shellQuote(req.repo)} gantry-rollback && cd gantry-rollback`, revert, `git push origin ${shellQuote(req.branch)}`];
  }
  return [`cd ${shellQuote(path.resolve(req.repo))}`, `git checkout ${shellQuote(req.branch)}`, revert];
}

/** Makes the revert commit (or says how); see the module comment. */
export async function rollback(request: RollbackRequest): Promise<RollbackResult> {
  const req = { ...request, branch: request.branch ?? (await defaultBranch(request.repo)) };
  if (isRemoteUrl(req.repo)) {
    if (req.print) return { done: false, commands: rollbackCommands(req), why: 'as asked (--print)' };
    if (!req.auth) return { done: false, commands: rollbackCommands(req), why: `gantry has no credentials to push to ${req.repo} (GANTRY_GIT_TOKEN, or GANTRY_GIT_USERNAME and GANTRY_GIT_PASSWORD)` };
    return rollbackRemote(req, req.auth);
  }
  const repo = path.resolve(req.repo);
  if ((await runGit(['rev-parse', '--git-dir'], { cwd: repo })).code !== 0) throw new GantryError('NotFound', `cannot roll back: ${repo} is not a Git repository`);
  const target = await checkTarget(repo, req);
  if (req.print) return { done: false, commands: rollbackCommands({ ...req, revision: target.commit }, { merge: target.merge }), why: 'as asked (--print)' };
  return rollbackLocal(repo, req.branch, target);
}

/** The branch a repository's HEAD names (what gantry follows without --ref); `main` for a remote. */
async function defaultBranch(repo: string): Promise<string> {
  if (isRemoteUrl(repo)) return 'main';
  const head = (await runGit(['symbolic-ref', '--quiet', '--short', 'HEAD'], { cwd: path.resolve(repo) })).stdout;
  return head || 'main';
}

/** The revision to revert, checked: a commit on the branch (not after its head). */
async function checkTarget(cwd: string, req: RollbackRequest & { branch: string }): Promise<{ commit: string; subject: string; merge: boolean }> {
  const branchRef = `refs/heads/${req.branch}`;
  if ((await runGit(['show-ref', '--verify', '--quiet', branchRef], { cwd })).code !== 0) {
    throw new GantryError('InvalidArgument', `cannot roll back: gantry follows "${req.branch}", which is not a branch of ${req.repo}; a revert is committed on a branch (pin another revision with --ref instead)`);
  }
  const commit = (await runGit(['rev-parse', '--verify', '--quiet', `${req.revision}^{commit}`], { cwd })).stdout;
  if (!commit) throw new GantryError('RefNotFound', `cannot roll back: "${req.revision}" is not a commit of ${req.repo}`);
  if ((await runGit(['merge-base', '--is-ancestor', commit, branchRef], { cwd })).code !== 0) {
    throw new GantryError('InvalidArgument', `cannot roll back ${commit.slice(0, 7)}: it is not on branch ${req.branch}, so it was never deployed from it`);
  }
  const parents = (await git(['rev-list', '--parents', '-n', '1', commit], 'reading the commit', { cwd })).split(' ').length - 1;
  if (parents === 0) throw new GantryError('InvalidArgument', `cannot roll back ${commit.slice(0, 7)}: it is the branch's first commit, and reverting it would remove everything`);
  const subject = await git(['log', '-1', '--format=%s', commit], 'reading the commit', { cwd });
  return { commit, subject, merge: parents > 1 };
}

/** Reverts in `cwd`; on a conflict aborts and throws `Conflict` naming the files. */
async function revertIn(cwd: string, target: { commit: string; merge: boolean }): Promise<string> {
  const args = ['revert', '--no-edit', ...(target.merge ? ['-m', '1'] : []), target.commit];
  const r = await runGit(args, { cwd });
  if (r.code === 0) return git(['rev-parse', 'HEAD'], 'reading the revert commit', { cwd });
  const conflicted = (await runGit(['diff', '--name-only', '--diff-filter=U'], { cwd })).stdout.split('\n').filter(Boolean);
  await runGit(['revert', '--abort'], { cwd });
  if (conflicted.length > 0) {
    throw new GantryError('Conflict', `cannot roll back ${target.commit.slice(0, 7)}: reverting it conflicts with later commits in ${conflicted.join(', ')}; nothing was changed. Revert by hand and resolve, or roll back the later commits first`);
  }
  await git(args, 'git revert', { cwd });
  return git(['rev-parse', 'HEAD'], 'reading the revert commit', { cwd });
}

async function rollbackLocal(repo: string, branch: string, target: { commit: string; subject: string; merge: boolean }): Promise<RollbackResult> {
  const bare = (await git(['rev-parse', '--is-bare-repository'], 'inspecting the repository', { cwd: repo })) === 'true';
  const checkedOut = bare ? '' : (await runGit(['symbolic-ref', '--quiet', 'HEAD'], { cwd: repo })).stdout;
  if (checkedOut === `refs/heads/${branch}`) {
    const dirty = await git(['status', '--porcelain', '--untracked-files=no'], 'inspecting the work tree', { cwd: repo });
    if (dirty) throw new GantryError('Conflict', `cannot roll back in ${repo}: ${branch} is checked out there with uncommitted changes; commit or stash them first`);
    const commit = await revertIn(repo, target);
    return { done: true, reverted: target.commit, subject: target.subject, commit, branch };
  }
  // The branch is not checked out here: revert in a worktree of its own, then move the branch
  // only if nobody moved it meanwhile.
  const old = await git(['rev-parse', `refs/heads/${branch}`], 'reading the branch', { cwd: repo });
  const dir = await mkdtemp(path.join(tmpdir(), 'gantry-rollback-'));
  const work = path.join(dir, 'work');
  try {
    await git(['worktree', 'add', '--quiet', '--detach', work, old], 'making a temporary worktree', { cwd: repo });
    const commit = await revertIn(work, target);
    await git(['update-ref', '-m', `gantry rollback of ${target.commit.slice(0, 7)}`, `refs/heads/${branch}`, commit, old], `moving ${branch} (did it move meanwhile? try again)`, { cwd: repo });
    return { done: true, reverted: target.commit, subject: target.subject, commit, branch };
  } finally {
    await runGit(['worktree', 'remove', '--force', work], { cwd: repo });
    await runGit(['worktree', 'prune'], { cwd: repo });
    await rm(dir, { recursive: true, force: true });
  }
}

async function rollbackRemote(req: RollbackRequest & { branch: string }, auth: GitAuth): Promise<RollbackResult> {
  // The credentials go in the environment (git's config from GIT_CONFIG_*), never on a command line.
  const env = {
    GIT_CONFIG_COUNT: '1',
    GIT_CONFIG_KEY_0: 'http.extraHeader',
    GIT_CONFIG_VALUE_0: `Authorization: ${authHeaders(auth).Authorization}`,
  };
  const dir = await mkdtemp(path.join(tmpdir(), 'gantry-rollback-'));
  try {
    await git(['clone', '--quiet', '--branch', req.branch, '--single-branch', req.repo, dir], `cloning ${req.repo}`, { env });
    const target = await checkTarget(dir, req);
    const commit = await revertIn(dir, target);
    await git(['push', '--quiet', 'origin', `HEAD:refs/heads/${req.branch}`], `pushing to ${req.repo} (${req.branch})`, { cwd: dir, env });
    return { done: true, reverted: target.commit, subject: target.subject, commit, branch: req.branch };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
