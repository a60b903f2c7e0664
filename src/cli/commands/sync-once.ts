/**
 * `gantry sync --once`: one sync pass into the data directory's store, then exit.
 */
import { startGantry } from '../../app.js';
import { createLogger } from '../../log.js';
import { formatIssue } from '../../sync/loop.js';
import { configFrom, type SourceOptions } from '../options.js';

/** Runs one pass; exit code 0 when applied or unchanged, 1 when rejected or failed. */
export async function runSyncOnce(o: SourceOptions & { repo: string }): Promise<{ output: string; exitCode: number }> {
  const logger = createLogger({ level: o.logLevel ?? 'warn' });
  const gantry = await startGantry({
    config: { ...configFrom(o, o.repo), intervalMs: 0 },
    logger,
    components: { sync: true, api: false, audit: true },
  });
  try {
    const outcome = await gantry.sync!.trigger('cli', { manual: true });
    const rev = outcome.revision?.commit.slice(0, 7) ?? '?';
    switch (outcome.outcome) {
      case 'applied':
      case 'unchanged': {
        const p = outcome.plan!;
        return {
          output: `revision ${rev} ${outcome.outcome}: ${p.create.length} created, ${p.update.length} updated, ${p.prune.length} pruned, ${p.unchanged.length} unchanged`,
          exitCode: 0,
        };
      }
      case 'rejected':
        return {
          output: `revision ${rev} rejected; nothing applied:\n${outcome.issues?.length ? outcome.issues.map((i) => `  ${formatIssue(i)}`).join('\n') : `  ${outcome.error}`}`,
          exitCode: 1,
        };
      case 'held':
        return { output: `nothing applied: ${outcome.message ?? 'the sync is held'}`, exitCode: 1 };
      default:
        return { output: `sync failed: ${outcome.error}`, exitCode: 1 };
    }
  } finally {
    await gantry.stop();
  }
}
