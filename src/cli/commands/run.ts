/**
 * `gantry up`, `gantry server` and `gantry sync`: run gantry in the foreground until Ctrl-C.
 *
 * Progress uses ora on a terminal (a spinner that turns into ✔/✖ lines). Off a terminal (a
 * service, CI) only the outcome lines are written, and ora is not even loaded: a long-running
 * gantry should not carry a terminal UI in memory.
 */
import { join } from 'node:path';
import pc from 'picocolors';
import { startGantry, type Components } from '../../app.js';
import { dataPaths } from '../../config.js';
import { createLogger } from '../../log.js';
import { materializeSampleRepo } from '../../sync/sample.js';
import { configFrom, type SourceOptions } from '../options.js';
import { clusterSummary } from '../summary.js';
import { untilStopSignal } from '../signals.js';

/** Progress output: what run.ts needs of ora. */
interface Progress {
  start(text: string): void;
  update(text: string): void;
  succeed(text: string): void;
  warn(text: string): void;
  fail(text: string): void;
  stop(): void;
}

/** ora's spinner on a terminal; plain ✔/⚠/✖ lines otherwise. */
async function progressReporter(): Promise<Progress> {
  if (process.stderr.isTTY) {
    const { default: ora } = await import('ora');
    const s = ora({ stream: process.stderr });
    return {
      start: (t) => void s.start(t),
      update: (t) => void (s.text = t),
      succeed: (t) => void s.succeed(t),
      warn: (t) => void s.warn(t),
      fail: (t) => void s.fail(t),
      stop: () => void s.stop(),
    };
  }
  const line = (mark: string) => (t: string): void => void process.stderr.write(`${mark} ${t}\n`);
  return { start: () => undefined, update: () => undefined, succeed: line('✔'), warn: line('⚠'), fail: line('✖'), stop: () => undefined };
}

/** How long start-up waits for workloads to become ready before printing the summary anyway. */
const SETTLE_TIMEOUT_MS = 120_000;

/**
 * Runs the given parts until SIGINT/SIGTERM. Without `--repo`, deploys the bundled sample app
 * from a Git repository made for it in the data directory. Ctrl-C stops gantry; pods keep
 * running and the next start adopts them.
 */
export async function runForeground(o: SourceOptions, opts: { components: Components; title: string }): Promise<void> {
  const logFile = join(o.dataDir, 'gantry.log');
  const logger = createLogger({ level: o.logLevel, file: logFile });
  const spinner = await progressReporter();
  const spin = (text: string): void => spinner.start(text);
  const step = (text: string): void => spinner.succeed(text);
  let repo = o.repo;
  if (!repo) {
    repo = dataPaths(o.dataDir).sampleRepo;
    const { created } = await materializeSampleRepo(repo);
    step(`${created ? 'created' : 'using'} the sample app repository ${repo} (commit there to deploy changes)`);
  }
  const config = configFrom(o, repo);
  process.stderr.write(`${pc.bold(opts.title)} — repo ${repo}${config.ref ? ` @ ${config.ref}` : ''}, data in ${config.dataDir}, log in ${logFile}\n`);
  if (!opts.components.agent) {
    process.stderr.write(pc.dim('this process runs no node agent: pods are scheduled and stored, containers run on agents\n'));
  }
  spin('starting');
  const gantry = await startGantry({
    config,
    logger,
    components: opts.components,
    onProgress: (text) => {
      step(text);
      spin('starting');
    },
  });
  if (gantry.sync) {
    spin('syncing');
    const outcome = await gantry.sync.trigger('start');
    const rev = outcome.revision?.commit.slice(0, 7) ?? '?';
    if (outcome.outcome === 'applied' || outcome.outcome === 'unchanged') {
      const p = outcome.plan!;
      step(`synced revision ${rev}: ${p.create.length} created, ${p.update.length} updated, ${p.prune.length} pruned, ${p.unchanged.length} unchanged`);
    } else if (outcome.outcome === 'held') {
      spinner.warn(`nothing applied: ${outcome.message ?? 'the sync is held'}`);
    } else {
      spinner.fail(`revision ${rev} ${outcome.outcome}: ${outcome.error ?? `${outcome.issues?.length ?? 0} problem(s); see gantry status`}`);
    }
  }
  if (opts.components.agent) {
    // Wait for the workloads to come up, so that the summary shows a running app.
    const deadline = Date.now() + SETTLE_TIMEOUT_MS;
    spin('starting pods');
    for (;;) {
      const summary = await clusterSummary(gantry.store);
      spinner.update(`starting pods — ${summary.lines.at(-1)?.replace(/^Pods:\s+/, '') ?? ''}`);
      if (summary.settled || Date.now() > deadline) {
        if (summary.settled) step('workloads ready');
        else spinner.warn(`the app is ${summary.app.health.status}${summary.app.health.message ? `: ${summary.app.health.message}` : ''} (gantry status shows more)`);
        process.stderr.write(`${summary.lines.map((l) => `  ${l}`).join('\n')}\n`);
        break;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  spinner.stop();
  gantry.startPolling();
  process.stderr.write(`${pc.dim('watching for changes; gantry status shows the state; Ctrl-C stops gantry (pods keep running)')}\n`);

  await untilStopSignal();
  process.stderr.write('stopping…\n');
  await gantry.stop();
  process.stderr.write(`${pc.green('✔')} stopped${opts.components.agent ? '; pods keep running, `gantry down` removes them' : ''}\n`);
}
