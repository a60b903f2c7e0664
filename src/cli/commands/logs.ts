/**
 * `gantry logs POD [-c CONTAINER] [-f] [--previous] [--tail N]`: a pod container's log, as kubectl
 * shows it. The pod is resolved in the store (read-only, so it works beside a running gantry);
 * the lines come from the node's log files. A pod whose log is not on this machine (on a `gantry
 * server`, every pod; beside `gantry up`, a remote agent's) is read through the local gantry's
 * API, which reaches the pod's node as it does for kubectl.
 *
 * Data-dir layout this relies on: the local node keeps its state in `<data-dir>/node` (see
 * src/node/host.ts), its `FileContainerLogs` included, so logs live in
 * `<data-dir>/node/logs/<pod-uid>/<container>/<restart>.log`.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { dataPaths } from '../../config.js';
import { GantryError, isGantryError } from '../../errors.js';
import type { Pod } from '../../model/types.js';
import { containerLogDir } from '../../node/logs/files.js';
import { readLogs } from '../../node/logs/read.js';
import { openSqliteStore } from '../../store/sqlite.js';
import { ApiClient } from '../../api/client.js';
import { remoteClient, remoteEndpoint, type RemoteOptions } from '../remote.js';

/** Options of {@link runLogs}. */
export interface LogsOptions extends RemoteOptions {
  dataDir: string;
  namespace?: string;
  container?: string;
  /** Stream new lines to stdout until Ctrl-C (or the container restarts). */
  follow?: boolean;
  /** The previous (terminated) run of the container. */
  previous?: boolean;
  /** Last N lines (`-1`: all), as kubectl's `--tail`. */
  tail?: string;
  /** Where followed lines go; default process.stdout. */
  out?: NodeJS.WritableStream;
  /** Ends following (tests); default: Ctrl-C. */
  signal?: AbortSignal;
}

/** The node data dir of the local node in a gantry data dir (as src/node/host.ts lays it out). */
export function nodeDataDir(dataDir: string): string {
  return path.join(dataDir, 'node');
}

/** Which container to show: the named one, or the pod's only one (kubectl's rule and wording). */
export function pickContainer(pod: Pod, container: string | undefined): string {
  const ns = pod.metadata.namespace ?? 'default';
  const apps = pod.spec.containers.map((c) => c.name);
  const inits = (pod.spec.initContainers ?? []).map((c) => c.name);
  if (container) {
    if (!apps.includes(container) && !inits.includes(container)) {
      throw new GantryError('NotFound', `container ${container} is not valid for pod ${pod.metadata.name}`, { object: `Pod/${ns}/${pod.metadata.name}` });
    }
    return container;
  }
  if (apps.length === 1) return apps[0]!;
  const initPart = inits.length > 0 ? ` or one of the init containers: [${inits.join(' ')}]` : '';
  throw new GantryError('InvalidArgument', `a container name must be specified for pod ${pod.metadata.name}, choose one of: [${apps.join(' ')}]${initPart}`, {
    object: `Pod/${ns}/${pod.metadata.name}`,
  });
}

/** Parses `--tail`: a whole number of lines, `-1` (or nothing) for all. */
function parseTail(tail: string | undefined): number | undefined {
  if (tail === undefined || tail === '' || tail === '-1') return undefined;
  if (!/^\d+$/.test(tail)) throw new GantryError('InvalidArgument', `--tail must be a number of lines (or -1 for all), got "${tail}"`);
  return Number(tail);
}

/**
 * Prints a pod container's log. Without `follow` the lines are returned as `output`; with it
 * they are written to stdout as they arrive and `output` is empty.
 */
export async function runLogs(pod: string, opts: LogsOptions): Promise<{ output: string; exitCode: number }> {
  const client = await remoteClient(opts);
  if (client) return remoteLogs(client, pod, opts);
  const ns = opts.namespace ?? 'default';
  const paths = dataPaths(opts.dataDir);
  if (!existsSync(paths.store)) {
    throw new GantryError('NotFound', `no gantry state in ${opts.dataDir} (looked for ${paths.store}); run gantry up first, or pass --data-dir`);
  }
  const tailLines = parseTail(opts.tail);
  const store = openSqliteStore(paths.store, { readonly: true });
  let found: Pod | undefined;
  try {
    found = await store.get<Pod>({ kind: 'Pod', namespace: ns, name: pod });
  } finally {
    await store.close();
  }
  if (!found) return { output: `Error from server (NotFound): pods "${pod}" not found`, exitCode: 1 };
  let container: string;
  try {
    container = pickContainer(found, opts.container);
  } catch (err) {
    if (isGantryError(err)) return { output: `error: ${err.message}`, exitCode: 1 };
    throw err;
  }

  if (!existsSync(containerLogDir(nodeDataDir(opts.dataDir), found.metadata.uid!, container)) && existsSync(paths.kubeconfig)) {
    // Not on this machine: the pod's node has it, and the running gantry's API reaches that node.
    return remoteLogs(new ApiClient((await remoteEndpoint({ kubeconfig: paths.kubeconfig }))!), pod, opts);
  }

  const ac = new AbortController();
  const onSigint = (): void => ac.abort();
  const onAbort = (): void => ac.abort();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  if (opts.follow) process.once('SIGINT', onSigint);
  const lines: string[] = [];
  const out = opts.out ?? process.stdout;
  try {
    for await (const line of readLogs({ dataDir: nodeDataDir(opts.dataDir), podUid: found.metadata.uid!, container, previous: opts.previous, follow: opts.follow, tailLines, signal: ac.signal })) {
      if (opts.follow) out.write(`${line}\n`);
      else lines.push(line);
    }
  } catch (err) {
    if (isGantryError(err, 'NotFound')) {
      const msg = opts.previous
        ? `previous terminated container "${container}" in pod "${pod}" not found`
        : `container "${container}" in pod "${pod}" is waiting to start: no logs yet`;
      return { output: `Error from server (BadRequest): ${msg}`, exitCode: 1 };
    }
    throw err;
  } finally {
    process.off('SIGINT', onSigint);
    opts.signal?.removeEventListener('abort', onAbort);
  }
  return { output: lines.length > 0 ? `${lines.join('\n')}\n` : '', exitCode: 0 };
}

/** The same, through a server's Kubernetes log endpoint (`GET …/pods/NAME/log`). */
async function remoteLogs(client: ApiClient, pod: string, opts: LogsOptions): Promise<{ output: string; exitCode: number }> {
  const q = new URLSearchParams();
  if (opts.container) q.set('container', opts.container);
  if (opts.follow) q.set('follow', 'true');
  if (opts.previous) q.set('previous', 'true');
  const tail = parseTail(opts.tail);
  if (tail !== undefined) q.set('tailLines', String(tail));
  const path = `/api/v1/namespaces/${encodeURIComponent(opts.namespace ?? 'default')}/pods/${encodeURIComponent(pod)}/log${q.size ? `?${q}` : ''}`;
  const ac = new AbortController();
  const onSigint = (): void => ac.abort();
  const onAbort = (): void => ac.abort();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  if (opts.follow) process.once('SIGINT', onSigint);
  const out = opts.out ?? process.stdout;
  const lines: string[] = [];
  try {
    for await (const line of client.lines(path, { signal: ac.signal })) {
      if (opts.follow) out.write(`${line}\n`);
      else lines.push(line);
    }
  } catch (err) {
    if (isGantryError(err) && err.code !== 'ApiUnavailable') return { output: `Error from server: ${err.message}`, exitCode: 1 };
    throw err;
  } finally {
    process.off('SIGINT', onSigint);
    opts.signal?.removeEventListener('abort', onAbort);
  }
  return { output: lines.length > 0 ? `${lines.join('\n')}\n` : '', exitCode: 0 };
}
