/**
 * `gantry up` and `gantry sync`: run gantry in the foreground until Ctrl-C.
 */
import pc from 'picocolors';
import { startGantry, type Components } from '../../app.js';
import { dataPaths } from '../../config.js';
import { createLogger } from '../../log.js';
import { materializeSampleRepo } from '../../sync/sample.js';
import { configFrom, type SourceOptions } from '../options.js';

/** Options of `gantry up`. */
export type UpOptions = SourceOptions;

/** Prints a progress line to stderr (stdout stays for data). */
function step(text: string): void {
  process.stderr.write(`${pc.green('✓')} ${text}\n`);
}

/**
 * Runs the given parts until SIGINT/SIGTERM. Without `--repo`, deploys the bundled sample app
 * from a Git repository made for it in the data directory.
 */
export async function runForeground(o: SourceOptions, opts: { components: Components; title: string }): Promise<void> {
  const logger = createLogger({ level: o.logLevel });
  let repo = o.repo;
  if (!repo) {
    repo = dataPaths(o.dataDir).sampleRepo;
    const { created } = await materializeSampleRepo(repo);
    step(`${created ? 'created' : 'using'} the sample app repository ${repo} (commit there to deploy changes)`);
  }
  const config = configFrom(o, repo);
  process.stderr.write(`${pc.bold(opts.title)} — repo ${repo}${config.ref ? ` @ ${config.ref}` : ''}, data in ${config.dataDir}\n`);
  const gantry = await startGantry({ config, logger, components: opts.components, onProgress: step });
  if (gantry.sync) {
    const outcome = await gantry.sync.trigger('start');
    const rev = outcome.revision?.commit.slice(0, 7) ?? '?';
    if (outcome.outcome === 'applied' || outcome.outcome === 'unchanged') {
      const p = outcome.plan!;
      step(`synced revision ${rev}: ${p.create.length} created, ${p.update.length} updated, ${p.prune.length} pruned, ${p.unchanged.length} unchanged`);
    } else {
      process.stderr.write(`${pc.red('✗')} revision ${rev} ${outcome.outcome}: ${outcome.error ?? `${outcome.issues?.length ?? 0} problem(s); see gantry status`}\n`);
    }
  }
  gantry.startPolling();
  process.stderr.write(`${pc.dim('watching for changes; gantry status shows the state; Ctrl-C stops gantry')}\n`);

  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  process.stderr.write('stopping…\n');
  await gantry.stop();
  step('stopped');
}
