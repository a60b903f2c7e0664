/**
 * `npm run bench`: runs each benchmark in turn and prints its figures. Benchmarks report;
 * they do not assert (machines are shared and noisy), and compare as ratios within one run.
 *
 * `npm run bench -- sync audit` runs only the named ones.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

type Bench = () => Promise<Record<string, number | string>>;

/** Name → module (relative to bench/) and exported function. */
const benches: [string, string, string][] = [
  ['sync', './sync.ts', 'benchSync'],
  ['local-commit', './local-commit.ts', 'benchLocalCommit'],
  ['audit', './audit.ts', 'benchAudit'],
  ['blame', './blame.ts', 'benchBlame'],
  ['scheduler', './scheduler.ts', 'benchScheduler'],
  ['node', './node.ts', 'benchNode'],
  ['e2e', './e2e.ts', 'benchE2e'],
  ['services', './services.ts', 'benchServices'],
  ['api', './api.ts', 'benchApi'],
  ['rbac', './rbac.ts', 'benchRbac'],
  ['podman', './podman.ts', 'benchPodman'],
  ['etcd', './etcd.ts', 'benchEtcd'],
  ['failover', './failover.ts', 'benchFailover'],
  ['etcd-resync', './sync.ts', 'benchSyncEtcd'],
  ['scheduler-store', './scheduler-store.ts', 'benchSchedulerStore'],
  ['cluster', './cluster.ts', 'benchCluster'],
  ['health', './health.ts', 'benchHealth'],
  ['storage', './storage.ts', 'benchStorage'],
  ['secrets', './secrets.ts', 'benchSecrets'],
  ['kubelet', './kubelet.ts', 'benchKubelet'],
  ['usage', './usage.ts', 'benchUsage'],
  ['metrics', './metrics.ts', 'benchMetrics'],
  ['admission', './admission.ts', 'benchAdmission'],
];

const here = dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
let failed = false;
for (const [name, file, fn] of benches) {
  if (only.length > 0 && !only.includes(name)) continue;
  if (!existsSync(join(here, file))) continue;
  process.stdout.write(`\n## ${name}\n`);
  const started = Date.now();
  try {
    const mod = (await import(file)) as Record<string, Bench>;
    const figures = await mod[fn]!();
    const width = Math.max(...Object.keys(figures).map((k) => k.length));
    for (const [k, v] of Object.entries(figures)) process.stdout.write(`  ${k.padEnd(width)}  ${v}\n`);
    process.stdout.write(`  (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
  } catch (err) {
    failed = true;
    process.stdout.write(`  FAILED: ${err instanceof Error ? err.stack : String(err)}\n`);
  }
}
process.exitCode = failed ? 1 : 0;
