/**
 * The `gantry` command. Each subcommand parses its options here and calls a function that does
 * the work; nothing here holds logic that belongs to another component.
 */
import { Command, Option } from 'commander';
import pc from 'picocolors';
import { errorMessage, GantryError, isGantryError } from '../errors.js';
import { runPlan, runValidate } from './commands/plan.js';
import { runGet, runHistory, runStatus } from './commands/inspect.js';
import { runDescribe } from './commands/describe.js';
import { runWait } from './commands/wait.js';
import { runBlame } from './commands/blame.js';
import { runRollback } from './commands/rollback.js';
import { runForeground } from './commands/run.js';
import { runSyncOnce } from './commands/sync-once.js';
import { runDown } from './commands/down.js';
import { runLogs } from './commands/logs.js';
import { runExec } from './commands/exec.js';
import { runTokenCreate, runTokenList, runTokenRevoke } from './commands/token.js';
import { runAgent } from './commands/agent.js';
import { runCordon, runDrain, runUncordon } from './commands/drain.js';
import { runSecretDecrypt, runSecretEncrypt, runSecretKeygen } from './commands/secret.js';
import { withDataDir, withSourceOptions, type SourceOptions } from './options.js';
import { withRemote, type RemoteOptions } from './remote.js';
import { runSuspend, runSyncNow } from './commands/control.js';

/** Prints a command's output and sets the exit code. */
function finish(res: { output: string; exitCode: number }): void {
  if (res.output) process.stdout.write(res.output.endsWith('\n') ? res.output : `${res.output}\n`);
  process.exitCode = res.exitCode;
}

/** A whole-number option (negative allowed when `negativeOk`, as kubectl's --grace-period=-1). */
function intOption(flag: string, v: string, negativeOk = false): number {
  const n = Number(v);
  if (!Number.isInteger(n) || (!negativeOk && n < 0)) throw new GantryError('InvalidArgument', `${flag}: "${v}" is not a whole number of seconds`, { field: flag });
  return n;
}

/** Seconds from `90`, `90s`, `2m`, `1h` or `1m30s`, as kubectl's duration flags take them. */
function durationOption(flag: string, v: string): number {
  if (/^\d+$/.test(v)) return Number(v);
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(v);
  if (!m || v === '') throw new GantryError('InvalidArgument', `${flag}: "${v}" is not a duration (90, 90s, 2m, 1h)`, { field: flag });
  return Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
}

/** Builds the program; exported for tests. */
export function buildProgram(): Command {
  const program = new Command('gantry')
    .description('A container orchestrator whose source of truth is a Git repository')
    .version('0.1.0')
    .showHelpAfterError();

  withSourceOptions(
    program.command('up').description('run everything in one process: sync, store, audit trail, API (and, as they land, controllers and the node agent)'),
    { repoDescription: 'desired-state repo, URL or local path (default: the bundled sample app)' },
  ).action(async (o: SourceOptions) => {
    await runForeground(o, {
      components: { sync: true, api: true, audit: true, controllers: true, scheduler: true, agent: true, ingress: true },
      title: 'gantry up',
    });
  });

  withSourceOptions(
    program.command('server').description('control plane only: sync, store, controllers, scheduler, audit trail, API'),
    { repoDescription: 'desired-state repo, URL or local path (default: the bundled sample app)' },
  ).action(async (o: SourceOptions) => {
    await runForeground(o, {
      components: { sync: true, api: true, audit: true, controllers: true, scheduler: true, ingress: true },
      title: 'gantry server',
    });
  });

  withDataDir(program.command('down').description('remove the containers, pod networks and private containerd gantry runs here (state and history stay)'))
    .addOption(new Option('--containerd-socket <path>', 'the containerd gantry used, if not its private one').env('GANTRY_CONTAINERD_SOCKET'))
    .addOption(new Option('--bridge <name>', 'the pods\' bridge gantry up used (default gantry0)').env('GANTRY_BRIDGE'))
    .action(async (o) => finish(await runDown(o)));

  withRemote(withDataDir(program.command('logs <pod>').description('print the logs of a container of a pod (on this machine, or through --server)')))
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .option('-c, --container <name>', 'container (default: the only one)')
    .option('-f, --follow', 'keep printing as the log grows')
    .option('-p, --previous', 'the previous (restarted) container\'s log')
    .option('--tail <lines>', 'only the last N lines')
    .action(async (pod: string, o) => finish(await runLogs(pod, o)));

  withRemote(withDataDir(program.command('exec <pod> [command...]').description('run a command in a pod\'s container: gantry exec web-1 -- ls / (through the API)')))
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .option('-c, --container <name>', 'container (default: the only one)')
    .option('-i, --stdin', 'pass stdin to the command')
    .option('-t, --tty', 'allocate a TTY')
    .action(async (pod: string, command: string[], o) => finish(await runExec(pod, command, o)));

  withRemote(withSourceOptions(
    program.command('sync').description('follow the repo and apply it to the store (no containers); --once for a single pass; --now for an immediate pass of the running gantry'),
    { repoDescription: 'desired-state repo, URL or local path' },
  ))
    .option('--once', 'one pass, then exit (0 applied, 1 rejected or failed)')
    .option('--now', 'ask the running gantry (this data dir\'s, or --kubeconfig / --server) for a pass now; exit 1 when held, rejected or failed')
    .option('--force', 'with --now: sync even outside the sync windows, where a window allows manual syncs (Argo CD\'s manualSync)')
    .action(async (o: SourceOptions & RemoteOptions & { once?: boolean; now?: boolean; force?: boolean }) => {
      if (o.force && !o.now) throw new GantryError('InvalidArgument', '--force goes with --now');
      if (o.now) return finish(await runSyncNow(o));
      if (!o.repo) throw new GantryError('InvalidArgument', 'gantry sync needs --repo (or GANTRY_REPO)');
      if (o.once) return finish(await runSyncOnce({ ...o, repo: o.repo }));
      await runForeground(o, { components: { sync: true, api: true, audit: true }, title: 'gantry sync' });
    });

  withDataDir(program.command('plan [ref]').description('show what REF (default: the working tree) would change; exit 0 no changes, 2 changes, 1 invalid'))
    .option('--repo <url-or-path>', 'the repo to plan', '.')
    .option('--path <dir>', 'subdirectory holding the manifests')
    .option('--against <ref>', 'compare with the merge base of REF (any Git revision: main, origin/main, HEAD~1, a short id) offline (default: the live store if there is one, else origin/main, else main, else HEAD)')
    .option('--live', 'compare with the live store in --data-dir')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'markdown', 'json']).default('text'))
    .option('--no-color', 'no colours in text output')
    .action(async (ref: string | undefined, o) => {
      finish(await runPlan(ref, { ...o, color: o.color !== false && Boolean(process.stdout.isTTY) }));
    });

  program.command('validate [path]').description('check the manifests under PATH (default .); exit 1 when any is invalid')
    .action(async (path: string | undefined) => finish(await runValidate(path ?? '.')));

  withRemote(withDataDir(program.command('status').description('the source, the revision in force, sync and health; exit 0 healthy and synced, 2 degraded or rejected, 3 progressing or out of sync, 1 error')))
    .option('-o, --output <format>', 'json')
    .action(async (o) => finish(await runStatus(o)));

  withRemote(withDataDir(program.command('wait [object]').description('wait until the app (or OBJECT, as kind/name) is healthy or synced; exit codes as gantry status')))
    .addOption(new Option('--for <condition>', 'healthy or synced').choices(['healthy', 'synced']).makeOptionMandatory())
    .option('--timeout <duration>', 'give up after this long: 90, 90s, 2m (default 5m)', (v) => durationOption('--timeout', v))
    .option('-n, --namespace <ns>', 'namespace of OBJECT', 'default')
    .action(async (object: string | undefined, o) => {
      finish(await runWait(object, { ...o, progress: (line: string) => process.stderr.write(`${pc.dim(line)}\n`) }));
    });

  withRemote(withDataDir(program.command('get <kind> [name]').description('list or show objects, like kubectl get')))
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .option('-A, --all-namespaces', 'all namespaces')
    .option('-l, --selector <selector>', 'label selector, e.g. app=web,tier!=db')
    .option('-o, --output <format>', 'yaml, json, wide or name')
    .option('-w, --watch', 'after the table, print a row per change until Ctrl-C')
    .option('--watch-only', 'print only the changes, until Ctrl-C')
    .action(async (kind: string, name: string | undefined, o) => {
      if (!o.watch && !o.watchOnly) return finish(await runGet(kind, name, o));
      // Ctrl-C ends the watch, and the command returns normally (exit 0), as kubectl get -w.
      const stop = new AbortController();
      const onSigint = (): void => stop.abort();
      process.once('SIGINT', onSigint);
      try {
        finish(await runGet(kind, name, { ...o, write: (t: string) => process.stdout.write(t), signal: stop.signal }));
      } finally {
        process.off('SIGINT', onSigint);
      }
    });

  withRemote(withDataDir(program.command('describe <kind> [name]').description('show objects in detail with their events, like kubectl describe')))
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .option('-A, --all-namespaces', 'all namespaces')
    .option('-l, --selector <selector>', 'label selector, e.g. app=web,tier!=db')
    .action(async (kind: string, name: string | undefined, o) => finish(await runDescribe(kind, name, o)));

  withRemote(withDataDir(program.command('history [object]').description('who changed what, and what the cluster did; OBJECT as kind/name')))
    .option('-n, --namespace <ns>', 'namespace of OBJECT', 'default')
    .option('--since <when>', 'duration (2h, 3d) or date')
    .option('--limit <n>', 'most entries to show', '50')
    .option('-o, --output <format>', 'json')
    .action(async (object: string | undefined, o) => finish(await runHistory(object, o)));

  withRemote(withDataDir(program.command('suspend').description('stop applying the repo (kept in the Sync object: survives restarts, seen by every server) until gantry resume')))
    .action(async (o) => finish(await runSuspend(true, o)));
  withRemote(withDataDir(program.command('resume').description('apply the repo again, at once')))
    .action(async (o) => finish(await runSuspend(false, o)));

  withRemote(withDataDir(program.command('rollback [rev]').description('revert REV (default: the revision in force) with a commit on the branch gantry follows; prints the git commands when gantry may not push')))
    .option('--repo <url-or-path>', 'the desired-state repo (default: the one gantry follows)')
    .option('--ref <branch>', 'the branch to commit the revert on (default: the one gantry follows)')
    .option('--print', 'print the git commands instead of running them')
    .action(async (rev: string | undefined, o) => finish(await runRollback(rev, o)));

  withRemote(withDataDir(program.command('blame <object>').description('who set each field of an object: the desired commit and its author, or the controller or node; OBJECT as kind/name')))
    .option('-n, --namespace <ns>', 'namespace of OBJECT', 'default')
    .option('-o, --output <format>', 'json')
    .action(async (object: string, o) => finish(await runBlame(object, o)));

  withRemote(withDataDir(program.command('agent').description('run a node on this machine for the gantry server at --server (with an agent token) or in --kubeconfig')))
    .option('--node-name <name>', 'this node\'s name (default: the hostname; an agent token names its node)')
    .addOption(new Option('--containerd-socket <path>', 'use this containerd instead of starting a private one').env('GANTRY_CONTAINERD_SOCKET'))
    .addOption(new Option('--pod-cidr <cidr>', 'the node\'s pod network (default: the one the control plane gives it out of its --cluster-cidr)').env('GANTRY_POD_CIDR'))
    .addOption(new Option('--service-cidr <cidr>', 'the cluster\'s service network (default 10.96.0.0/16)').env('GANTRY_SERVICE_CIDR'))
    .addOption(new Option('--cluster-cidr <cidr>', 'the cluster\'s pod network, as the server\'s --cluster-cidr (default 10.244.0.0/16): not masqueraded').env('GANTRY_CLUSTER_CIDR'))
    .addOption(new Option('--bridge <name>', 'the pods\' Linux bridge (default gantry0)').env('GANTRY_BRIDGE'))
    .addOption(new Option('--images-dir <dir>', 'air-gap images imported at start').env('GANTRY_IMAGES_DIR'))
    .addOption(new Option('--insecure-registries <hosts>', 'comma-separated registries pulled over plain HTTP').env('GANTRY_INSECURE_REGISTRIES'))
    .addOption(new Option('--kubelet-listen <host:port>', 'where this node serves logs, exec and port-forward to the control plane (only to it: TLS with its client certificate); default 0.0.0.0:10250').env('GANTRY_KUBELET_LISTEN'))
    .addOption(new Option('--node-status-update-frequency <seconds>', 'how often the node heartbeats (default 10, as the kubelet): keep it well under the server\'s --node-monitor-grace-period').env('GANTRY_NODE_STATUS_UPDATE_FREQUENCY'))
    .addOption(new Option('--metrics-listen <host:port>', 'where to serve GET /metrics, plain HTTP without a token (default 127.0.0.1:10255; off for none)').env('GANTRY_METRICS_LISTEN'))
    .addOption(new Option('--metric-resolution <duration>', 'how often the node reports its pods\' CPU and memory use to the server (default 15s)').env('GANTRY_METRIC_RESOLUTION'))
    .addOption(new Option('--log-level <level>', 'trace, debug, info, warn, error').env('GANTRY_LOG_LEVEL').default('info'))
    .action(async (o) => runAgent(o));

  withRemote(withDataDir(program.command('cordon <node>').description('mark a node unschedulable: no new pods go there (through the API, as kubectl cordon)')))
    .action(async (node: string, o) => finish(await runCordon(node, o)));
  withRemote(withDataDir(program.command('uncordon <node>').description('mark a node schedulable again')))
    .action(async (node: string, o) => finish(await runUncordon(node, o)));
  withRemote(withDataDir(program.command('drain <node>').description('cordon a node, then evict its pods within their PodDisruptionBudgets (as kubectl drain)')))
    .option('--ignore-daemonsets', 'leave DaemonSet pods on the node (without it, a node that runs any is refused)')
    .option('--force', 'evict pods that declare no controller too')
    .option('--delete-emptydir-data', 'evict pods with emptyDir volumes too (their data is lost)')
    .option('--grace-period <seconds>', 'seconds each pod gets to stop (default: its own terminationGracePeriodSeconds)', (v) => intOption('--grace-period', v, true))
    .option('--timeout <seconds>', 'give up after this long (default: wait as long as it takes); accepts 90, 90s, 2m', (v) => durationOption('--timeout', v))
    .action(async (node: string, o) => {
      // Ctrl-C ends the drain, saying which pods are left (the node stays cordoned).
      const stop = new AbortController();
      const onSigint = (): void => stop.abort();
      process.once('SIGINT', onSigint);
      try {
        finish(await runDrain(node, { ...o, signal: stop.signal }));
      } finally {
        process.off('SIGINT', onSigint);
      }
    });

  const token = program.command('token').description('bearer tokens of the API (<data-dir>/tokens.json)');
  withDataDir(token.command('create <name>').description('make a token and print its secret (shown once)'))
    .addOption(new Option('--role <role>', 'admin; read-only (reads all but Secrets; no exec, port-forward or sync); agent (a node: gantry agent --token)').choices(['admin', 'read-only', 'agent']).default('read-only'))
    .option('--node <name>', 'for --role agent: the node the token acts for')
    .option('--kubeconfig-out <file>', 'write a kubeconfig for the token instead of printing it')
    .action(async (name: string, o) => finish(await runTokenCreate(name, o)));
  withDataDir(token.command('list').description('the tokens: names, roles, dates (never secrets)'))
    .action(async (o) => finish(await runTokenList(o)));
  withDataDir(token.command('revoke <name>').description('revoke a token; a running server refuses it within a second'))
    .action(async (name: string, o) => finish(await runTokenRevoke(name, o)));

  const secret = program.command('secret').description('encrypted Secrets in the repo: age keys, and SOPS files gantry decrypts at sync');
  withDataDir(secret.command('keygen').description('make an age key in <data-dir>/age.key (the key gantry decrypts with) and print its public key'))
    .option('-o, --output <file>', 'write the key here instead')
    .action(async (o) => finish(await runSecretKeygen(o)));
  secret.command('encrypt [file]').description('encrypt a Secret manifest (FILE or stdin) to age recipients, as sops does; prints it unless -o or -i')
    .option('--age <recipients>', 'age public keys (age1…), comma-separated or the option repeated (default: SOPS_AGE_RECIPIENTS)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--encrypted-regex <re>', 'encrypt values under keys matching this (default ^(data|stringData)$)')
    .option('--unencrypted-regex <re>', 'encrypt all but values under keys matching this')
    .option('--encrypted-suffix <suffix>', 'encrypt values under keys ending with this')
    .option('--unencrypted-suffix <suffix>', 'encrypt all but values under keys ending with this (sops\'s default: _unencrypted)')
    .option('--mac-only-encrypted', 'the MAC covers only encrypted values')
    .option('--input-type <type>', 'yaml or json (default: by extension; yaml for stdin)')
    .option('-o, --output <file>', 'write the encrypted file here')
    .option('-i, --in-place', 'replace FILE with its encrypted form')
    .action(async (file: string | undefined, o) => finish(await runSecretEncrypt(file, o)));
  withDataDir(secret.command('decrypt [file]').description('decrypt a SOPS file (FILE or stdin) with the keys gantry uses, to check or edit it'))
    .option('--input-type <type>', 'yaml or json (default: by extension; yaml for stdin)')
    .option('-o, --output <file>', 'write the plain file here (mode 0600)')
    .action(async (file: string | undefined, o) => finish(await runSecretDecrypt(file, o)));

  return program;
}

/** Entry point: runs the program and turns errors into a message and exit code 1. */
export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    const code = isGantryError(err) ? ` [${err.code}]` : '';
    process.stderr.write(`${pc.red('error')}${code}: ${errorMessage(err)}\n`);
    process.exitCode = 1;
  }
}
