/**
 * The bundled sample app: `gantry up` without `--repo` deploys it. It is copied into the data
 * directory as a Git repository of its own, so a user can edit, commit and watch gantry follow.
 */
import { cpSync, existsSync, mkdirSync } from 'node:fs';
import * as fs from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import git from 'isomorphic-git';

/** The `sample-repo/` folder shipped with gantry. */
export function bundledSampleDir(): string {
  // src/sync/sample.ts and dist/src/sync/sample.js both sit two or three levels below the root.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    if (existsSync(join(dir, 'sample-repo'))) return join(dir, 'sample-repo');
    dir = dirname(dir);
  }
  throw new Error('the bundled sample-repo folder is missing from this gantry installation');
}

/**
 * Makes `target` a Git repository holding the sample app (branch `main`), unless it already is
 * one: a user's commits there are never overwritten.
 */
export async function materializeSampleRepo(target: string, opts: { from?: string } = {}): Promise<{ created: boolean }> {
  if (existsSync(join(target, '.git'))) return { created: false };
  mkdirSync(target, { recursive: true });
  cpSync(opts.from ?? bundledSampleDir(), target, { recursive: true });
  await git.init({ fs, dir: target, defaultBranch: 'main' });
  const status = await git.statusMatrix({ fs, dir: target });
  for (const [filepath] of status) await git.add({ fs, dir: target, filepath });
  await git.commit({
    fs,
    dir: target,
    message: 'Sample app: web Deployment and Service, a Job and a CronJob',
    author: { name: 'gantry', email: 'gantry@localhost' },
  });
  return { created: true };
}
