/**
 * `gantry rollback [REV]`: a revert commit on the branch gantry follows (src/sync/rollback.ts) —
 * of REV, or of the revision in force when REV is omitted — found from the Sync object of the
 * data directory's store, or of the server `--kubeconfig` / `--server` names.
 */
import { authFromEnv } from '../../config.js';
import { GantryError } from '../../errors.js';
import { SYNC_NAME, type SyncObject } from '../../sync/status.js';
import { rollback } from '../../sync/rollback.js';
import type { RemoteOptions } from '../remote.js';
import { withStore } from './inspect.js';

/** Options of `gantry rollback`. */
export interface RollbackOptions extends RemoteOptions {
  dataDir: string;
  repo?: string;
  ref?: string;
  print?: boolean;
}

/** Runs `gantry rollback`; exit 0 when the revert is committed or its commands printed. */
export async function runRollback(rev: string | undefined, o: RollbackOptions): Promise<{ output: string; exitCode: number }> {
  let sync: SyncObject | undefined;
  if (!o.repo || !rev) {
    sync = await withStore(o, (store) => store.get<SyncObject>({ kind: 'Sync', name: SYNC_NAME }));
  }
  const repo = o.repo ?? (sync?.spec.repo || undefined);
  if (!repo) throw new GantryError('InvalidArgument', 'gantry rollback: no repository known; pass --repo (and --ref), or run it where gantry keeps its state (--data-dir, --kubeconfig)');
  const revision = rev ?? sync?.status?.lastAppliedRevision;
  if (!revision) throw new GantryError('InvalidArgument', 'gantry rollback: nothing has been applied yet, so there is nothing to roll back; name the revision to revert');
  const ref = o.ref ?? sync?.spec.ref;
  const result = await rollback({ repo, ...(ref ? { branch: ref } : {}), revision, auth: authFromEnv(), print: o.print });
  if (!result.done) {
    return { output: `# gantry does not push here: ${result.why}. To roll back ${revision.slice(0, 12)}, run:\n${result.commands.join('\n')}`, exitCode: 0 };
  }
  return {
    output: `reverted ${result.reverted.slice(0, 7)} ("${result.subject}") with commit ${result.commit.slice(0, 7)} on ${result.branch}; gantry applies it like any commit`,
    exitCode: 0,
  };
}
