/**
 * Streams of a pod's containers — their logs, and processes run in them — behind a narrow,
 * transport-neutral interface ({@link PodStreams}): async iterables of bytes, an abort signal,
 * plain promises. The API server serves `kubectl logs` and `kubectl exec` from it; the local
 * implementation ({@link LocalPodStreams}) answers for pods on this machine from the node's log
 * files and its containerd. The API serves them for `gantry up`'s own node, and each `gantry
 * agent` behind its kubelet endpoint (src/api/kubelet/server.ts).
 */
import { rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { GantryError } from '../errors.js';
import { ContainerLabels, parseContainerLabels, type LabelledContainer } from './agent/labels.js';
import { ContainerdClient } from './containerd/client.js';
import { startExec, type StreamingExec } from './containerd/run.js';
import { containerLogDir, listRuns, rotatedPath } from './logs/files.js';
import { readLogs } from './logs/read.js';
import { CONTAINERD_NAMESPACE } from './host.js';

/** Which container of which pod. */
export interface ContainerRef {
  namespace: string;
  /** Pod name (for messages). */
  pod: string;
  /** Pod uid: what the node's containers and log files are keyed by. */
  uid: string;
  container: string;
}

/** Options of {@link PodStreams.logs}. */
export interface PodLogOptions {
  target: ContainerRef;
  /** The previous (terminated) instance of the container. */
  previous?: boolean;
  /** Keep streaming until `signal` aborts or the container ends. */
  follow?: boolean;
  /** Only the last N lines already written. */
  tailLines?: number;
  /** Prefix each line with an RFC 3339 time (see {@link LocalPodStreams.logs} for what the time is). */
  timestamps?: boolean;
  /** Stop after this many bytes. */
  limitBytes?: number;
  signal?: AbortSignal;
}

/** Options of {@link PodStreams.exec}. */
export interface PodExecOptions {
  target: ContainerRef;
  /** argv of the process. */
  command: string[];
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  /** On a pseudo-terminal (its output is all on stdout). */
  tty: boolean;
  /** The terminal's size from the start (tty only), so nothing the process prints first is laid out for 0×0. */
  size?: { width: number; height: number };
  /** Aborting kills the process and cleans up (the client went away). */
  signal?: AbortSignal;
}

/** A process running in a container, as the caller streams it. */
export interface ExecSession {
  /**
   * Input, when asked for: `write` chunks, then `end` (the process reads end-of-file). `write`
   * resolves when the chunk may be followed by more (the process is reading): a caller that waits
   * for it holds no more of a fast sender's input than the pipe does.
   */
  stdin?: { write(chunk: Uint8Array): Promise<void>; end(): Promise<void> };
  stdout?: AsyncIterable<Uint8Array>;
  stderr?: AsyncIterable<Uint8Array>;
  /** Terminal size in characters (tty only; ignored otherwise). */
  resize(size: { width: number; height: number }): Promise<void>;
  /** The exit code, once the process has exited and its output has been read to the end. */
  exitCode: Promise<number>;
  /** Kills the process if it still runs and releases everything. Idempotent; call it in every outcome. */
  close(): Promise<void>;
}

/**
 * The streams of the pods one node runs. Errors are GantryErrors: `NotFound` when the container
 * has no instance (or no previous one) to read or run in, `InvalidArgument` when it is not
 * running for an exec.
 */
export interface PodStreams {
  /** The node whose pods these are. */
  readonly nodeName: string;
  /** A container's log as chunks of text (whole lines). Rejects before any output when there is nothing to read. */
  logs(opts: PodLogOptions): Promise<AsyncIterable<string>>;
  /** Starts a process in a running container. */
  exec(opts: PodExecOptions): Promise<ExecSession>;
}

/** Options of {@link LocalPodStreams}. */
export interface LocalPodStreamsOptions {
  nodeName: string;
  /** The node agent's containerd client (namespace included). */
  client: ContainerdClient;
  /** The node data dir: log files under `logs/`, exec FIFOs under `exec/`. */
  dataDir: string;
  /** How long a followed log waits, after its container exited, for the last lines; default 600 ms (three of the reader's polls). */
  followGraceMs?: number;
}

/** How long, after the process exited, its output may take to reach end-of-file (a child left behind may hold it open). */
const OUTPUT_DRAIN_MS = 2000;

/** RFC 3339 with nanoseconds, as Kubernetes prints log timestamps. */
export function logTimestamp(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z');
}

/**
 * Cuts a stream of text chunks after `limit` bytes (UTF-8), as the kubelet's `limitBytes` does
 * (a line may be cut in the middle).
 */
export async function* limitBytes(chunks: AsyncIterable<string>, limit: number | undefined): AsyncIterable<string> {
  if (limit === undefined) {
    yield* chunks;
    return;
  }
  let left = limit;
  for await (const c of chunks) {
    if (left <= 0) return;
    const b = Buffer.from(c, 'utf8');
    if (b.length <= left) {
      left -= b.length;
      yield c;
    } else {
      yield b.subarray(0, left).toString('utf8');
      return;
    }
  }
}

/** {@link PodStreams} for the pods on this machine. */
export class LocalPodStreams implements PodStreams {
  readonly nodeName: string;
  private readonly o: LocalPodStreamsOptions;

  constructor(opts: LocalPodStreamsOptions) {
    this.o = opts;
    this.nodeName = opts.nodeName;
  }

  /** The containerd containers (all instances) of one pod container, oldest first. */
  private async instances(t: ContainerRef): Promise<LabelledContainer[]> {
    const records = await this.o.client.listContainerRecords([`labels."${ContainerLabels.podUid}"==${t.uid}`]);
    return records
      .map((r) => parseContainerLabels(r.id, r.labels))
      .filter((c): c is LabelledContainer => !!c && c.container === t.container)
      .sort((a, b) => a.restartCount - b.restartCount);
  }

  /**
   * The log of the current or previous instance, from the node's log files. gantry's log files
   * hold the output as written, with no time per line, so `timestamps` gives the time gantry read
   * a line when it was followed, and for lines already written when the request came, the log
   * file's last modification (the latest they can have been written).
   */
  async logs(opts: PodLogOptions): Promise<AsyncIterable<string>> {
    const t = opts.target;
    const dir = containerLogDir(this.o.dataDir, t.uid, t.container);
    const runs = await listRuns(dir);
    const run = runs[runs.length - (opts.previous ? 2 : 1)];
    if (!run) {
      throw new GantryError('NotFound', opts.previous ? `previous terminated container "${t.container}" in pod "${t.pod}" not found` : `container "${t.container}" in pod "${t.pod}" has no log yet`);
    }
    const follow = !!opts.follow && !opts.previous;
    const ac = new AbortController();
    const onAbort = (): void => ac.abort();
    if (opts.signal?.aborted) ac.abort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    // What was written before the request: its size (to tell old lines from followed ones) and time.
    let writtenBytes = 0;
    let writtenAt = new Date();
    for (const f of [...run.rotated.map((n) => rotatedPath(run.live, n)), run.live]) {
      const st = await stat(f).catch(() => undefined);
      if (!st) continue;
      writtenBytes += st.size;
      if (f === run.live) writtenAt = st.mtime;
    }
    if (follow) void this.endWhenExited(t, run.restartCount, ac);
    const lines = readLogs({ dataDir: this.o.dataDir, podUid: t.uid, container: t.container, previous: opts.previous, follow, tailLines: opts.tailLines, signal: ac.signal });
    const stamped = async function* (): AsyncIterable<string> {
      let seenBytes = 0;
      let oldLines = opts.tailLines !== undefined && writtenBytes > 0 ? opts.tailLines : Infinity;
      try {
        for await (const line of lines) {
          let prefix = '';
          if (opts.timestamps) {
            // Without a tail, old lines are the first `writtenBytes`; with one, the first `tailLines`.
            const old = opts.tailLines === undefined ? seenBytes < writtenBytes : oldLines > 0;
            prefix = `${logTimestamp(old ? writtenAt : new Date())} `;
            seenBytes += Buffer.byteLength(line) + 1;
            oldLines--;
          }
          yield `${prefix}${line}\n`;
        }
      } finally {
        opts.signal?.removeEventListener('abort', onAbort);
        ac.abort();
      }
    };
    return limitBytes(stamped(), opts.limitBytes);
  }

  /** Ends a followed log a little after the instance being read has exited (or at once if it has). */
  private async endWhenExited(t: ContainerRef, restartCount: number, ac: AbortController): Promise<void> {
    try {
      const inst = (await this.instances(t)).find((c) => c.restartCount === restartCount);
      if (inst) {
        const task = await this.o.client.getTask(inst.id);
        if (task && task.status !== 'STOPPED') await this.o.client.waitTask(inst.id, { signal: ac.signal });
      }
      await sleep(this.o.followGraceMs ?? 600, undefined, { signal: ac.signal });
      ac.abort();
    } catch {
      // Aborted (the client left or the reader ended): nothing to end.
    }
  }

  async exec(opts: PodExecOptions): Promise<ExecSession> {
    const t = opts.target;
    if (opts.command.length === 0) throw new GantryError('InvalidArgument', 'you must specify at least one command for the container');
    const current = (await this.instances(t)).at(-1);
    const task = current ? await this.o.client.getTask(current.id) : undefined;
    if (!current || !task || task.status !== 'RUNNING') {
      throw new GantryError('InvalidArgument', `cannot exec in container "${t.container}" of pod "${t.pod}": it is not running${task ? ` (${task.status.toLowerCase()})` : ''}`);
    }
    const record = await this.o.client.getContainerRecord(current.id);
    if (!record) throw new GantryError('NotFound', `container "${t.container}" in pod "${t.pod}" is gone`);
    const process = execProcess(record.spec.value, opts.command, opts.tty);
    const exec = await startExec(this.o.client, current.id, {
      process,
      tty: opts.tty,
      stdin: opts.stdin,
      stdout: opts.stdout,
      stderr: opts.stderr,
      ...(opts.tty && opts.size ? { size: opts.size } : {}),
      fifoDir: path.join(this.o.dataDir, 'exec', `${current.id}.${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`),
    });
    return session(exec, opts.signal);
  }
}

/**
 * The process of an exec: the container's own (env, user, working dir, capabilities, limits),
 * as containerd's CRI takes it, with the command as argv. On a terminal, TERM defaults to xterm.
 */
export function execProcess(specJson: Uint8Array, command: string[], tty: boolean): Record<string, unknown> {
  let spec: { process?: Record<string, unknown> };
  try {
    spec = JSON.parse(Buffer.from(specJson).toString('utf8')) as typeof spec;
  } catch (err) {
    throw new GantryError('Internal', `the container's runtime spec is not JSON: ${(err as Error).message}`);
  }
  const base = { ...(spec.process ?? {}) };
  delete base.consoleSize;
  const env = Array.isArray(base.env) ? [...(base.env as string[])] : [];
  if (tty && !env.some((e) => e.startsWith('TERM='))) env.push('TERM=xterm');
  return { ...base, args: command, env, terminal: tty };
}

/** Turns a started exec into an {@link ExecSession}: end-of-output detection, abort, cleanup. */
function session(exec: StreamingExec, signal: AbortSignal | undefined): ExecSession {
  const ended = (s: NodeJS.ReadableStream | undefined): Promise<void> =>
    s ? new Promise<void>((resolve) => {
      const done = (): void => resolve();
      s.once('end', done);
      s.once('close', done);
      s.once('error', done);
    }) : Promise.resolve();
  // Listened for now: a stream may end before the caller asks for the exit code.
  const outputDone = Promise.all([ended(exec.stdout), ended(exec.stderr)]);
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      signal?.removeEventListener('abort', onAbort);
      await exec.kill().catch(() => undefined);
      await exec.dispose();
    })();
    return closed;
  };
  const onAbort = (): void => void close();
  if (signal?.aborted) void close();
  else signal?.addEventListener('abort', onAbort, { once: true });
  const exitCode = (async () => {
    const code = await exec.exited;
    await Promise.race([outputDone, sleep(OUTPUT_DRAIN_MS)]);
    return code;
  })();
  exitCode.catch(() => undefined);
  const stdin = exec.stdin;
  let draining: Promise<void> | undefined;
  return {
    ...(stdin
      ? {
          stdin: {
            write: (chunk: Uint8Array) => {
              const sock = stdin as NodeJS.WritableStream & { destroyed?: boolean };
              if (sock.destroyed) return Promise.resolve();
              if (sock.write(chunk) && !draining) return Promise.resolve();
              // One wait for the pipe to drain, shared by every write made while it is full.
              draining ??= new Promise<void>((resolve) => {
                const done = (): void => {
                  sock.off('drain', done);
                  sock.off('close', done);
                  draining = undefined;
                  resolve();
                };
                sock.on('drain', done);
                sock.on('close', done);
              });
              return draining;
            },
            end: () => exec.closeStdin(),
          },
        }
      : {}),
    ...(exec.stdout ? { stdout: exec.stdout as AsyncIterable<Uint8Array> } : {}),
    ...(exec.stderr ? { stderr: exec.stderr as AsyncIterable<Uint8Array> } : {}),
    resize: (size) => exec.resize(size),
    exitCode,
    close,
  };
}

/** {@link LocalPodStreams} with a containerd connection of its own, closed by `close`. */
export interface OpenedPodStreams extends PodStreams {
  close(): void;
}

/**
 * Connects to the node's containerd (in gantry's containerd namespace) and returns its pod
 * streams; for `gantry up`, beside the agent `startLocalNode` runs.
 */
export async function openLocalPodStreams(opts: { containerdAddress: string; nodeName: string; nodeDir: string }): Promise<OpenedPodStreams> {
  // No exec outlives the process that streamed it: FIFOs left by a gantry that died mid-exec go.
  await rm(path.join(opts.nodeDir, 'exec'), { recursive: true, force: true });
  const client = await ContainerdClient.connect({ address: opts.containerdAddress, namespace: CONTAINERD_NAMESPACE });
  const streams = new LocalPodStreams({ client, nodeName: opts.nodeName, dataDir: opts.nodeDir });
  return {
    nodeName: streams.nodeName,
    logs: (o) => streams.logs(o),
    exec: (o) => streams.exec(o),
    close: () => client.close(),
  };
}
