/**
 * Watching a local repository's refs, so a commit is picked up at once instead of at the next
 * poll. Git updates a ref by writing `<ref>.lock` and renaming it over the ref (or rewriting
 * `packed-refs`, or `HEAD` on a checkout), so a change shows as a file event under `refs/`, on
 * `packed-refs` or on `HEAD`. Events are debounced: one commit touches several files.
 *
 * Watching is an accelerator, never the only trigger: when the platform cannot watch (no
 * inotify watches left, a network file system), the caller's poll still picks commits up.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';

/** Options for {@link watchRefs}. */
export interface RefWatchOptions {
  /** The repository's Git directory (`.git`, a bare repository, or a linked work tree's gitdir). */
  gitdir: string;
  /** Called (debounced) after refs changed. */
  onChange: () => void;
  /** Stops watching when aborted. */
  signal: AbortSignal;
  /** Quiet time after the last event before `onChange`. Default 50 ms. */
  debounceMs?: number;
  logger?: Logger;
}

/** Files directly in a Git directory whose change means a ref moved. */
const TOP_LEVEL = new Set(['HEAD', 'packed-refs']);

/**
 * Starts watching; resolves true when at least the refs directory is watched, false when the
 * platform refused (the reason is logged) and only polling remains.
 */
export async function watchRefs(o: RefWatchOptions): Promise<boolean> {
  if (o.signal.aborted) return false;
  // A linked work tree keeps HEAD in its own gitdir and the refs in the main repository's.
  const common = await readFile(path.join(o.gitdir, 'commondir'), 'utf8').then((t) => path.resolve(o.gitdir, t.trim()), () => o.gitdir);
  const debounceMs = o.debounceMs ?? 50;
  let timer: NodeJS.Timeout | undefined;
  const fire = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (!o.signal.aborted) o.onChange();
    }, debounceMs);
  };
  // One plain (non-recursive) watcher per directory: Node's recursive mode on Linux watches
  // files by inode and loses a ref once git renames a new version over it.
  const watchers = new Map<string, FSWatcher>();
  const add = (dir: string, relevant: (name: string) => boolean, onEvent?: () => void): void => {
    if (watchers.has(dir)) return;
    const w = watch(dir, { persistent: false }, (_event, name) => {
      onEvent?.();
      // No name: the platform could not say which file; treat it as a change.
      if (name === null || relevant(name.toString())) fire();
    });
    w.on('error', (err) => o.logger?.warn({ dir, err: errorMessage(err) }, 'watching the repository failed; polling only'));
    watchers.set(dir, w);
  };
  // Under refs/ every file is a ref: a branch `team/x` lives in a subdirectory, so directories
  // are watched as they appear. A ref is final once its lock file is renamed over it, which
  // reports the lock's name: lock names count too (the debounce waits for the rename).
  const addTree = async (dir: string): Promise<void> => {
    if (o.signal.aborted) return;
    add(dir, () => true, () => void addTree(dir).catch(() => undefined));
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) if (e.isDirectory()) await addTree(path.join(dir, e.name));
  };
  try {
    await addTree(path.join(common, 'refs'));
    for (const dir of new Set([o.gitdir, common])) add(dir, (name) => TOP_LEVEL.has(name) || TOP_LEVEL.has(name.replace(/\.lock$/, '')));
  } catch (err) {
    for (const w of watchers.values()) w.close();
    o.logger?.warn({ gitdir: o.gitdir, err: errorMessage(err) }, 'cannot watch the repository; commits are picked up at the next poll');
    return false;
  }
  o.signal.addEventListener('abort', () => {
    clearTimeout(timer);
    for (const w of watchers.values()) w.close();
  }, { once: true });
  return true;
}
