/**
 * One audit trail for several control-plane servers. Each server writes its own status repository,
 * but only while it leads, and the trail everyone reads is the status branch pushed to the history
 * remote. A server that becomes leader first brings its repository level with that branch, so the
 * trail continues from the last change anyone pushed: no gap (changes the old leader committed but
 * never pushed are recorded again from the store's watch) and no double (its own stale local
 * commits are set aside, not pushed over the remote).
 */
import fs from 'node:fs';
import git from 'isomorphic-git';
import http from 'isomorphic-git/http/node';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { PushAuth } from './recorder.js';

/** The remote's name in the local status repository. */
const HISTORY_REMOTE = 'history';

/** Options of {@link adoptPushedTrail}. */
export interface AdoptTrailOptions {
  /** The local (bare) status repository; created when missing. */
  gitdir: string;
  /** The local status branch, e.g. `status`. */
  branch: string;
  /** The history remote and its branch (default: the local branch name). */
  remote: { url: string; auth?: PushAuth; remoteBranch?: string };
  logger: Logger;
}

/** What {@link adoptPushedTrail} did. */
export type AdoptOutcome =
  /** The remote has no status branch yet: the local one (if any) starts it. */
  | 'no-remote-branch'
  /** Local and remote were the same commit. */
  | 'level'
  /** The remote was ahead (another leader pushed since): the local branch moved to it. */
  | 'fast-forward'
  /** The local branch was ahead: its unpushed commits are ours and get pushed. */
  | 'local-ahead'
  /** Both had commits the other lacks: the local ones were set aside under refs/gantry/superseded/. */
  | 'reset'
  /** The remote could not be read; the local branch is used as it is. */
  | 'unreachable';

/** Fetches the pushed status branch and moves the local one to continue it; see the module comment. */
export async function adoptPushedTrail(opts: AdoptTrailOptions): Promise<AdoptOutcome> {
  const { gitdir, branch, remote, logger } = opts;
  const remoteBranch = remote.remoteBranch ?? branch;
  const exists = fs.existsSync(`${gitdir}/HEAD`);
  if (!exists) await git.init({ fs, gitdir, bare: true, defaultBranch: branch });
  const auth = remote.auth;
  const tracking = `refs/remotes/${HISTORY_REMOTE}/${remoteBranch}`;
  try {
    // isomorphic-git fetches only through a configured remote (it needs its refspec).
    await git.addRemote({ fs, gitdir, remote: HISTORY_REMOTE, url: remote.url, force: true });
    await git.deleteRef({ fs, gitdir, ref: tracking }).catch(() => undefined);
    await git.fetch({
      fs, http, gitdir, remote: HISTORY_REMOTE, ref: remoteBranch, remoteRef: `refs/heads/${remoteBranch}`, singleBranch: true, tags: false,
      onAuth: auth ? () => ('token' in auth ? { username: 'gantry', password: auth.token } : auth) : undefined,
      onAuthFailure: () => ({ cancel: true }),
    });
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'NotFoundError' && /HEAD/.test(errorMessage(err))) {
      // isomorphic-git cannot fetch from a repository whose HEAD names a missing branch (one
      // made only for the trail, whose default branch was never pushed).
      logger.warn({ url: remote.url }, 'audit: the history remote\'s HEAD names a branch that does not exist, so its status branch cannot be fetched; make the status branch its default branch. Continuing the local one');
      return 'unreachable';
    }
    if (code === 'NotFoundError') return 'no-remote-branch';
    logger.warn({ url: remote.url, err: errorMessage(err) }, 'audit: cannot fetch the pushed status branch; continuing the local one');
    return 'unreachable';
  }
  const fetched = await git.resolveRef({ fs, gitdir, ref: tracking }).catch(() => undefined);
  if (!fetched) return 'no-remote-branch';
  const ref = `refs/heads/${branch}`;
  const local = await git.resolveRef({ fs, gitdir, ref }).catch(() => undefined);
  if (local === fetched) return 'level';
  if (local === undefined || (await git.isDescendent({ fs, gitdir, oid: fetched, ancestor: local, depth: -1 }))) {
    await git.writeRef({ fs, gitdir, ref, value: fetched, force: true });
    return 'fast-forward';
  }
  if (await git.isDescendent({ fs, gitdir, oid: local, ancestor: fetched, depth: -1 })) return 'local-ahead';
  const aside = `refs/gantry/superseded/${new Date().toISOString().replace(/[:.]/g, '-')}`;
  await git.writeRef({ fs, gitdir, ref: aside, value: local, force: true });
  await git.writeRef({ fs, gitdir, ref, value: fetched, force: true });
  logger.warn({ superseded: local, kept: aside, head: fetched }, 'audit: local status commits never pushed were recorded again by another leader; set aside');
  return 'reset';
}
